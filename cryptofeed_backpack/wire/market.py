"""Public market data: the pushed streams (docs/protocol.md §3.2) and their cryptofeed objects.

Single-letter field names mirror the wire keys (``rename`` keeps them readable in Python).
Every Struct refuses NaN, Infinity, non-positive prices and negative quantities in
``__post_init__``, so a frame that decodes is a frame that is safe to put in a book or a callback.
Fixtures: ``tests/fixtures/ws_<stream>__*.json``.
"""
from __future__ import annotations

from typing import Optional

import msgspec
from cryptofeed.defines import BUY, CANDLES, FILLED, FUNDING, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST, SELL, TICKER, TRADES
from cryptofeed.types import Candle, Funding, Index, L1Book, Liquidation, OpenInterest, Ticker, Trade

from decimal import Decimal

from ..constants import EXCHANGE_ID, SIDES, STREAM_FOR_CHANNEL
from .common import TextLevel, check_amount, check_price, check_signed, decoder, iso_to_s, ms_to_s, us_to_s
from .prices import intern_levels, intern_price


class TradeMsg(msgspec.Struct, frozen=True):
    """``trade.<symbol>``: ``{"e":"trade","E":…,"s":"SOL_USDC","p":"150.1","q":"2","b":"…","a":"…","t":7,"T":…,"m":true}``

    ``price`` is decoded as text and stored as its interned, validated Decimal (wire/prices.py)."""

    symbol: str = msgspec.field(name="s")
    price: str = msgspec.field(name="p")
    quantity: Decimal = msgspec.field(name="q")
    trade_id: int = msgspec.field(name="t")
    engine_time_us: int = msgspec.field(name="T")
    buyer_is_maker: bool = msgspec.field(name="m")
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        intern_price(self, "price")
        check_amount(self.quantity, "trade q")


class DepthMsg(msgspec.Struct, frozen=True):
    """``depth[.<window>].<symbol>``: absolute levels (qty 0 deletes), ids ``U..u``.

    Prices are decoded as text and stored as interned Decimals (wire/prices.py), so after decoding
    ``asks``/``bids`` hold ``(Decimal, Decimal)`` levels, validated."""

    symbol: str = msgspec.field(name="s")
    first_id: int = msgspec.field(name="U")
    last_id: int = msgspec.field(name="u")
    asks: list[TextLevel] = msgspec.field(name="a", default_factory=list)
    bids: list[TextLevel] = msgspec.field(name="b", default_factory=list)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        if self.first_id > self.last_id or self.first_id < 0:
            raise ValueError(f"depth U={self.first_id} must be >= 0 and <= u={self.last_id}")
        intern_levels(self, "asks", "depth a")
        intern_levels(self, "bids", "depth b")


class BookTickerMsg(msgspec.Struct, frozen=True):
    """``bookTicker.<symbol>``: best ask ``a``/``A``, best bid ``b``/``B`` (null when a side is empty).
    The prices are decoded as text and stored as interned, validated Decimals (wire/prices.py)."""

    symbol: str = msgspec.field(name="s")
    ask_price: Optional[str] = msgspec.field(name="a", default=None)
    ask_qty: Optional[Decimal] = msgspec.field(name="A", default=None)
    bid_price: Optional[str] = msgspec.field(name="b", default=None)
    bid_qty: Optional[Decimal] = msgspec.field(name="B", default=None)
    update_id: Optional[int] = msgspec.field(name="u", default=None)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        intern_price(self, "ask_price")
        intern_price(self, "bid_price")
        check_amount(self.ask_qty, "bookTicker A")
        check_amount(self.bid_qty, "bookTicker B")


class KlineMsg(msgspec.Struct, frozen=True):
    """``kline.<interval>.<symbol>``: ``t``/``T`` naive ISO strings, ``X`` true on the closing update."""

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

    def __post_init__(self):
        for name in ("open", "close", "high", "low"):
            check_price(getattr(self, name), f"kline {name}")
        check_amount(self.volume, "kline v")
        # parsed here so a bad time is a rejected frame, not an exception in a callback
        iso_to_s(self.start)
        iso_to_s(self.end)


class MarkPriceMsg(msgspec.Struct, frozen=True):
    """``markPrice.<symbol>``: ``p`` mark, ``f`` funding estimate, ``i`` index, ``n`` next funding (ms)."""

    symbol: str = msgspec.field(name="s")
    mark_price: Decimal = msgspec.field(name="p")
    funding_rate: Optional[Decimal] = msgspec.field(name="f", default=None)
    index_price: Optional[Decimal] = msgspec.field(name="i", default=None)
    next_funding_ms: Optional[int] = msgspec.field(name="n", default=None)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        check_price(self.mark_price, "markPrice p")
        check_price(self.index_price, "markPrice i")
        check_signed(self.funding_rate, "markPrice f")


