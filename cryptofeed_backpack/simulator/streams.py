"""Stream-name grammar of the Backpack WebSocket (docs/protocol.md §3.1-3.3). Pure.

Symbols contain dots (``AAPL.US_USDC_PERP``), so names are split on the first '.' only, or on
the first two for ``kline.<interval>.`` and ``depth.<window>.``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..constants import CANDLE_INTERVALS, DEPTH_WINDOWS as _WINDOWS, WS_INVALID_DEPTH_WINDOW, WS_INVALID_STREAM, WS_PARSE_ERROR

DEPTH_WINDOWS = tuple(w for w in _WINDOWS if w != "realtime")  # the suffixes of depth.<window>.<symbol>
KLINE_INTERVALS = tuple(CANDLE_INTERVALS)
PUBLIC_TYPES = ("trade", "depth", "bookTicker", "ticker", "kline", "markPrice", "openInterest", "liquidation")
PRIVATE_TYPES = ("orderUpdate", "positionUpdate", "rfqUpdate", "balanceUpdate")

ERR_PARSE = (WS_PARSE_ERROR, "Parse error")
ERR_STREAM = (WS_INVALID_STREAM, "Invalid stream")
ERR_DEPTH_WINDOW = (WS_INVALID_DEPTH_WINDOW, "Invalid depth window")


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
