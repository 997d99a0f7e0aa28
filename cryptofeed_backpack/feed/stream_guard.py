"""Resubscribes a stream the server stopped sending while its siblings on the same socket flow.

Backpack acknowledges nothing and reports no stopped stream (docs/protocol.md §3.1), so silence is
the only signal. A stream counts as stopped when it has been silent for ``stream_silence_s`` while
another subscribed stream delivered within the last check interval, which tells a stopped stream
from a dead socket (the ping timeout handles that) or a quiet market. Quiet stream kinds
(constants.STREAMS ``quiet``) are never resubscribed. Each resubscribe of the same stream waits
twice as long as the one before (up to ``MAX_BACKOFF_S``), so an illiquid market costs a few
harmless, counted resubscribes rather than a loop.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Optional

from .. import delivery
from ..wire.session import subscribe_frame

LOG = logging.getLogger("feedhandler")
MAX_BACKOFF_S = 600.0


class StreamGuard:
    def __init__(self, feed):
        self.feed = feed
        self.silence_s = feed.backpack_config.stream_silence_s
        self.interval_s = max(0.5, self.silence_s / 4)
        self._subscribed_at = 0.0
        self._next_allowed: dict[str, float] = {}
        self._backoff: dict[str, float] = {}
        self._task: Optional[asyncio.Task] = None
        self._watched: Optional[tuple[str, ...]] = None

    def watched_streams(self) -> tuple[str, ...]:
        """The subscribed streams a silence counts on (not the quiet ones). Built once per
        subscription: it is hundreds of names, and each check only reads it."""
        if self._watched is None:
            quiet = self.feed.quiet_streams()
            self._watched = tuple(s for s in self.feed.public_streams() if s not in quiet)
        return self._watched

    def on_subscribed(self) -> None:
        """A (re)connect subscribed everything afresh."""
        self._subscribed_at = time.time()
        self._watched = None
        if self._task is None or self._task.done():
            self._task = delivery.spawn(self._run())

    def stopped_streams(self, now: float) -> list[str]:
        """Subscribed, non-quiet streams silent past the threshold while a sibling delivered recently."""
        last = self.feed.metrics.last_frame_by_stream
        streams = self.watched_streams()
        if not streams or not any(now - last.get(s, 0.0) < self.interval_s for s in streams):
            return []
        return [s for s in streams if now - max(last.get(s, 0.0), self._subscribed_at) > self.silence_s]

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            now = time.time()
            for stream in self.stopped_streams(now):
                if now < self._next_allowed.get(stream, 0.0):
                    continue
                backoff = self._backoff.get(stream, self.silence_s)
                self._backoff[stream] = min(MAX_BACKOFF_S, backoff * 2)
                self._next_allowed[stream] = now + backoff
                await self._resubscribe(stream)
            last = self.feed.metrics.last_frame_by_stream
            for stream in list(self._backoff):  # a stream that delivers again starts over
                if now - last.get(stream, 0.0) < self.interval_s:
                    self._backoff.pop(stream, None)
                    self._next_allowed.pop(stream, None)

    async def _resubscribe(self, stream: str) -> None:
        self.feed.metrics.inc("stream_resubscribes")
        LOG.warning("%s: %s silent for more than %.0fs while other streams flow: resubscribing",
                    self.feed.id, stream, self.silence_s)
        for conn in self.feed.open_websockets():
            await conn.write(subscribe_frame([stream], "UNSUBSCRIBE"))
            await conn.write(subscribe_frame([stream]))

    async def shutdown(self) -> None:
        if self._task is not None:
            self._task.cancel()
