"""Stream-name grammar of the Backpack WebSocket (PROTOCOL.md §3.1-3.3). Pure.

Symbols contain dots (``AAPL.US_USDC_PERP``), so names are split on the first '.' only, or on
the first two for ``kline.<interval>.`` and ``depth.<window>.``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

DEPTH_WINDOWS = ("200ms", "600ms", "1000ms")
KLINE_INTERVALS = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1month")
PUBLIC_TYPES = ("trade", "depth", "bookTicker", "ticker", "kline", "markPrice", "openInterest", "liquidation")
PRIVATE_TYPES = ("orderUpdate", "positionUpdate", "rfqUpdate", "balanceUpdate")

ERR_PARSE = (4002, "Parse error")
ERR_STREAM = (4006, "Invalid stream")
ERR_DEPTH_WINDOW = (4008, "Invalid depth window")


@dataclass(frozen=True)
class StreamName:
    name: str
    kind: str  # trade, depth, bookTicker, ..., account.orderUpdate
    symbol: Optional[str]  # None for bare `liquidation` / `account.orderUpdate`
    arg: Optional[str] = None  # depth window or kline interval

    @property
    def private(self) -> bool:
        return self.kind.startswith("account.")


class StreamError(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def parse_stream(name: str) -> StreamName:
    """Classify a stream name or raise StreamError with the server's error code."""
    if not isinstance(name, str) or not name:
        raise StreamError(*ERR_STREAM)
    head, sep, rest = name.partition(".")
    if head == "account":
        sub, sep2, symbol = rest.partition(".")
        if sub not in PRIVATE_TYPES:
            raise StreamError(*ERR_STREAM)
        return StreamName(name, f"account.{sub}", symbol if sep2 and symbol else None)
    if head not in PUBLIC_TYPES:
        raise StreamError(*ERR_STREAM)
    if not sep or not rest:
        if head == "liquidation":  # the bare form of the 2026-08 docs: every market
            return StreamName(name, head, None)
        raise StreamError(*ERR_STREAM)
    if head == "depth":
        first, sep2, symbol = rest.partition(".")
        if sep2 and first.endswith("ms") and first[:-2].isdigit():
            if first not in DEPTH_WINDOWS:
                raise StreamError(*ERR_DEPTH_WINDOW)
            return StreamName(name, "depth", symbol, first)
        return StreamName(name, "depth", rest)
    if head == "kline":
        interval, sep2, symbol = rest.partition(".")
        if not sep2 or interval not in KLINE_INTERVALS or not symbol:
            raise StreamError(*ERR_STREAM)
        return StreamName(name, "kline", symbol, interval)
    return StreamName(name, head, rest)
