"""K-line buckets shared by the kline stream and GET /api/v1/klines. Pure."""
from __future__ import annotations

from datetime import datetime, timezone

INTERVAL_SECONDS = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
    "4h": 14400, "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800,
}
_MONDAY_OFFSET = 4 * 86400  # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC


def bucket(interval: str, ts_s: float) -> tuple[int, int]:
    """(start, end) in epoch seconds of the candle containing ``ts_s``."""
    t = int(ts_s)
    if interval == "1month":
        d = datetime.fromtimestamp(t, timezone.utc)
        start = datetime(d.year, d.month, 1, tzinfo=timezone.utc)
        end = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=timezone.utc)
        return int(start.timestamp()), int(end.timestamp())
    size = INTERVAL_SECONDS[interval]
    offset = _MONDAY_OFFSET if interval == "1w" else 0
    start = (t - offset) // size * size + offset
    return start, start + size


def iso(ts_s: int) -> str:
    """Kline stream t/T: naive ISO-8601 UTC, e.g. 2025-08-06T22:00:00."""
    return datetime.fromtimestamp(ts_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def spaced(ts_s: int) -> str:
    """REST kline start/end: 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromtimestamp(ts_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
