"""Prometheus metrics of one feed, in a registry of its own (several feeds in one process never collide).

Two ways to count, the same series underneath:
- the labelled API (``frame``, ``drop``, ``ws_error``, ``book``, ``rest``...), which callers should use;
- the older name API (``inc("book_gaps")``, ``set("rest_breaker_open", 1)``, ``counters["ws_connects"]``),
  mapped onto the labelled series by ``LEGACY_COUNTERS`` / ``LEGACY_GAUGES`` so callers can move over
  one at a time.

Hot path: ``frame(stream, now)`` is one dict lookup, one counter increment and two stores; the
labelled child of every stream is created once and cached. Every series this feed can know of at
construction exists from the start at 0 (``expect_streams``, ``expect_books``, the drop reasons,
the known error codes and error types).

Never put a secret, a signature or a proxy credential into a metric name or label.
"""
from __future__ import annotations

import time
from collections import deque
from typing import Any, Iterable, Iterator, Mapping, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.metrics_core import CounterMetricFamily

from ..constants import DEPTH_WINDOWS, EXCHANGE_ID
from .names import (BOOK_EVENTS, DROP_REASONS, FRAMES, KNOWN_WS_ERROR_CODES, LEGACY_COUNTERS, LEGACY_GAUGES, METRICS,
                    RECENT_KIND, SNAPSHOT_COUNTERS, legacy_series)

# How far back the recent-event deques reach; health looks at a window inside it.
RECENT_HORIZON_S = 600.0
RECENT_MAX_EVENTS = 10_000


class _Family:
    """One Prometheus metric and its cached children, keyed by the tuple of label values."""

    __slots__ = ("metric", "children", "labelnames")

    def __init__(self, metric, labelnames: tuple[str, ...]):
        self.metric = metric
        self.labelnames = labelnames
        self.children: dict[tuple[str, ...], Any] = {}

    def child(self, *values: str):
        child = self.children.get(values)
        if child is None:
            child = self.children[values] = self.metric.labels(*values)
        return child

    def total(self, **match: str) -> float:
        index = [(self.labelnames.index(k), v) for k, v in match.items()]
        return sum(_value(c) for key, c in self.children.items() if all(key[i] == v for i, v in index))


def _value(child) -> float:
    # prometheus_client keeps a child's number in ``_value`` (a lock-guarded float) in every release
    # since 0.4; reading it is what its own tests do, and it avoids a full registry collect per read.
    return child._value.get()  # noqa: SLF001


class Recent:
    """Timestamps of recent events of one kind, for counts over a sliding window (health)."""

    __slots__ = ("events",)

    def __init__(self) -> None:
        self.events: deque[float] = deque(maxlen=RECENT_MAX_EVENTS)

    def add(self, now: float) -> None:
        self.events.append(now)

    def count(self, window_s: float, now: float) -> int:
        events = self.events
        while events and now - events[0] > RECENT_HORIZON_S:
            events.popleft()
        return sum(1 for t in events if now - t <= window_s)


def stream_labels(stream: str) -> tuple[str, str]:
    """(channel, symbol) of a Backpack stream name: ``kline.1m.SOL_USDC`` -> (kline, SOL_USDC).
    Symbols may contain dots (``AAPL.US_USDC_PERP``), so the name is split by its known shape."""
    kind, _, rest = stream.partition(".")
    if kind == "kline":
        return kind, rest.partition(".")[2]
    if kind == "depth":
        window, _, symbol = rest.partition(".")
        return (kind, symbol) if window in DEPTH_WINDOWS else (kind, rest)
    if kind == "account":
        sub, _, symbol = rest.partition(".")
        return f"account.{sub}", symbol
    return kind, rest


def without_created(families):
    """The families minus prometheus_client's ``*_created`` companion series of counters: they double
    the exposition and nobody alerts on them (filtered here rather than by prometheus_client's
    process-wide switch, which would change the user's own metrics too)."""
    for family in families:
        if family.type == "counter":
            family.samples = [s for s in family.samples if not s.name.endswith("_created")]
        yield family


class _WithoutCreated:
    def __init__(self, registry: CollectorRegistry):
        self.registry = registry

    def collect(self):
        return without_created(self.registry.collect())


#: a frame cell: ``[count, channel, symbol, last frame's receipt time or None]``
COUNT, LAST_AT = 0, 3


