"""K-line buckets shared by the kline stream and GET /api/v1/klines. Pure."""
from __future__ import annotations

from datetime import datetime, timezone

from ..constants import CANDLE_INTERVALS

_MONDAY_OFFSET = 4 * 86400  # 1970-01-01 was a Thursday; weeks start on Monday 00:00 UTC


def bucket(interval: str, ts_s: float) -> tuple[int, int]:
    """(start, end) in epoch seconds of the candle containing ``ts_s``."""
    t = int(ts_s)
    if interval == "1month":
        d = datetime.fromtimestamp(t, timezone.utc)
        start = datetime(d.year, d.month, 1, tzinfo=timezone.utc)
        end = datetime(d.year + (d.month == 12), d.month % 12 + 1, 1, tzinfo=timezone.utc)
        return int(start.timestamp()), int(end.timestamp())
    size = CANDLE_INTERVALS[interval]
    offset = _MONDAY_OFFSET if interval == "1w" else 0
    start = (t - offset) // size * size + offset
    return start, start + size


def iso(ts_s: int) -> str:
    """Kline stream t/T: naive ISO-8601 UTC, e.g. 2025-08-06T22:00:00."""
    return datetime.fromtimestamp(ts_s, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def spaced(ts_s: int) -> str:
    """REST kline start/end: 'YYYY-MM-DD HH:MM:SS'."""
    return datetime.fromtimestamp(ts_s, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
