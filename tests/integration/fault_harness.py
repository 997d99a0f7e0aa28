"""Fault-injection harness: a real FeedHandler + BackpackFeed against the simulator, a seeded fault
schedule, every callback recorded, and the ground truth checks of issue 9.

    async with fault_run(["SOL_USDC", "BTC_USDC_PERP"], seed=1) as run:
        plan = plan_faults(seed=1, kinds=DELTA_FAULTS, count=40, duration_s=20, symbols=run.symbols)
        await run.play(plan, checkpoint_every_s=10)
    run.trade_audit()   # per market: every tape id exactly once and in order?
    run.checkpoints     # per checkpoint, per market: None when the books were equal, else why not

Used by the slow suite (tests/integration/test_fault_campaign.py) and by bench/fault_campaign.py.
A backfilled trade is told apart by the feed's own ``is_backfilled`` (feed/trades.py); the feed's
book is read through its public ``book_state`` accessor.
"""
from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import random
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional

from cryptofeed.defines import L2_BOOK, TRADES

from cryptofeed_backpack.feed.trades import is_backfilled
from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.simulator.fault_menu import FAULT_MENU, inject
from cryptofeed_backpack.symbols import load_symbols
from tests.integration.feed_harness import running_feed, wait_until

# Delta faults today's book resync already repairs (a gap or a stale delta, then a REST snapshot).
DELTA_FAULTS = ("depth_drop", "depth_duplicate", "depth_reorder_levels", "depth_swap", "rest_429_depth",
                "rest_5xx_depth")
ALL_FAULTS = tuple(FAULT_MENU)


def feed_book_state(feed, exchange_symbol: str):
    """(last applied update id, bids, asks) of the feed's book, or None while it is not synced."""
    book = feed.book_state(exchange_symbol)
    if book is None or not book.synced:
        return None
    return book.last_id, book.bids.to_dict(), book.asks.to_dict()


def feed_book_buffered(feed, exchange_symbol: str) -> int:
    """How many deltas the feed's unsynced book holds while waiting for a snapshot (diagnostics)."""
    book = feed._books.get(exchange_symbol)  # noqa: SLF001
    return 0 if book is None else book.buffered


@dataclass(slots=True)
class TradeSeen:
    id: int
    backfilled: bool
    ts: float  # the trade's own (engine) time
    received: float  # wall clock at the callback


@dataclass(slots=True)
class FaultEvent:
    kind: str
    symbol: str
    at: float  # wall clock
    touched: int


@dataclass
class TradeAudit:
    expected: int  # tape ids from the first one published to a subscriber up to the last one made
    delivered: int  # callbacks
    backfilled: int
    lost: int  # expected ids that never reached the callback
    duplicates: int  # callbacks beyond the first for one id
    out_of_order: int  # callbacks whose id is lower than the one before
    unexpected: int  # ids that are not on the tape (or before the first expected one)

    @property
    def exact(self) -> bool:
        return not (self.lost or self.duplicates or self.out_of_order or self.unexpected)


class Ledger:
    """Callbacks for TRADES and L2_BOOK that keep only what the checks need (books are not copied)."""

    def __init__(self, std_to_exchange: dict[str, str]):
        self.std_to_exchange = std_to_exchange
        self.trades: dict[str, list[TradeSeen]] = defaultdict(list)
        self.book_ts: dict[str, list[float]] = defaultdict(list)
        self.book_received: dict[str, list[float]] = defaultdict(list)
        self.snapshots: Counter = Counter()

    def callbacks(self, channels) -> dict:
        async def on_trade(trade, receipt):
            self.trades[self.std_to_exchange[trade.symbol]].append(
                TradeSeen(int(trade.id), is_backfilled(trade), float(trade.timestamp or 0), time.time()))

        async def on_book(book, receipt):
            sym = self.std_to_exchange[book.symbol]
            self.book_ts[sym].append(float(book.timestamp or receipt or 0))
            self.book_received[sym].append(time.time())
            if book.delta is None:
                self.snapshots[sym] += 1

        table = {TRADES: on_trade, L2_BOOK: on_book}
        return {c: table[c] for c in channels}


