"""Transport-free L2 book synchronisation (docs/protocol.md §4).

Deltas are buffered until a REST snapshot with ``lastUpdateId = L`` bridges them (the first kept
delta has ``U <= L+1 <= u``); afterwards a delta is applied only when it continues the sequence.
Any break invalidates the book, which the caller re-seeds from REST. Levels are absolute:
``qty == 0`` removes a price. Prices are Decimal keys, so REST "86700" and WS "86700.0" match.

The state machine never does I/O: it returns what happened and the caller acts on it.
"""
from __future__ import annotations

from collections import deque
from enum import Enum
from typing import Callable, MutableMapping, Optional, Sequence

from .wire.common import Level
from .wire.market import DepthMsg
from .wire.market_rest import DepthSnapshot

BID = "bid"
ASK = "ask"

Sides = tuple[object, MutableMapping, MutableMapping]


#: a delta may advance the book by at most this many ids; more is not an update but a corrupt frame
MAX_ID_JUMP = 10_000_000
#: this many stale deltas in a row, once a delta has continued the snapshot, mean the book's id ran
#: ahead of the stream: resync (before that, up to ``max_buffer`` are read through)
MAX_STALE_RUN = 50


class Outcome(Enum):
    BUFFERED = "buffered"  # waiting for a snapshot; the caller should make sure one is on its way
    APPLIED = "applied"  # the delta continued the sequence and is in the book
    STALE = "stale"  # already covered by the book (u <= last applied id): ignored
    GAP = "gap"  # the sequence broke: the book was dropped, re-snapshot and re-buffer
    SYNCED = "synced"  # a snapshot bridged the buffer: emit the whole book
    SNAPSHOT_TOO_OLD = "snapshot_too_old"  # the buffer, or the first live delta, starts after L+1: fetch a newer snapshot
    REJECTED = "rejected"  # an implausible delta (ids far ahead): dropped, the book resyncs without it


#: the outcome of nearly every delta, bound once: reading a member off an Enum class is a descriptor
#: call, about as dear as the rest of a one-level delta's bookkeeping (docs/performance.md)
APPLIED = Outcome.APPLIED


def apply_levels(side: MutableMapping, levels: Sequence[Level], best=None, is_bid: bool = True):
    """Apply absolute levels to one side; return the side's best price as far as ``best`` (the best
    before, None if unknown) and the levels tell: a better new price replaces it, deleting it makes it
    unknown (None). Tracking it spares a lookup of the best on most deltas."""
    for price, qty in levels:
        if qty:
            side[price] = qty
            if best is not None and (price > best if is_bid else price < best):
                best = price
        elif price in side:
            del side[price]
            if price == best:
                best = None
    return best


def best_of(side: MutableMapping, is_bid: bool):
    """The best price of a plain-dict side, None if empty (the feed passes a faster one for its sorted books)."""
    if not side:
        return None
    return max(side) if is_bid else min(side)