class OpenInterestMsg(msgspec.Struct, frozen=True):
    """``openInterest.<symbol>``: ``o`` in contracts; no ``T``."""

    symbol: str = msgspec.field(name="s")
    open_interest: Decimal = msgspec.field(name="o")
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        check_amount(self.open_interest, "openInterest o")


class LiquidationMsg(msgspec.Struct, frozen=True):
    """``liquidation[.<symbol>]``: ``S`` is the side of the liquidation order."""

    symbol: str = msgspec.field(name="s")
    price: Decimal = msgspec.field(name="p")
    quantity: Decimal = msgspec.field(name="q")
    side: str = msgspec.field(name="S")
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        check_price(self.price, "liquidation p")
        check_amount(self.quantity, "liquidation q")


#: stream kind -> its decoder (the envelope's ``data`` is decoded once, by one of these); the kinds are
#: the stream table's (constants.STREAMS)
DEPTH_DECODER = decoder(DepthMsg)
STREAM_DECODERS = {STREAM_FOR_CHANNEL[channel].kind: dec for channel, dec in (
    (TRADES, decoder(TradeMsg)), (L2_BOOK, DEPTH_DECODER), (TICKER, decoder(BookTickerMsg)), (CANDLES, decoder(KlineMsg)),
    (FUNDING, decoder(MarkPriceMsg)), (OPEN_INTEREST, decoder(OpenInterestMsg)), (LIQUIDATIONS, decoder(LiquidationMsg)))}


# ---- parsers: Struct -> cryptofeed object ----------------------------------------------------------

def _event_time(engine_us: int, event_us: int) -> float:
    return us_to_s(engine_us or event_us)


def trade(msg: TradeMsg, symbol: str, raw=None) -> Trade:
    # m = buyer is maker, so the taker (the aggressor cryptofeed reports) sold
    side = SELL if msg.buyer_is_maker else BUY
    return Trade(EXCHANGE_ID, symbol, side, msg.quantity, msg.price, us_to_s(msg.engine_time_us), id=str(msg.trade_id), raw=raw)


def ticker(msg: BookTickerMsg, symbol: str, raw=None) -> Ticker:
    return Ticker(EXCHANGE_ID, symbol, msg.bid_price, msg.ask_price, _event_time(msg.engine_time_us, msg.event_time_us), raw=raw)


def l1_book(msg: BookTickerMsg, symbol: str, raw=None) -> L1Book:
    return L1Book(EXCHANGE_ID, symbol, msg.bid_price, msg.bid_qty, msg.ask_price, msg.ask_qty,
                  _event_time(msg.engine_time_us, msg.event_time_us), raw=raw)


def candle(msg: KlineMsg, symbol: str, interval: str, raw=None) -> Candle:
    return Candle(EXCHANGE_ID, symbol, iso_to_s(msg.start), iso_to_s(msg.end), interval, msg.trades,
                  msg.open, msg.close, msg.high, msg.low, msg.volume, msg.closed, us_to_s(msg.event_time_us), raw=raw)


def funding(msg: MarkPriceMsg, symbol: str, raw=None) -> Funding:
    next_time = None if msg.next_funding_ms is None else ms_to_s(msg.next_funding_ms)
    return Funding(EXCHANGE_ID, symbol, msg.mark_price, msg.funding_rate, next_time,
                   _event_time(msg.engine_time_us, msg.event_time_us), raw=raw)


def index(msg: MarkPriceMsg, symbol: str, raw=None) -> Optional[Index]:
    if msg.index_price is None:
        return None
    return Index(EXCHANGE_ID, symbol, msg.index_price, _event_time(msg.engine_time_us, msg.event_time_us), raw=raw)


def open_interest(msg: OpenInterestMsg, symbol: str, raw=None) -> OpenInterest:
    return OpenInterest(EXCHANGE_ID, symbol, msg.open_interest, us_to_s(msg.event_time_us), raw=raw)


def liquidation(msg: LiquidationMsg, symbol: str, raw=None) -> Liquidation:
    # Bid buys back a short, Ask sells a long. The event has no id and is published once filled.
    side = SIDES.get(msg.side, msg.side.lower())
    # E, because the documented T can be a placeholder (the docs example has T: 567)
    return Liquidation(EXCHANGE_ID, symbol, side, msg.quantity, msg.price, None, FILLED, us_to_s(msg.event_time_us), raw=raw)