class EscapedErrors(logging.Handler):
    """ERROR records on cryptofeed's ``feedhandler`` logger: an exception that escaped the feed's
    message handler (cryptofeed logs it with its traceback and reconnects), or a connection handler
    giving up. Connection drops are WARNINGs there and are not counted."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else "no exception"
        self.records.append(f"{exc}: {record.getMessage()[:200]}")


@dataclass(frozen=True)
class PlannedFault:
    at_s: float  # seconds of injection time from the start
    kind: str
    symbol: str


def plan_faults(seed: int, kinds, count: int, duration_s: float, symbols) -> list[PlannedFault]:
    """``count`` faults drawn evenly from ``kinds``, at seeded random times over ``duration_s``."""
    rng = random.Random(seed)
    kinds, symbols = list(kinds), list(symbols)
    assigned = [kinds[i % len(kinds)] for i in range(count)]
    rng.shuffle(assigned)
    times = sorted(rng.uniform(0, duration_s) for _ in range(count))
    return [PlannedFault(t, kind, rng.choice(symbols)) for t, kind in zip(times, assigned)]


@dataclass
class FaultRun:
    sim: BackpackSimulator
    feed: object
    ledger: Ledger
    symbols: list[str]
    errors: EscapedErrors
    seed: int = 0
    events: list[FaultEvent] = field(default_factory=list)
    checkpoints: list[dict] = field(default_factory=list)

    async def play(self, plan: list[PlannedFault], checkpoint_every_s: Optional[float] = None,
                   settle_s: float = 6.0) -> None:
        """Inject ``plan`` in real time; every ``checkpoint_every_s`` of injection time, and once at the
        end, stop injecting and take a quiescent book checkpoint."""
        rng = random.Random(self.seed ^ 0xFA17)
        start = time.monotonic()
        paused_s = 0.0
        next_checkpoint = checkpoint_every_s
        for fault in plan:
            while next_checkpoint is not None and fault.at_s >= next_checkpoint:
                paused_s += await self._timed_checkpoint(settle_s)
                next_checkpoint += checkpoint_every_s
            delay = start + paused_s + fault.at_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            touched = inject(self.sim, fault.kind, fault.symbol, rng)
            self.events.append(FaultEvent(fault.kind, fault.symbol, time.time(), touched))
        # the engine stays paused: the tape and the callbacks are final for trade_audit()
        await self.checkpoint(settle_s, resume=False)

    async def _timed_checkpoint(self, settle_s: float) -> float:
        began = time.monotonic()
        await self.checkpoint(settle_s)
        return time.monotonic() - began

    async def checkpoint(self, settle_s: float = 6.0, timeout: float = 45.0, resume: bool = True) -> dict:
        """Disarm pending faults and let the feed recover for ``settle_s`` with the market moving; then,
        within ``timeout``: wait until its books are synced (the engine runs, so a feed that resyncs on
        the next delta gets one), pause the engine, flush the sockets and wait for the feed to reach the
        exchange's update ids. A book dropped while paused (a dead socket noticed late, then a
        reconnect) sends us back to the first step. Then compare. Waiting for the books also gives
        trades in flight time to arrive."""
        self.sim.faults.clear()
        await asyncio.sleep(settle_s)
        deadline = time.monotonic() + timeout
        try:
            while True:
                await wait_until(self._all_synced, timeout=max(0.0, deadline - time.monotonic()))
                self.sim.pause()
                await self.sim.drain()
                await wait_until(lambda: self._all_caught_up() or not self._all_synced(),
                                 timeout=max(0.0, deadline - time.monotonic()))
                if self._all_caught_up() or self._all_synced() or time.monotonic() >= deadline:
                    break
                self.sim.resume()
            result = {s: self._book_difference(s) for s in self.symbols}
            if not resume:  # the last checkpoint: give a backfill in progress time to deliver the tail
                await wait_until(lambda: all(self._trades_caught_up(s) for s in self.symbols), timeout=timeout)
        finally:
            if resume:
                self.sim.resume()
        self.checkpoints.append(result)
        return result

    def _all_synced(self) -> bool:
        return all(feed_book_state(self.feed, s) is not None for s in self.symbols)

    def _all_caught_up(self) -> bool:
        return all(self._book_caught_up(s) for s in self.symbols)

    def _trades_caught_up(self, sym: str) -> bool:
        tape, seen = self.sim.trade_ids(sym), self.ledger.trades[sym]
        return not tape or bool(seen) and max(t.id for t in seen[-50:]) >= tape[-1]

    def _book_caught_up(self, sym: str) -> bool:
        state = feed_book_state(self.feed, sym)
        return state is not None and state[0] == self.sim.markets[sym].update_id  # cheaper than sim.book()

    def _book_difference(self, sym: str) -> Optional[str]:
        state = feed_book_state(self.feed, sym)
        truth = self.sim.book(sym)
        if state is None:
            dead = sum(1 for c in self.sim.hub.connections if c.dead)
            return (f"not synced ({feed_book_buffered(self.feed, sym)} deltas buffered; simulator has "
                    f"{self.sim.connections} connections, {dead} half-open)")
        last_id, bids, asks = state
        if last_id != truth.last_update_id:
            return f"feed at update id {last_id}, exchange at {truth.last_update_id}"
        if (bids, asks) != (truth.bids, truth.asks):
            return "levels differ"
        return None

    def trade_audit(self) -> dict[str, TradeAudit]:
        return {s: audit_trades(self.sim.trade_ids(s), self.sim.published_trade_ids(s), self.ledger.trades[s])
                for s in self.symbols}

    def book_mismatches(self) -> int:
        return sum(1 for cp in self.checkpoints for diff in cp.values() if diff is not None)

    def recoveries(self) -> tuple[list[float], int]:
        return recovery_seconds(self.events, self.ledger)


def audit_trades(tape: list[int], published: list[int], seen: list[TradeSeen]) -> TradeAudit:
    """Ground truth: every tape id from the first one published to a subscriber to the last one made
    reached the callback exactly once, in increasing order."""
    got = [t.id for t in seen]
    expected = tape[tape.index(published[0]):] if published else []
    want = set(expected)
    counts = Counter(got)
    return TradeAudit(
        expected=len(expected), delivered=len(got), backfilled=sum(t.backfilled for t in seen),
        lost=len(want - counts.keys()), duplicates=sum(n - 1 for n in counts.values()),
        out_of_order=sum(1 for a, b in zip(got, got[1:]) if b < a),
        unexpected=sum(n for i, n in counts.items() if i not in want),
    )


def recovery_seconds(events: list[FaultEvent], ledger: Ledger) -> tuple[list[float], int]:
    """Per fault: time until its market delivered both a trade and a book update made after the fault
    (the latest of the two). Returns (recovery times, faults never recovered from)."""
    out, never = [], 0
    trade_times = {s: ([t.received for t in seen], [t.ts for t in seen]) for s, seen in ledger.trades.items()}
    for ev in events:
        waits = []
        if ledger.trades.get(ev.symbol):
            waits.append(_first_after(ev.at, *trade_times[ev.symbol]))
        if ledger.book_ts.get(ev.symbol):
            waits.append(_first_after(ev.at, ledger.book_received[ev.symbol], ledger.book_ts[ev.symbol]))
        if not waits or any(w is None for w in waits):
            never += 1
        else:
            out.append(max(waits))
    return out, never


def _first_after(t0: float, received: list[float], made: list[float]) -> Optional[float]:
    for i in range(bisect.bisect_left(received, t0), len(received)):
        if made[i] >= t0:
            return received[i] - t0
    return None


def percentile(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@contextlib.asynccontextmanager
async def fault_run(symbols: list[str], seed: int = 0, rate: float = 300.0, channels=(TRADES, L2_BOOK),
                    **feed_kwargs):
    """Simulator + FeedHandler with BackpackFeed on ``symbols`` (exchange names) in this event loop."""
    errors = EscapedErrors()
    log = logging.getLogger("feedhandler")
    log.addHandler(errors)
    try:
        async with BackpackSimulator(symbols=symbols, seed=seed, rate=rate) as sim:
            mapping = await load_symbols(sim.config(), refresh=True)  # std -> exchange
            std = {ex: st for st, ex in mapping.items() if ex in symbols}
            ledger = Ledger({st: ex for ex, st in std.items()})
            async with running_feed(sim, [std[s] for s in symbols], list(channels), recorder=ledger,
                                    preload=False, **feed_kwargs) as (feed, _):
                ready = await wait_until(lambda: all(feed_book_state(feed, s) for s in symbols) and
                                         all(ledger.trades[s] for s in symbols), timeout=30)
                if not ready:
                    raise RuntimeError(f"the feed did not sync books and deliver trades on {symbols} within 30 s")
                yield FaultRun(sim, feed, ledger, list(symbols), errors, seed)
    finally:
        log.removeHandler(errors)
