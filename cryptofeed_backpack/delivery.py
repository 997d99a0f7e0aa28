"""Stopping a feed without cutting a delivery short.

A record a feed hands to its callbacks goes through them in order; cancelling the task that delivers
it halfway leaves the later callbacks (a backend, often) without it, and cryptofeed's
``Feed.shutdown`` stops the backends as soon as it runs. So a feed's background tasks that deliver
(book snapshots, trade backfill, the ccxt watch loops) deliver inside ``DeliveryGuard.delivering``,
and a stop cancels them only between deliveries (``cancel_between_deliveries``). The deliveries of a
connection's messages are ended the same way by ``ReconnectingHandler.stop_delivering``.

A stop may also start inside a delivery (``await fh.stop_async()`` in a callback). It then must
neither wait for that delivery, which waits for it, nor cancel it, which would cancel the stop: a
context variable says which deliveries the current task is inside, and the stop's task, created from
the callback, inherits it. The feed's own background tasks are started with ``spawn``, which does not.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections import Counter
from contextvars import ContextVar
from typing import AsyncIterator, Coroutine, Iterable

LOG = logging.getLogger("feedhandler")

# The deliveries the current task is inside, as (owner, delivering task) pairs; the owner is a guard or
# a connection handler. A task created meanwhile inherits them, so a stop started from a callback
# (``await fh.stop_async()`` in it) sees that it must not wait for the delivery that waits for it, nor
# cancel that one.
_INSIDE: ContextVar[tuple] = ContextVar("cryptofeed_backpack_delivering", default=())


def enter(owner) -> None:
    """For the rest of the current task (and the tasks it creates), it delivers for ``owner``."""
    _INSIDE.set(_INSIDE.get() + ((owner, asyncio.current_task()),))


def inside(owner) -> bool:
    """Whether the current task runs inside a delivery of ``owner`` (or was created by one)."""
    return any(o is owner for o, _ in _INSIDE.get())


def warn_cut_short(owner: str, timeout: float) -> None:
    """The one line a stop logs when a callback outlasts ``connection.stop_drain_s``."""
    LOG.warning("%s: a callback was still running %gs into the stop: cut short", owner, timeout)


def spawn(coro: Coroutine) -> asyncio.Task:
    """``asyncio.create_task`` for a feed's own background task (a resync, a backfill...): it delivers
    for itself, so unlike a task a callback creates, it does not count as inside its creator's delivery."""
    context = contextvars.copy_context()
    context.run(_INSIDE.set, ())
    return asyncio.create_task(coro, context=context)


class DeliveryGuard:
    """Counts the deliveries in progress in a feed's background tasks. They run side by side, as they
    did before there was a guard (a slow callback in one ccxt watch loop does not hold up the others);
    a stop lets those in progress finish, turns away those that come after, and only then cancels."""

    def __init__(self):
        self._holders: Counter[asyncio.Task] = Counter()  # task -> deliveries it is inside
        self._changed = asyncio.Event()  # set whenever a delivery ends
        self.stopping = False  # a stop has begun: a task that comes to deliver ends there

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """``async with guard.delivering(): await feed.deliver(...)``"""
        if self.stopping:
            # what it would deliver now could only reach stopped backends: end the task here, as if it
            # had been cancelled between deliveries
            raise asyncio.CancelledError
        task = asyncio.current_task()
        self._holders[task] += 1
        token = _INSIDE.set(_INSIDE.get() + ((self, task),))
        try:
            yield
        finally:
            _INSIDE.reset(token)
            self._holders[task] -= 1
            if not self._holders[task]:
                del self._holders[task]
            self._changed.set()

    def stop(self) -> None:
        """From now on a task that comes to deliver ends there (a feed's ``stop()``)."""
        self.stopping = True

    def _started_by(self) -> set:
        """The tasks whose delivery the current task is inside (a stop started by their callbacks)."""
        return {task for owner, task in _INSIDE.get() if owner is self}

    async def cancel_between_deliveries(self, tasks: Iterable[asyncio.Task], timeout: float,
                                        owner: str = "feed") -> bool:
        """Cancel ``tasks`` once no delivery is in progress (waiting up to ``timeout`` s for those that are).
        Returns False if a delivery had to be cut short. Once this returns the tasks have ended, except
        one whose callback started this stop: that one waits for us, so it is neither waited for nor
        cancelled (it ends by itself, the feed being stopped)."""
        self.stop()
        waiting_for_us = self._started_by()
        tasks = [t for t in tasks if not t.done() and t is not asyncio.current_task() and t not in waiting_for_us]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        finished = True
        while set(self._holders) - waiting_for_us:
            self._changed.clear()
            left = deadline - loop.time()
            if left <= 0:
                finished = False
                warn_cut_short(owner, timeout)
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        for task in tasks:  # no await since the check: no delivery can have started
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return finished
