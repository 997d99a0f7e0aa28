"""A feed's health, judged by one pure function over a plain snapshot of its state.

Both feeds implement the same interface: ``feed.health() -> HealthReport`` and ``feed.metrics``
(a ``FeedMetrics``). ``native_state`` and ``ccxt_state`` read each feed into a ``FeedState``;
``evaluate`` judges it. Every degraded reason has a documented threshold (``HealthThresholds``,
docs/operations.md "Health and probes") and clears by itself when its cause clears.

Three answers, for three consumers:
- ``status``: ``starting`` (never connected yet), ``ok``, ``degraded`` (serving, with reasons),
  ``down`` (no connection after having tried);
- ``live``: the feed is running (a liveness probe restarts the process only when this is false);
- ``ready``: connected, every stream subscribed and every book synced (a readiness probe).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Optional

from ..constants import STREAMS

STARTING, OK, DEGRADED, DOWN = "starting", "ok", "degraded", "down"
# Backpack sends no acknowledgement for SUBSCRIBE (its API docs, Streams): a stream is "acknowledged" once its
# SUBSCRIBE went out on the open connection without an error reply, "delivering" when frames arrive.
PENDING, ACKNOWLEDGED, DELIVERING, SILENT = "pending", "acknowledged", "delivering", "silent"
# Streams that are legitimately quiet for long stretches: reported, never a reason to degrade.
QUIET_CHANNELS = tuple(s.kind for s in STREAMS if s.quiet)


@dataclass(frozen=True)
class HealthThresholds:
    """Limits behind each degraded reason. ``None`` means: take the feed's ``stream_silence_s``."""

    window_s: float = 60.0  # errors and drops are counted over this recent window
    max_errors: int = 5  # `errors`: this many or more error events in the window
    max_drops: int = 10  # `dropped_frames`: this many or more dropped frames in the window
    max_gaps: int = 3  # `book_gaps`: this many or more depth gaps in the window
    stream_silence_s: Optional[float] = None  # `stream_silent`: a busy stream without a frame this long
    book_stale_s: Optional[float] = None  # `book_stale`: a synced book without an update this long


@dataclass(frozen=True)
class BookState:
    symbol: str
    synced: bool
    last_update_id: Optional[int]
    last_update_at: Optional[float]
    snapshot_at: Optional[float]


@dataclass(frozen=True)
class StreamState:
    name: str
    channel: str
    last_frame_at: Optional[float]


@dataclass(frozen=True)
class FeedState:
    kind: str  # "native" | "ccxt"
    running: bool  # started and not stopped
    connected: bool
    ever_connected: bool
    subscribed_at: Optional[float]  # when the streams were last (re)subscribed
    connect_error: Optional[str]
    streams: tuple[StreamState, ...]
    books: tuple[BookState, ...]
    recent_errors: int
    recent_drops: int
    recent_gaps: int
    stream_silence_s: float
    auth_error: Optional[str] = None
    rest_breaker: str = "closed"
    failing: tuple[str, ...] = ()  # streams whose last attempt failed (ccxt feed)
    trade_loss: Optional[tuple[float, str, int]] = None  # the last unrecoverable trade hole: (when, market, lost)
    backend_failure: Optional[tuple[float, str, str]] = None  # a backend writer that failed: (when, backend, error)


@dataclass(frozen=True)
class Reason:
    code: str
    message: str
    threshold: str

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "threshold": self.threshold}


@dataclass(frozen=True)
class HealthReport:
    status: str
    live: bool
    ready: bool
    reasons: list[Reason] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "live": self.live, "ready": self.ready,
                "reasons": [r.to_dict() for r in self.reasons], "details": self.details}


def stream_status(stream: StreamState, state: FeedState, silence_s: float, now: float) -> str:
    if not state.connected or state.subscribed_at is None:
        return PENDING
    if stream.last_frame_at is not None and stream.last_frame_at >= state.subscribed_at and now - stream.last_frame_at <= silence_s:
        return DELIVERING
    if now - max(state.subscribed_at, stream.last_frame_at or 0.0) > silence_s:
        return SILENT
    return ACKNOWLEDGED


