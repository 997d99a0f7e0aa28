"""DeliveryGuard: a stop cancels a feed's background tasks between deliveries, never inside one."""
from __future__ import annotations

import asyncio

from cryptofeed_backpack.delivery import DeliveryGuard, inside, spawn


def worker(guard: DeliveryGuard, log: list, callback_s: float, wait_s: float):
    """A background task as the feed has them: wait on the exchange (``wait_s``), then deliver a
    record through two callbacks, the first of which takes ``callback_s``."""
    async def run():
        n = 0
        while True:
            await asyncio.sleep(wait_s)
            async with guard.delivering():
                log.append(("first", n))
                await asyncio.sleep(callback_s)
                log.append(("second", n))
            n += 1
    return run()


async def test_a_delivery_in_progress_reaches_every_callback_before_the_cancel():
    guard, log = DeliveryGuard(), []
    task = asyncio.create_task(worker(guard, log, callback_s=0.05, wait_s=0))
    await asyncio.sleep(0.01)  # inside the first delivery's slow callback
    assert log == [("first", 0)]
    assert await guard.cancel_between_deliveries([task], timeout=2) is True
    assert task.cancelled()
    assert log == [("first", 0), ("second", 0)]


async def test_a_task_waiting_on_the_exchange_is_cancelled_at_once():
    guard, log = DeliveryGuard(), []
    task = asyncio.create_task(worker(guard, log, callback_s=0, wait_s=3600))
    await asyncio.sleep(0.01)
    # no delivery holds the guard, so the stop neither waits for the task's hour nor for its own bound
    assert await asyncio.wait_for(guard.cancel_between_deliveries([task], timeout=3600), 10) is True
    assert task.cancelled() and log == []


async def test_a_callback_that_outlasts_the_bound_is_cut_short_and_reported(caplog):
    guard, log = DeliveryGuard(), []
    task = asyncio.create_task(worker(guard, log, callback_s=60, wait_s=0))
    await asyncio.sleep(0.01)
    assert await guard.cancel_between_deliveries([task], timeout=0.1, owner="BACKPACK") is False
    assert task.cancelled()
    assert log == [("first", 0)]
    assert "BACKPACK: a callback was still running" in caplog.text


async def test_tasks_deliver_side_by_side_and_a_stop_lets_each_finish():
    guard, log = DeliveryGuard(), []
    tasks = [asyncio.create_task(worker(guard, log, callback_s=0.05, wait_s=0)) for _ in range(3)]
    await asyncio.sleep(0.01)
    # a slow callback in one task does not hold up the others: all three are inside a delivery at once
    assert sorted(log) == [("first", 0)] * 3
    assert await guard.cancel_between_deliveries(tasks, timeout=2) is True
    assert all(t.cancelled() for t in tasks)
    assert log.count(("second", 0)) == 3 and ("first", 1) not in log


async def test_once_a_stop_began_a_task_that_comes_to_deliver_ends_there():
    guard, log = DeliveryGuard(), []
    await guard.cancel_between_deliveries([], timeout=1)
    task = asyncio.create_task(worker(guard, log, callback_s=0, wait_s=0))
    await asyncio.wait({task}, timeout=10)
    assert task.cancelled() and log == []


async def test_a_stop_started_inside_a_delivery_neither_waits_for_nor_cancels_it():
    guard, log = DeliveryGuard(), []
    other = asyncio.create_task(worker(guard, log, callback_s=0, wait_s=3600))
    results = []

    async def stopping_callback():
        async with guard.delivering():
            log.append("first")
            # as ``await fh.stop_async()`` does: the stop runs in a task of its own, created from here
            results.append(await asyncio.create_task(guard.cancel_between_deliveries([other, me], timeout=3600)))
            log.append("second")

    me = asyncio.create_task(stopping_callback())
    await asyncio.wait_for(me, 10)
    assert results == [True] and log == ["first", "second"]
    assert other.cancelled() and not me.cancelled()


async def test_a_task_a_callback_creates_is_inside_the_delivery_but_one_the_feed_spawns_is_not():
    guard = DeliveryGuard()

    async def where() -> bool:
        return inside(guard)

    async with guard.delivering():
        assert inside(guard)
        by_a_callback = await asyncio.create_task(where())  # e.g. the shutdown task of fh.stop_async()
        by_the_feed = await spawn(where())  # e.g. a resync started while a delta was being handled
    assert by_a_callback is True and by_the_feed is False and not inside(guard)
