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
from contextvars import ContextVar
from typing import AsyncIterator, Coroutine, Iterable, Optional

LOG = logging.getLogger("feedhandler")

#: how long a stop waits for a delivery in progress (a callback that blocks longer is cut short)
STOP_DRAIN_S = 5.0

# What the current task is delivering for (guards, connection handlers). A task created meanwhile
# inherits it, so a stop started from a callback (``await fh.stop_async()`` in it) sees that it must
# not wait for the delivery that is waiting for it, nor cancel that one.
_INSIDE: ContextVar[tuple] = ContextVar("cryptofeed_backpack_delivering", default=())


def enter(owner) -> None:
    """For the rest of the current task (and the tasks it creates), it delivers for ``owner``."""
    _INSIDE.set(_INSIDE.get() + (owner,))


def inside(owner) -> bool:
    """Whether the current task runs inside a delivery of ``owner`` (or was created by one)."""
    return owner in _INSIDE.get()


def spawn(coro: Coroutine) -> asyncio.Task:
    """``asyncio.create_task`` for a feed's own background task (a resync, a backfill...): it delivers
    for itself, so unlike a task a callback creates, it does not count as inside its creator's delivery."""
    context = contextvars.copy_context()
    context.run(_INSIDE.set, ())
    return asyncio.create_task(coro, context=context)


class DeliveryGuard:
    """One lock per feed: a task holds it while its record goes through the callbacks. Deliveries from
    background tasks are rare next to a connection's (resyncs, backfills), so that they take turns
    costs nothing that matters; the connection's own messages do not take it."""

    def __init__(self):
        self._lock = asyncio.Lock()
        self._holder: Optional[asyncio.Task] = None
        self.stopping = False  # a stop has begun: a task that comes to deliver ends there

    @contextlib.asynccontextmanager
    async def delivering(self) -> AsyncIterator[None]:
        """``async with guard.delivering(): await feed.deliver(...)``"""
        async with self._lock:
            if self.stopping:
                # what it would deliver now could only reach stopped backends: end the task here, as if it
                # had been cancelled between deliveries
                raise asyncio.CancelledError
            self._holder = asyncio.current_task()
            token = _INSIDE.set(_INSIDE.get() + (self,))
            try:
                yield
            finally:
                _INSIDE.reset(token)
                self._holder = None

    async def cancel_between_deliveries(self, tasks: Iterable[asyncio.Task], timeout: float = STOP_DRAIN_S,
                                        owner: str = "feed") -> bool:
        """Cancel ``tasks`` once no delivery is in progress (waiting up to ``timeout`` s for one that is).
        Returns False if a delivery had to be cut short. Once this returns the tasks have ended."""
        self.stopping = True
        tasks = [t for t in tasks if not t.done() and t is not asyncio.current_task()]
        if inside(self):
            # a callback of the delivery in progress started this stop: that delivery waits for us, so it
            # is neither waited for nor cancelled (it ends by itself: the feed is stopping)
            tasks = [t for t in tasks if t is not self._holder]
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=timeout)
            return True
        try:
            await asyncio.wait_for(self._lock.acquire(), timeout)
            acquired = True
        except asyncio.TimeoutError:
            acquired = False
            LOG.warning("%s: a callback was still running %.0fs into the stop: cut short", owner, timeout)
        try:
            for task in tasks:  # no await between the acquire and here: no delivery can start
                task.cancel()
        finally:
            if acquired:
                self._lock.release()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return acquired
