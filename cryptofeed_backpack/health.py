"""A feed's health: books in sync, streams alive, connections up, error counts. Pure over feed state."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

OK, DEGRADED, DOWN = "ok", "degraded", "down"


@dataclass(frozen=True)
class BackpackHealthReport:
    status: str
    reasons: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def healthy(self) -> bool:
        return self.status == OK

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "reasons": list(self.reasons), "details": self.details}


def health_report(feed, now: float | None = None) -> BackpackHealthReport:
    now = time.time() if now is None else now
    metrics = feed.metrics
    silence = feed.backpack_config.stream_silence_s
    reasons: list[str] = []
    status = OK

    open_connections = sum(1 for h in feed.connection_handlers if h.conn.is_open)
    if feed.connection_handlers and open_connections == 0:
        status = DOWN
        error = getattr(feed, "last_connection_error", None)
        reasons.append("no open connection" + (f": {error}" if error is not None else ""))

    expected = feed.public_streams() + feed.liquidation_streams()
    started = metrics.counters.get("ws_connects", 0) > 0
    silent = [s for s in expected if now - metrics.last_frame_by_stream.get(s, metrics.started_at) > silence]
    # quiet streams (liquidations, open interest) are legitimately rare: report them, never degrade on them
    quiet = feed.quiet_streams()
    silent_bad = [s for s in silent if s not in quiet]
    if started and silent_bad:
        status = DEGRADED if status == OK else status
        reasons.append(f"silent for more than {silence:.0f}s: {', '.join(silent_bad[:10])}")

    books = feed.book_status()
    unsynced = [sym for sym, b in books.items() if not b.synced]
    if unsynced:
        status = DEGRADED if status == OK else status
        reasons.append(f"book resyncing: {', '.join(unsynced)}")

    auth_error = getattr(feed, "last_auth_error", None)
    if auth_error is not None:
        status = DEGRADED if status == OK else status
        reasons.append(f"private subscription rejected: {auth_error}")

    breaker = getattr(feed.rest_client, "breaker_state", "closed") if feed.rest_client else "closed"
    if breaker != "closed":
        status = DEGRADED if status == OK else status
        reasons.append(f"REST circuit breaker {breaker}")

    return BackpackHealthReport(status, reasons, {
        "open_connections": open_connections,
        "silent_streams": silent,
        "dropped_messages": metrics.counters.get("dropped_messages", 0),
        "book_gaps": metrics.counters.get("book_gaps", 0),
        "rest_breaker": breaker,
        "books": {sym: {"synced": b.synced, "last_update_id": b.last_update_id} for sym, b in books.items()},
    })
