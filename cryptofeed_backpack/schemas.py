"""msgspec Structs for the public wire (PROTOCOL.md §1, §3.2), one per stream type and REST reply.

Single-letter attribute names mirror the wire keys on purpose (``rename`` keeps them readable in
Python). Decoders run with ``strict=False`` because integers arrive as JSON numbers on the wire and
as strings in some captures; prices and quantities are decimal strings decoded straight to Decimal.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Optional

import msgspec

Level = tuple[Decimal, Decimal]


class Envelope(msgspec.Struct, frozen=True):
    """Every pushed frame: ``{"stream": ..., "data": {...}}``; error replies: ``{"id": null, "error": {...}}``."""

    stream: Optional[str] = None
    data: msgspec.Raw = msgspec.Raw(b"")
    error: Optional["WsError"] = None


class WsError(msgspec.Struct, frozen=True):
    code: int
    message: str = ""


class TradeMsg(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    price: Decimal = msgspec.field(name="p")
    quantity: Decimal = msgspec.field(name="q")
    trade_id: int = msgspec.field(name="t")
    engine_time_us: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    event_time_us: int = msgspec.field(name="E", default=0)


class DepthMsg(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    first_id: int = msgspec.field(name="U")
    last_id: int = msgspec.field(name="u")
    asks: list[Level] = msgspec.field(name="a", default_factory=list)
    bids: list[Level] = msgspec.field(name="b", default_factory=list)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)


class BookTickerMsg(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    ask_price: Optional[Decimal] = msgspec.field(name="a", default=None)
    ask_qty: Optional[Decimal] = msgspec.field(name="A", default=None)
    bid_price: Optional[Decimal] = msgspec.field(name="b", default=None)
    bid_qty: Optional[Decimal] = msgspec.field(name="B", default=None)
    update_id: Optional[int] = msgspec.field(name="u", default=None)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)


class KlineMsg(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    start: str = msgspec.field(name="t")
    end: str = msgspec.field(name="T")
    closed: bool = msgspec.field(name="X")
    open: Optional[Decimal] = msgspec.field(name="o", default=None)
    close: Optional[Decimal] = msgspec.field(name="c", default=None)
    high: Optional[Decimal] = msgspec.field(name="h", default=None)
    low: Optional[Decimal] = msgspec.field(name="l", default=None)
    volume: Optional[Decimal] = msgspec.field(name="v", default=None)
    trades: Optional[int] = msgspec.field(name="n", default=None)
    event_time_us: int = msgspec.field(name="E", default=0)


class MarkPriceMsg(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    mark_price: Decimal = msgspec.field(name="p")
    funding_rate: Optional[Decimal] = msgspec.field(name="f", default=None)
    index_price: Optional[Decimal] = msgspec.field(name="i", default=None)
    next_funding_ms: Optional[int] = msgspec.field(name="n", default=None)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)


class OpenInterestMsg(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    open_interest: Decimal = msgspec.field(name="o")
    event_time_us: int = msgspec.field(name="E", default=0)


class LiquidationMsg(msgspec.Struct, frozen=True):
    symbol: str = msgspec.field(name="s")
    price: Decimal = msgspec.field(name="p")
    quantity: Decimal = msgspec.field(name="q")
    side: str = msgspec.field(name="S")
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)


class TickerMsg(msgspec.Struct, frozen=True):
    """``ticker.<symbol>``: 24 h rolling statistics. Not mapped to a cryptofeed channel (TICKER uses bookTicker)."""

    symbol: str = msgspec.field(name="s")
    first_price: Decimal = msgspec.field(name="o")
    last_price: Decimal = msgspec.field(name="c")
    high: Decimal = msgspec.field(name="h")
    low: Decimal = msgspec.field(name="l")
    volume: Decimal = msgspec.field(name="v")
    quote_volume: Decimal = msgspec.field(name="V")
    trades: int = msgspec.field(name="n")
    event_time_us: int = msgspec.field(name="E", default=0)


# ---- REST ----------------------------------------------------------------------------------

class DepthSnapshot(msgspec.Struct, frozen=True):
    """``GET /api/v1/depth``: bids ascending (best bid LAST), lastUpdateId a string, timestamp µs."""

    asks: list[Level]
    bids: list[Level]
    lastUpdateId: int
    timestamp: Optional[int] = None


class PriceFilter(msgspec.Struct, frozen=True):
    tickSize: Decimal
    minPrice: Optional[Decimal] = None
    maxPrice: Optional[Decimal] = None


class QuantityFilter(msgspec.Struct, frozen=True):
    stepSize: Decimal
    minQuantity: Optional[Decimal] = None
    maxQuantity: Optional[Decimal] = None


class MarketFilters(msgspec.Struct, frozen=True):
    price: PriceFilter
    quantity: QuantityFilter


class Market(msgspec.Struct, frozen=True):
    """``GET /api/v1/markets`` element. Unknown keys are ignored, so new exchange fields never break loading."""

    symbol: str
    baseSymbol: str
    quoteSymbol: str
    marketType: str
    orderBookState: str
    filters: MarketFilters
    visible: bool = True
    createdAt: Optional[str] = None
    fundingInterval: Optional[int] = None
    rwaMarketType: Optional[str] = None


def _decoder(kind):
    return msgspec.json.Decoder(kind, strict=False)


ENVELOPE = _decoder(Envelope)
STREAM_DECODERS = {
    "trade": _decoder(TradeMsg),
    "depth": _decoder(DepthMsg),
    "bookTicker": _decoder(BookTickerMsg),
    "kline": _decoder(KlineMsg),
    "markPrice": _decoder(MarkPriceMsg),
    "openInterest": _decoder(OpenInterestMsg),
    "liquidation": _decoder(LiquidationMsg),
    "ticker": _decoder(TickerMsg),
}
DEPTH_SNAPSHOT = _decoder(DepthSnapshot)
MARKETS = _decoder(list[Market])
