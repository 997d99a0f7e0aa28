"""The L2_BOOK channel of BackpackFeed: book_sync driven by depth frames and REST snapshots.

The state machine (book_sync) is pure; this mixin does the I/O around it: it fetches snapshots,
serialises book updates with one lock (a snapshot must reach callbacks before later deltas),
and applies ``max_depth`` to what callbacks see while keeping the whole book internally.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from decimal import Decimal

import msgspec
from cryptofeed.defines import ASK, BID, L2_BOOK
from cryptofeed.types import OrderBook

from . import capture, parse
from .book_sync import BookSync, Outcome
from .errors import BackpackError
from .schemas import DEPTH_SNAPSHOT, DepthMsg

LOG = logging.getLogger("feedhandler")
SNAPSHOT_RETRY_S = (0.05, 0.2, 0.5, 1.0, 2.0, 5.0)


class L2BookMixin:
    def _book_for(self, exchange_symbol: str, symbol: str) -> BookSync:
        book = self._books.get(exchange_symbol)
        if book is None:
            def factory(symbol=symbol):
                ob = OrderBook(self.id, symbol)
                return ob, ob.book.bids, ob.book.asks
            book = self._books[exchange_symbol] = BookSync(symbol, factory)
        return book

    async def _on_depth(self, msg: DepthMsg, symbol: str, timestamp: float) -> None:
        book = self._book_for(msg.symbol, symbol)
        async with self._book_lock:
            outcome = book.on_delta(msg)
            if outcome is Outcome.APPLIED:
                await self._emit_delta(book, msg, timestamp)
                return
        if outcome is Outcome.GAP:
            self.metrics.inc("book_gaps")
            LOG.warning("%s: %s depth gap (next U=%d after u=%s): book dropped, resyncing from REST",
                        self.id, symbol, msg.first_id, "?" if book.last_id is None else book.last_id)
            self._emitted_top.pop(symbol, None)
        if outcome in (Outcome.BUFFERED, Outcome.GAP) and msg.symbol not in self._snapshot_tasks:
            if capture.replaying():  # playback feeds frames without yielding: take the recorded snapshot in line
                with contextlib.suppress(capture.CaptureExhausted):
                    await self._resync(msg.symbol, symbol)
                return
            self._snapshot_tasks[msg.symbol] = asyncio.create_task(self._resync(msg.symbol, symbol))
        elif outcome is Outcome.STALE:
            self.metrics.inc("book_stale_deltas")

    async def _resync(self, exchange_symbol: str, symbol: str) -> None:
        """Fetch REST snapshots until one bridges the buffered deltas, then emit the whole book."""
        book = self._books[exchange_symbol]
        try:
            for attempt in range(1000):
                try:
                    body = await self._rest().request(
                        "GET", "/api/v1/depth", params={"symbol": exchange_symbol, "limit": self.backpack_config.snapshot_limit})
                    snapshot = DEPTH_SNAPSHOT.decode(body)
                except (BackpackError, msgspec.DecodeError, msgspec.ValidationError) as exc:
                    self.metrics.inc("book_snapshot_errors")
                    LOG.warning("%s: %s snapshot failed: %s", self.id, symbol, exc)
                    await asyncio.sleep(SNAPSHOT_RETRY_S[min(attempt, len(SNAPSHOT_RETRY_S) - 1)])
                    continue
                self.metrics.inc("book_snapshots")
                async with self._book_lock:
                    outcome = book.on_snapshot(snapshot)
                    if outcome is Outcome.SYNCED:
                        self.metrics.set("book_last_snapshot_at", time.time())
                        await self._emit_snapshot(book, snapshot, time.time())
                        return
                self.metrics.inc("book_snapshot_retries")
                await asyncio.sleep(SNAPSHOT_RETRY_S[min(attempt, len(SNAPSHOT_RETRY_S) - 1)])
        finally:
            if self._snapshot_tasks.get(exchange_symbol) is asyncio.current_task():
                del self._snapshot_tasks[exchange_symbol]

    def _top(self, book: BookSync) -> tuple[dict, dict]:
        depth = self.max_depth
        bids, asks = book.bids, book.asks
        return ({bids.index(i)[0]: bids.index(i)[1] for i in range(min(depth, len(bids)))},
                {asks.index(i)[0]: asks.index(i)[1] for i in range(min(depth, len(asks)))})

    def _truncated(self, book: BookSync, top: tuple[dict, dict]) -> OrderBook:
        return OrderBook(self.id, book.symbol, bids=top[0], asks=top[1], max_depth=self.max_depth)

    async def _emit_snapshot(self, book: BookSync, snapshot, timestamp: float) -> None:
        ts = None if snapshot.timestamp is None else parse.us_to_s(snapshot.timestamp)
        container = book.container
        if self.max_depth:
            top = self._top(book)
            self._emitted_top[book.symbol] = top
            container = self._truncated(book, top)
        await self.book_callback(L2_BOOK, container, timestamp, timestamp=ts, raw=None,
                                 sequence_number=book.last_id, delta=None)

    async def _emit_delta(self, book: BookSync, msg: DepthMsg, timestamp: float) -> None:
        if self.max_depth:
            top = self._top(book)
            before = self._emitted_top.get(book.symbol, ({}, {}))
            delta = {BID: _diff(before[0], top[0]), ASK: _diff(before[1], top[1])}
            if not delta[BID] and not delta[ASK]:
                return
            self._emitted_top[book.symbol] = top
            container = self._truncated(book, top)
        else:
            delta = {BID: msg.bids, ASK: msg.asks}
            container = book.container
        await self.book_callback(L2_BOOK, container, timestamp, timestamp=parse.us_to_s(msg.engine_time_us or msg.event_time_us),
                                 raw=None, sequence_number=msg.last_id, delta=delta)


def _diff(before: dict, after: dict) -> list:
    changes = [(p, q) for p, q in after.items() if before.get(p) != q]
    changes.extend((p, Decimal(0)) for p in before if p not in after)
    return changes


