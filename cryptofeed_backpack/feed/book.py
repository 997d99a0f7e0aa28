"""The L2_BOOK channel: ``book_sync`` driven by depth frames and REST snapshots.

The state machine (book_sync) is pure; this channel does the I/O around it: it fetches
snapshots, serialises book updates with one lock (a snapshot must reach callbacks before later
deltas), and applies ``max_depth`` to what callbacks see while keeping the whole book internally.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Awaitable, Optional

from cryptofeed.defines import ASK, BID
from cryptofeed.types import OrderBook

from .. import capture, delivery
from ..book_sync import APPLIED, BookSync, Outcome
from ..errors import BackpackError
from ..transport.policy import Backoff
from ..wire.common import US_PER_S, us_to_s
from ..wire.market import DepthMsg

LOG = logging.getLogger("feedhandler")


@dataclass(frozen=True)
class BookStatus:
    """What health and users may read about one book."""

    symbol: str
    synced: bool
    last_update_id: Optional[int]
    buffered: int
    gaps: int
    last_snapshot_at: Optional[float]


class BookChannel:
    def __init__(self, feed):
        self.feed = feed
        self.books: dict[str, BookSync] = {}  # exchange symbol -> its state machine
        self.last_snapshot_at: dict[str, float] = {}
        self._snapshot_tasks: dict[str, asyncio.Task] = {}
        # config.snapshot_concurrency requests in flight: the others wait their turn and reuse the kept-alive
        # connections, instead of one TLS handshake per market at start (docs/performance.md). The pace
        # is the REST client's budget (transport/policy.py), which every request passes.
        self._snapshot_slots = asyncio.Semaphore(feed.backpack_config.snapshot_concurrency)
        self._lock = asyncio.Lock()
        # True while _resync holds the lock across a snapshot's callbacks: what every delta checks,
        # cheaper than asking the lock (a Python call). Frames are handled one at a time, so the lock
        # is only ever wanted by a snapshot and at most one delta waiting behind it.
        self._emitting_snapshot = False
        self._emitted_top: dict[str, tuple[dict, dict]] = {}  # what callbacks last saw under max_depth

    # ---- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """On every (re)connect: whatever was buffered or fetched belongs to the old socket."""
        for task in self._snapshot_tasks.values():
            task.cancel()
        self._snapshot_tasks.clear()
        for book in self.books.values():
            book.reset()
        self._emitted_top.clear()

    async def start_snapshots(self, symbols: dict[str, str]) -> None:
        """Right after subscribing (exchange symbol -> symbol): fetch every book's snapshot now, while
        its deltas buffer, as docs/protocol.md §4 lays out, instead of waiting for each market's first
        delta. A quiet market is then synced without waiting for it to trade; a snapshot taken before
        the subscription took effect is found out by the first delta (book_sync: SNAPSHOT_TOO_OLD, not a
        gap) and is fetched again."""
        for exchange_symbol, symbol in symbols.items():
            if exchange_symbol in self._snapshot_tasks:
                continue
            self.book_for(exchange_symbol, symbol)
            if capture.replaying():  # playback yields to no task: take the recorded snapshot here, as live did
                with contextlib.suppress(capture.CaptureExhausted):
                    await self._resync(exchange_symbol, symbol)
                continue
            self._snapshot_tasks[exchange_symbol] = delivery.spawn(self._resync(exchange_symbol, symbol))

    def status(self) -> dict[str, BookStatus]:
        return {sym: BookStatus(b.symbol, b.synced, b.last_id, b.buffered, b.gaps, self.last_snapshot_at.get(sym))
                for sym, b in self.books.items()}

    # ---- frames ------------------------------------------------------------------------------

    def book_for(self, exchange_symbol: str, symbol: str) -> BookSync:
        book = self.books.get(exchange_symbol)
        if book is None:
            feed_id = self.feed.id

            def factory(symbol=symbol):
                ob = OrderBook(feed_id, symbol)
                return ob, ob.book.bids, ob.book.asks
            book = self.books[exchange_symbol] = BookSync(symbol, factory, best=_best)
        return book

    def on_depth(self, msg: DepthMsg, symbol: str, timestamp: float) -> Optional[Awaitable]:
        """Apply the delta now; return the delivery to await, or None when it delivers nothing."""
        if self._emitting_snapshot:
            # a snapshot is being emitted (_resync holds the lock across its callbacks): later deltas
            # must reach callbacks after it. Otherwise frames arrive one at a time and a book is only
            # re-seeded while it is unsynced, so an applied delta needs no lock (docs/performance.md).
            return self._on_depth_after_snapshot(msg, symbol, timestamp)
        book = self.books.get(msg.symbol) or self.book_for(msg.symbol, symbol)
        outcome = book.on_delta(msg)
        if outcome is APPLIED:
            if self.feed.max_depth:
                return self._emit_top_delta(book, msg, timestamp)
            return self.feed.deliver_book(book.container, timestamp, (msg.engine_time_us or msg.event_time_us) / US_PER_S,
                                          msg.last_id, {BID: msg.bids, ASK: msg.asks})
        return self._not_applied(msg, symbol, outcome)

    async def _on_depth_after_snapshot(self, msg: DepthMsg, symbol: str, timestamp: float) -> None:
        async with self._lock:
            delivery = self.on_depth(msg, symbol, timestamp)
            if delivery is not None:
                await delivery

    async def _not_applied(self, msg: DepthMsg, symbol: str, outcome: Outcome) -> None:
        metrics = self.feed.metrics
        if outcome is Outcome.REJECTED:
            metrics.book_event(msg.symbol, "rejected_deltas")
            LOG.warning("%s: %s depth delta U=%d u=%d jumps implausibly far: dropped, resyncing from REST",
                        self.feed.id, symbol, msg.first_id, msg.last_id)
        if outcome in (Outcome.GAP, Outcome.REJECTED):
            metrics.book_event(msg.symbol, "gaps")
            LOG.warning("%s: %s depth gap or crossed book (at U=%d): book dropped, resyncing from REST",
                        self.feed.id, symbol, msg.first_id)
            self._emitted_top.pop(symbol, None)
        if outcome is Outcome.SNAPSHOT_TOO_OLD:  # the first delta showed the snapshot predates the subscription
            metrics.book_event(msg.symbol, "snapshot_retries")
            self._emitted_top.pop(symbol, None)
        if outcome in (Outcome.BUFFERED, Outcome.GAP, Outcome.REJECTED, Outcome.SNAPSHOT_TOO_OLD) \
                and msg.symbol not in self._snapshot_tasks:
            if capture.replaying():  # playback feeds frames without yielding: take the recorded snapshot in line
                with contextlib.suppress(capture.CaptureExhausted):
                    await self._resync(msg.symbol, symbol)
                return
            self._snapshot_tasks[msg.symbol] = delivery.spawn(self._resync(msg.symbol, symbol))
        elif outcome is Outcome.STALE:
            metrics.book_event(msg.symbol, "stale_deltas")

    async def _resync(self, exchange_symbol: str, symbol: str) -> None:
        """Fetch REST snapshots until one bridges the buffered deltas, then emit the whole book.
        Waits between attempts follow the shared REST policy (transport/policy.py)."""
        feed, book = self.feed, self.books[exchange_symbol]
        backoff = Backoff(feed.backpack_config.rest)
        try:
            while True:
                try:
                    async with self._snapshot_slots:
                        snapshot = await feed.backpack_rest().depth(exchange_symbol, feed.backpack_config.snapshot_limit)
                except BackpackError as exc:
                    feed.metrics.book_event(exchange_symbol, "snapshot_errors")
                    LOG.warning("%s: %s snapshot failed: %s", feed.id, symbol, exc)
                    await asyncio.sleep(backoff.next_delay(exc))
                    continue
                feed.metrics.book_event(exchange_symbol, "snapshots")
                async with self._lock:
                    if book.on_snapshot(snapshot) is Outcome.SYNCED:
                        now = time.time()
                        self.last_snapshot_at[exchange_symbol] = now
                        feed.metrics.book_synced(exchange_symbol)
                        self._emitting_snapshot = True
                        try:
                            async with feed.delivery_guard.delivering():  # a stop lets it finish (delivery.py)
                                await self._emit_snapshot(book, snapshot, now)
                        finally:
                            self._emitting_snapshot = False
                        return
                feed.metrics.book_event(exchange_symbol, "snapshot_retries")
                await asyncio.sleep(backoff.next_delay())
        finally:
            if self._snapshot_tasks.get(exchange_symbol) is asyncio.current_task():
                del self._snapshot_tasks[exchange_symbol]

    # ---- emitting ---------------------------------------------------------------------------

    def _top(self, book: BookSync) -> tuple[dict, dict]:
        depth = self.feed.max_depth
        bids, asks = book.bids, book.asks
        return ({bids.index(i)[0]: bids.index(i)[1] for i in range(min(depth, len(bids)))},
                {asks.index(i)[0]: asks.index(i)[1] for i in range(min(depth, len(asks)))})

    def _truncated(self, book: BookSync, top: tuple[dict, dict]) -> OrderBook:
        return OrderBook(self.feed.id, book.symbol, bids=top[0], asks=top[1], max_depth=self.feed.max_depth)

    async def _emit_snapshot(self, book: BookSync, snapshot, timestamp: float) -> None:
        ts = None if snapshot.timestamp is None else us_to_s(snapshot.timestamp)
        container = book.container
        if self.feed.max_depth:
            top = self._top(book)
            self._emitted_top[book.symbol] = top
            container = self._truncated(book, top)
        await self.feed.deliver_book(container, timestamp, ts, book.last_id, None)

    async def _emit_top_delta(self, book: BookSync, msg: DepthMsg, timestamp: float) -> None:
        """Under ``max_depth``: what changed in the top levels callbacks last saw, if anything did."""
        top = self._top(book)
        before = self._emitted_top.get(book.symbol, ({}, {}))
        delta = {BID: _diff(before[0], top[0]), ASK: _diff(before[1], top[1])}
        if not delta[BID] and not delta[ASK]:
            return
        self._emitted_top[book.symbol] = top
        await self.feed.deliver_book(self._truncated(book, top), timestamp, (msg.engine_time_us or msg.event_time_us) / US_PER_S,
                                     msg.last_id, delta)

    async def shutdown(self) -> None:
        """Cancel the snapshot tasks, but not while one is emitting its book."""
        drain_s = self.feed.backpack_config.connection.stop_drain_s
        await self.feed.delivery_guard.cancel_between_deliveries(self._snapshot_tasks.values(), drain_s, owner=self.feed.id)


def _best(side, is_bid: bool):
    # order-book's sorted sides: index(0) is the best level (each side sorts its own way). It re-sorts
    # after a key was added or removed, which is why BookSync asks only when it lost track of the best.
    return side.index(0)[0] if side else None


def _diff(before: dict, after: dict) -> list:
    changes = [(p, q) for p, q in after.items() if before.get(p) != q]
    changes.extend((p, Decimal(0)) for p in before if p not in after)
    return changes
