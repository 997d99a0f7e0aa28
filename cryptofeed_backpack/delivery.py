"""Stopping a feed without cutting a delivery short.

A record a feed hands to its callbacks goes through them in order; cancelling the task that delivers
it halfway leaves the later callbacks (a backend, often) without it, and cryptofeed's
``Feed.shutdown`` stops the backends as soon as it runs. So a feed's background tasks that deliver
(book snapshots, trade backfill, the ccxt watch loops) deliver inside ``DeliveryGuard.delivering``,
and a stop cancels them only between deliveries (``cancel_between_deliveries``). The deliveries of a
connection's messages are ended the same way by ``ReconnectingHandler.stop_delivering``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Iterable

LOG = logging.getLogger("feedhandler")

#: how long a stop waits for a delivery in progress (a callback that blocks longer is cut short)
STOP_DRAIN_S = 5.0


class DeliveryGuard:
    """One lock per feed: a task holds it while its record goes through the callbacks. Deliveries from
    background tasks are rare next to a connection's (resyncs, backfills), so that they take turns
    costs nothing that matters; the connection's own messages do not take it."""

    def __init__(self):
        self._lock = asyncio.Lock()

    def delivering(self) -> asyncio.Lock:
        """``async with guard.delivering(): await feed.deliver(...)``"""
        return self._lock

    async def cancel_between_deliveries(self, tasks: Iterable[asyncio.Task], timeout: float = STOP_DRAIN_S,
                                        owner: str = "feed") -> bool:
        """Cancel ``tasks`` once no delivery is in progress (waiting up to ``timeout`` s for one that is).
        Returns False if a delivery had to be cut short. Once this returns the tasks have ended."""
        tasks = [t for t in tasks if not t.done() and t is not asyncio.current_task()]
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