class _FrameCounts:
    """Frames per stream as plain ints, turned into a Prometheus counter family at scrape time:
    a prometheus_client child costs about 1 µs per increment (a lock), a list cell a tenth of it.
    The cell also keeps when the stream's last frame arrived, so a frame is one cell update."""

    def __init__(self, exchange: str):
        self.exchange = exchange
        self.cells: dict[str, list] = {}  # stream -> its cell

    def cell(self, stream: str) -> list:
        cell = self.cells.get(stream)
        if cell is None:
            channel, symbol = stream_labels(stream)
            cell = self.cells[stream] = [0, channel, symbol, None]
        return cell

    def total(self) -> int:
        return sum(cell[0] for cell in self.cells.values())

    def collect(self):
        family = CounterMetricFamily(*FRAMES, labels=("exchange", "channel", "symbol"))
        for count, channel, symbol, _ in list(self.cells.values()):
            family.add_metric((self.exchange, channel, symbol), count)
        yield family

    def describe(self):
        return [CounterMetricFamily(*FRAMES, labels=("exchange", "channel", "symbol"))]


class FeedMetrics:
    """The counters and gauges of one feed (or one stand-alone REST client)."""

    def __init__(self, exchange: str = EXCHANGE_ID, feed: str = "native") -> None:
        self.exchange = exchange
        self.feed = feed
        self._frames = _FrameCounts(exchange)
        #: stream -> its frame cell (``COUNT``, ``LAST_AT``); the native hot path updates cells in line
        #: (feed/core.py) and creates missing ones with ``frame_cell``
        self.frame_cells = self._frames.cells
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(self._frames)
        self.started_at = time.time()
        self.subscribed_at: Optional[float] = None  # when the streams were last (re)subscribed (native: each connect; ccxt: start)
        self.auth_failed_at: Optional[float] = None
        self.stopped_at: Optional[float] = None
        self.book_snapshot_at: dict[str, float] = {}
        self.recent_errors = Recent()
        self.recent_drops = Recent()
        self.recent_gaps = Recent()
        self._legacy_targets: dict[str, tuple] = {}
        self._used_counters: set[str] = set()
        self._used_gauges: set[str] = set()
        self._families: dict[str, _Family] = {}
        self._build()
        self.counters = _LegacyView(self, LEGACY_COUNTERS, self._used_counters)
        self.gauges = _LegacyView(self, LEGACY_GAUGES, self._used_gauges)

    # ---- construction -----------------------------------------------------------------------

    def _family(self, key: str, kind, name: str, doc: str, labels: tuple[str, ...] = ()) -> None:
        labelnames = ("exchange",) + labels
        metric = kind(name, doc, labelnames, registry=self.registry)
        self._families[key] = _Family(metric, labelnames)

    def _build(self) -> None:
        for key, (kind, name, doc, labels) in METRICS.items():
            self._family(key, Counter if kind == "counter" else Gauge, name, doc, labels)
        ex = self.exchange
        for key in ("ws_connects", "ws_connect_errors", "ws_private_subscribes", "auth_failures",
                    "rest_requests", "rest_errors", "rest_retries", "rest_rate_limited", "rest_circuit_open",
                    "reconnects", "stream_resubscribes", "trades_backfilled", "trades_lost", "trade_holes_unfilled",
                    "trade_duplicates", "trade_backfill_errors", "balance_poll_errors"):
            self._families[key].child(ex)
        for reason in DROP_REASONS:
            self._families["dropped"].child(ex, reason)
        for code in KNOWN_WS_ERROR_CODES:
            self._families["ws_errors"].child(ex, code)
        self._families["info"].child(ex, self.feed).set(1)

    def expect_streams(self, streams: Iterable[str]) -> None:
        """Create the frame counter of every subscribed stream at 0, and its book series for depth."""
        for stream in streams:
            self._frames.cell(stream)
            channel, symbol = stream_labels(stream)
            if channel == "depth":
                self.expect_books([symbol])

    def expect_books(self, symbols: Iterable[str]) -> None:
        for symbol in symbols:
            for event in BOOK_EVENTS:
                self._families["book_events"].child(self.exchange, symbol, event)

    def expect_errors(self, kinds: Iterable[str]) -> None:
        for kind in kinds:
            self._families["feed_errors"].child(self.exchange, kind)

    # ---- labelled API -------------------------------------------------------------------------

    def frame(self, stream: str, now: float) -> None:
        cell = self.frame_cells.get(stream) or self._frames.cell(stream)
        cell[COUNT] += 1
        cell[LAST_AT] = now

    def frame_cell(self, stream: str) -> list:
        """The frame cell of ``stream``, created at 0 if it has none."""
        return self._frames.cell(stream)

    @property
    def last_frame_by_stream(self) -> dict[str, float]:
        """stream -> when its last frame arrived (streams that delivered one)."""
        return {stream: cell[LAST_AT] for stream, cell in self.frame_cells.items() if cell[LAST_AT] is not None}

    @property
    def last_frame_at(self) -> Optional[float]:
        return max(self.last_frame_by_stream.values(), default=None)

    def connected(self, now: Optional[float] = None) -> None:
        """A connection opened and the subscriptions were (re)sent on it."""
        self.subscribed_at = time.time() if now is None else now
        self._families["ws_connects"].child(self.exchange).inc()

    def subscribed(self, now: Optional[float] = None) -> None:
        """The streams were requested (the ccxt feed: its watch tasks started)."""
        self.subscribed_at = time.time() if now is None else now

    def stopped(self) -> None:
        self.stopped_at = time.time()

    def drop(self, reason: str) -> None:
        self._families["dropped"].child(self.exchange, reason).inc()
        self.recent_drops.add(time.time())

    def ws_error(self, code: int | str) -> None:
        self._families["ws_errors"].child(self.exchange, str(code)).inc()
        self.recent_errors.add(time.time())

    def error(self, kind: str) -> None:
        """A failure of the feed's own work (the ccxt feed: one per failed watch or poll, by error type)."""
        self._families["feed_errors"].child(self.exchange, kind).inc()
        self.recent_errors.add(time.time())

    def book_event(self, symbol: str, event: str) -> None:
        self._families["book_events"].child(self.exchange, symbol, event).inc()
        now = time.time()
        if event == "gaps":
            self.recent_gaps.add(now)
        elif event == "snapshot_errors":
            self.recent_errors.add(now)

    def book_synced(self, symbol: str, now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        self.book_snapshot_at[symbol] = now
        self._families["book_snapshot_ts"].child(self.exchange, symbol).set(now)

    def value(self, key: str, **match: str) -> float:
        """The sum of a metric's series matching the given labels (key as in ``METRICS``)."""
        if key == "frames":
            return sum(c[COUNT] for c in self.frame_cells.values()
                       if all(c[{"channel": 1, "symbol": 2}[k]] == v for k, v in match.items()))
        return self._families[key].total(**match)

    # ---- name API (kept for callers not yet on the labelled one) -------------------------------

    def inc(self, name: str, value: int = 1) -> None:
        target = self._legacy_targets.get(name)
        if target is None:
            target = self._legacy_targets[name] = self._resolve(name)
            self._used_counters.add(name)
        child, recent = target
        if child is not None:
            child.inc(value)
        if recent is not None:
            recent.add(time.time())
        if name == "ws_connects":
            self.subscribed_at = time.time()
        elif name == "auth_failures":
            self.auth_failed_at = time.time()

    def _resolve(self, name: str) -> tuple:
        family, labels = legacy_series(name, LEGACY_COUNTERS)
        if family == "frames" or (family == "dropped" and not labels):
            return None, None  # a total of other series, counted by frame() / dropped_<reason>
        kind = "gaps" if labels.get("event") == "gaps" else \
            "errors" if labels.get("event") == "snapshot_errors" else RECENT_KIND.get(family)
        recent = {"errors": self.recent_errors, "drops": self.recent_drops, "gaps": self.recent_gaps}.get(kind)
        return self._labelled(family, labels), recent

    def _labelled(self, family: str, labels: Mapping[str, str]):
        # the old names carry no symbol: their series has symbol="" (reads sum every symbol)
        fam = self._families[family]
        return fam.child(self.exchange, *(labels.get(n, "") for n in fam.labelnames[1:]))

    def set(self, name: str, value: float) -> None:
        family, labels = legacy_series(name, LEGACY_GAUGES)
        self._used_gauges.add(name)
        self._labelled(family, labels).set(value)

    def prometheus(self) -> str:
        """This feed alone in Prometheus text format (the endpoint serves every feed together)."""
        return generate_latest(_WithoutCreated(self.registry)).decode()

    def snapshot(self) -> dict[str, Any]:
        return {
            "counters": {n: self.counters[n] for n in sorted(self._used_counters | set(SNAPSHOT_COUNTERS))},
            "gauges": {n: self.gauges[n] for n in sorted(self._used_gauges)},
            "uptime_s": time.time() - self.started_at,
            "last_frame_at": self.last_frame_at,
        }


class _LegacyView(Mapping[str, float]):
    """``metrics.counters["book_gaps"]``: reads the labelled series an old name maps to (0 if none)."""

    def __init__(self, metrics: FeedMetrics, table: Mapping[str, tuple], used: set[str]):
        self._metrics, self._table, self._used = metrics, table, used

    def __getitem__(self, name: str) -> float:
        family, labels = legacy_series(name, self._table)
        value = self._metrics.value(family, **labels)
        return int(value) if self._table is LEGACY_COUNTERS and value == int(value) else value

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str)

    def get(self, name: str, default: Any = None) -> Any:
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._used))

    def __len__(self) -> int:
        return len(self._used)
