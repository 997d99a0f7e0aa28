"""Every metric's name, HELP text and labels, and the old short names mapped onto them (docs/operations.md)."""
from __future__ import annotations

from typing import Mapping

# Why a frame was dropped (the feed's ``_drop`` reasons). ``ws_error`` covers every error reply
# the feed did not act on; its code is on ``backpack_ws_error_frames_total``.
DROP_REASONS = ("undecodable", "unknown_frame", "unknown_stream", "unknown_symbol", "ws_error", "handler_error")
# The error codes Backpack's stream is known to send (4002 parse error, 4006 invalid stream, 4008 invalid
# depth window: ccxt's backpack handle_error_message), pre-created so an alert can use rate() from 0.
KNOWN_WS_ERROR_CODES = ("4002", "4006", "4008")
BOOK_EVENTS = ("gaps", "stale_deltas", "rejected_deltas", "snapshots", "snapshot_errors", "snapshot_retries")
FRAMES = ("backpack_ws_frames", "Data frames received, by stream channel and symbol")

# key -> (type, Prometheus name, HELP, labels beyond `exchange`). docs/operations.md lists them.
METRICS: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    "info": ("gauge", "backpack_feed_info", "Always 1; which feed class (native or ccxt) serves the data", ("implementation",)),
    "ws_connects": ("counter", "backpack_ws_connects_total", "WebSocket connections opened (each one re-subscribes)", ()),
    "ws_connect_errors": ("counter", "backpack_ws_connect_errors_total", "WebSocket connection attempts that failed", ()),
    "ws_private_subscribes": ("counter", "backpack_ws_private_subscribes_total", "Signed private SUBSCRIBE frames sent", ()),
    "ws_errors": ("counter", "backpack_ws_error_frames_total", "Error replies received on the stream, by Backpack error code", ("code",)),
    "dropped": ("counter", "backpack_dropped_frames_total", "Frames dropped without reaching a callback, by reason", ("reason",)),
    "auth_failures": ("counter", "backpack_auth_failures_total", "Private subscriptions the exchange rejected", ()),
    "reconnects": ("counter", "backpack_ws_reconnects_total", "Failed or dead connections the feed reconnected", ()),
    "stream_resubscribes": ("counter", "backpack_stream_resubscribes_total",
                            "Streams resubscribed because they stopped while their siblings flowed", ()),
    "trades_backfilled": ("counter", "backpack_trades_backfilled_total", "Trades fetched from REST to fill a hole", ()),
    "trades_lost": ("counter", "backpack_trades_lost_total", "Trades known to be missing that REST could not serve", ()),
    "trade_holes_unfilled": ("counter", "backpack_trade_holes_unfilled_total", "Trade-id holes given up as lost", ()),
    "trade_duplicates": ("counter", "backpack_trade_duplicates_total", "Trade frames dropped as already delivered", ()),
    "trade_backfill_errors": ("counter", "backpack_trade_backfill_errors_total", "Failed REST calls of a trade backfill", ()),
    "balance_poll_errors": ("counter", "backpack_balance_poll_errors_total", "Failed polls of /api/v1/capital", ()),
    "backend_failures": ("counter", "backpack_backend_failures_total",
                         "Backend writers (Redis, Postgres, ...) that ended with an error: their records are no longer stored", ()),
    "book_events": ("counter", "backpack_book_events_total",
                    "L2 book sync events: " + ", ".join(BOOK_EVENTS), ("symbol", "event")),
    "book_snapshot_ts": ("gauge", "backpack_book_last_snapshot_timestamp_seconds",
                         "Unix time of the REST snapshot that last synced the book", ("symbol",)),
    "rest_requests": ("counter", "backpack_rest_requests_total", "REST requests sent (each retry counts)", ()),
    "rest_errors": ("counter", "backpack_rest_errors_total", "REST calls that failed after their retries", ()),
    "rest_retries": ("counter", "backpack_rest_retries_total", "REST requests retried", ()),
    "rest_rate_limited": ("counter", "backpack_rest_rate_limited_total", "REST replies with HTTP 429", ()),
    "rest_circuit_open": ("gauge", "backpack_rest_circuit_open", "1 while the REST circuit breaker is open", ()),
    "feed_errors": ("counter", "backpack_feed_errors_total", "Failed watch or poll calls of the ccxt feed, by error type", ("error",)),
    "ccxt_book_gaps": ("gauge", "backpack_ccxt_book_gaps", "Depth gaps ccxt's order book has re-snapshotted (ccxt's own count)", ()),
    "legacy_counter": ("counter", "backpack_events_total", "Events counted under a name this module does not know yet", ("name",)),
    "legacy_gauge": ("gauge", "backpack_value", "Values set under a name this module does not know yet", ("name",)),
}

# Which recent-window deque (health) an event of a family feeds.
RECENT_KIND = {"ws_errors": "errors", "ws_connect_errors": "errors", "rest_errors": "errors", "auth_failures": "errors",
               "feed_errors": "errors", "dropped": "drops", "reconnects": "errors", "trade_backfill_errors": "errors",
               "balance_poll_errors": "errors", "backend_failures": "errors"}

# old name -> (family key, labels). Names with a variable part are handled in legacy_series().
LEGACY_COUNTERS: dict[str, tuple[str, dict[str, str]]] = {
    "ws_messages": ("frames", {}),  # read-only: frame() counts them
    "ws_connects": ("ws_connects", {}),
    "ws_connect_errors": ("ws_connect_errors", {}),
    "ws_private_subscribes": ("ws_private_subscribes", {}),
    "dropped_messages": ("dropped", {}),
    "auth_failures": ("auth_failures", {}),
    "rest_requests": ("rest_requests", {}),
    "rest_errors": ("rest_errors", {}),
    "rest_retries": ("rest_retries", {}),
    "rest_429": ("rest_rate_limited", {}),
    **{name: (name, {}) for name in ("reconnects", "stream_resubscribes", "trades_backfilled", "trades_lost",
                                     "trade_holes_unfilled", "trade_duplicates", "trade_backfill_errors",
                                     "balance_poll_errors", "backend_failures")},
    **{f"book_{event}": ("book_events", {"event": event}) for event in BOOK_EVENTS},
}
LEGACY_GAUGES: dict[str, tuple[str, dict[str, str]]] = {
    "rest_breaker_open": ("rest_circuit_open", {}),
    "ccxt_book_gaps": ("ccxt_book_gaps", {}),
}
SNAPSHOT_COUNTERS = ("ws_messages", "ws_connects", "dropped_messages", "book_gaps", "book_snapshots")


def legacy_series(name: str, table: Mapping[str, tuple]) -> tuple[str, dict[str, str]]:
    known = table.get(name)
    if known is not None:
        family, labels = known
        if family == "book_events" and "symbol" not in labels:
            # the old calls carry no symbol: they count under symbol="" (reads sum every symbol)
            return family, labels
        return family, dict(labels)
    if table is LEGACY_COUNTERS:
        if name.startswith("dropped_error_"):
            return "dropped", {"reason": "ws_error"}
        if name.startswith("dropped_"):
            return "dropped", {"reason": name[len("dropped_"):]}
        if name.startswith("ws_error_"):
            return "ws_errors", {"code": name[len("ws_error_"):]}
        if name.startswith("ccxt_errors_"):
            return "feed_errors", {"error": name[len("ccxt_errors_"):]}
        return "legacy_counter", {"name": name}
    return "legacy_gauge", {"name": name}