def evaluate(state: FeedState, thresholds: HealthThresholds = HealthThresholds(), now: Optional[float] = None) -> HealthReport:
    now = time.time() if now is None else now
    t = thresholds
    silence = t.stream_silence_s if t.stream_silence_s is not None else state.stream_silence_s
    stale_s = t.book_stale_s if t.book_stale_s is not None else silence
    reasons: list[Reason] = []

    if not state.connected:
        why = f": {state.connect_error}" if state.connect_error else ""
        reasons.append(Reason("not_connected", f"no open connection{why}", "any time without an open connection"))

    statuses = {s.name: stream_status(s, state, silence, now) for s in state.streams}
    silent = [s.name for s in state.streams if statuses[s.name] == SILENT
              and s.channel not in QUIET_CHANNELS and s.channel != "depth"]  # depth: judged per book below
    if silent:
        reasons.append(Reason("stream_silent", f"no frame for more than {silence:g}s: {', '.join(silent[:10])}",
                              f"{silence:g}s without a frame on a subscribed stream"))
    if state.failing:
        reasons.append(Reason("stream_failing", f"last attempt failed: {', '.join(state.failing[:10])}",
                              "the latest watch or poll of a stream failed"))

    unsynced = [b.symbol for b in state.books if not b.synced]
    if unsynced:
        reasons.append(Reason("book_unsynced", f"book resyncing: {', '.join(unsynced[:10])}", "any book not in sync"))
    stale = [b.symbol for b in state.books if b.synced and now - (b.last_update_at or b.snapshot_at or now) > stale_s]
    if stale:
        reasons.append(Reason("book_stale", f"no book update for more than {stale_s:g}s: {', '.join(stale[:10])}",
                              f"{stale_s:g}s without an update to a synced book"))

    for code, count, limit, what in (("errors", state.recent_errors, t.max_errors, "error events"),
                                     ("dropped_frames", state.recent_drops, t.max_drops, "dropped frames"),
                                     ("book_gaps", state.recent_gaps, t.max_gaps, "depth gaps")):
        if count >= limit:
            reasons.append(Reason(code, f"{count} {what} in the last {t.window_s:g}s", f">= {limit} in {t.window_s:g}s"))

    if state.trade_loss is not None and now - state.trade_loss[0] <= t.window_s:
        _, market, lost = state.trade_loss
        reasons.append(Reason("trades_lost", f"{lost or 'an unknown number of'} trade(s) of {market} could not be recovered",
                              f"a trade hole REST could not fill, within the last {t.window_s:g}s"))
    if state.auth_error:
        reasons.append(Reason("auth_rejected", f"private subscription rejected: {state.auth_error}",
                              "a rejection on the current connection (clears when a reconnect is accepted)"))
    if state.backend_failure is not None:
        _, backend, error = state.backend_failure
        reasons.append(Reason("backend_failed", f"the {backend} backend stopped writing: {error}",
                              "a backend writer that ended with an error (until the feed is restarted)"))
    if state.rest_breaker != "closed":
        reasons.append(Reason("rest_circuit_open", f"REST circuit breaker {state.rest_breaker}", "breaker not closed"))

    if not state.connected:
        status = STARTING if not state.ever_connected and not state.connect_error else DOWN
    else:
        status = DEGRADED if reasons else OK
    # one pass over the streams: looking each quiet one up by name made a report quadratic in them
    subscribed = state.connected and all(statuses[s.name] in (ACKNOWLEDGED, DELIVERING) or s.channel in QUIET_CHANNELS
                                         for s in state.streams) \
        and not state.auth_error and not state.failing
    ready = state.running and subscribed and not unsynced and state.backend_failure is None
    details = {
        "kind": state.kind,
        "connected": state.connected,
        "subscribed": subscribed,
        "streams": {s.name: {"status": statuses[s.name], "quiet": s.channel in QUIET_CHANNELS,
                             "last_frame_age_s": _age(s.last_frame_at, now)} for s in state.streams},
        "books": {b.symbol: {"synced": b.synced, "last_update_id": b.last_update_id,
                             "last_update_age_s": _age(b.last_update_at, now), "snapshot_age_s": _age(b.snapshot_at, now)}
                  for b in state.books},
        "recent": {"window_s": t.window_s, "errors": state.recent_errors, "dropped_frames": state.recent_drops,
                   "book_gaps": state.recent_gaps},
        "rest_breaker": state.rest_breaker,
    }
    return HealthReport(status, state.running, ready, reasons, details)


def _age(at: Optional[float], now: float) -> Optional[float]:
    return None if at is None else round(now - at, 3)