class BookSync:
    """One symbol's book. ``factory()`` returns ``(container, bids, asks)``: the object to hand to
    callbacks and its two price->quantity mappings (cryptofeed's OrderBook in the feed, dicts in tests).
    """

    __slots__ = ("symbol", "_factory", "_buffer", "max_buffer", "container", "bids", "asks", "last_id", "gaps",
                 "_best_of", "_stale_run", "best_bid", "best_ask", "_bridged")

    def __init__(self, symbol: str, factory: Callable[[], Sides], max_buffer: int = 20_000,
                 best: Optional[Callable[[MutableMapping, bool], object]] = None):
        self.symbol = symbol
        self._factory = factory
        self._buffer: deque[DepthMsg] = deque(maxlen=max_buffer)
        self.max_buffer = max_buffer
        self.container = None
        self.bids: Optional[MutableMapping] = None
        self.asks: Optional[MutableMapping] = None
        self.last_id: Optional[int] = None
        self.gaps = 0
        self._best_of = best or best_of
        self._stale_run = 0
        # the best bid and ask as last known (None: unknown, looked up when next needed)
        self.best_bid = self.best_ask = None
        # a delta has continued the current snapshot (until then, a jump past L+1 means the snapshot
        # predates the subscription, not that the stream lost a delta)
        self._bridged = False

    @property
    def synced(self) -> bool:
        return self.last_id is not None

    @property
    def buffered(self) -> int:
        return len(self._buffer)

    def reset(self) -> None:
        """Forget the book and everything buffered (on reconnect or gap)."""
        self._buffer.clear()
        self.container = self.bids = self.asks = None
        self.last_id = None
        self._stale_run = 0
        self.best_bid = self.best_ask = None
        self._bridged = False

    def on_delta(self, msg: DepthMsg) -> Outcome:
        last = self.last_id
        if msg.last_id - msg.first_id > MAX_ID_JUMP or (last is not None and msg.last_id - last > MAX_ID_JUMP):
            # a `u` far ahead would make every later delta look stale and freeze the book
            self.gaps += 1
            self.reset()
            return Outcome.REJECTED
        if last is None:
            self._buffer.append(msg)
            return Outcome.BUFFERED
        if msg.last_id <= last:
            self._stale_run += 1
            # Before a delta has continued the snapshot, a long stale run is expected: a consumer that
            # lags the exchange gets a snapshot ahead of the deltas still queued for it, and must read
            # through them. After that, a stale run means the book's id ran ahead of the stream.
            if self._stale_run < (MAX_STALE_RUN if self._bridged else self.max_buffer):
                return Outcome.STALE
            return self._gap(msg)
        self._stale_run = 0
        if msg.first_id > last + 1:
            if not self._bridged:
                # The snapshot was taken before the subscription took effect (the feed asks for it
                # right after subscribing): the ids between were never going to arrive. Not a gap in
                # the stream; the caller fetches a newer snapshot, which this delta will bridge.
                self.reset()
                self._buffer.append(msg)
                return Outcome.SNAPSHOT_TOO_OLD
            return self._gap(msg)
        # U == last+1, or a straddling delta (U <= last < u): absolute levels make re-applying safe.
        bids, asks = msg.bids, msg.asks
        if bids:  # most deltas touch one side: skip the call for the other
            self.best_bid = apply_levels(self.bids, bids, self.best_bid, True)
        if asks:
            self.best_ask = apply_levels(self.asks, asks, self.best_ask, False)
        self.last_id = msg.last_id
        self._bridged = True
        bid, ask = self.best_bid, self.best_ask
        # the call only when a best is unknown or the two meet: most deltas leave both known and apart
        if (bids or asks) and (bid is None or ask is None or bid >= ask) and self.crossed():
            return self._gap(None)
        return APPLIED

    def crossed(self) -> bool:
        """Best bid at or above best ask: a book no exchange can have."""
        bid = self.best_bid
        if bid is None:
            bid = self.best_bid = self._best_of(self.bids, True)
        ask = self.best_ask
        if ask is None:
            ask = self.best_ask = self._best_of(self.asks, False)
        return bid is not None and ask is not None and bid >= ask

    def _gap(self, msg: Optional[DepthMsg]) -> Outcome:
        """The sequence broke (or the book crossed): drop the book, keep ``msg`` for the next snapshot."""
        self.gaps += 1
        self.reset()
        if msg is not None:
            self._buffer.append(msg)
        return Outcome.GAP

    def on_snapshot(self, snap: DepthSnapshot) -> Outcome:
        """Seed from REST; apply the buffered deltas that follow it."""
        top = snap.lastUpdateId
        pending = [m for m in self._buffer if m.last_id > top]
        if pending and pending[0].first_id > top + 1:
            # Deltas between L and the buffer's first U are missing: this snapshot is too old.
            self._buffer = deque(pending, maxlen=self.max_buffer)
            return Outcome.SNAPSHOT_TOO_OLD
        self.container, self.bids, self.asks = self._factory()
        apply_levels(self.bids, snap.bids)
        apply_levels(self.asks, snap.asks)
        self.best_bid = self.best_ask = None
        self._bridged = False
        self.last_id = top
        self._buffer.clear()
        for msg in pending:
            if self.on_delta(msg) in (Outcome.GAP, Outcome.REJECTED):
                # on_delta already reset us (and kept msg if it is usable); the caller re-snapshots.
                self._buffer.extend(m for m in pending if m.first_id > msg.first_id)
                return Outcome.GAP
        return Outcome.SYNCED
