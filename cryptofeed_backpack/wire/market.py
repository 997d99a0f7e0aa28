"""Public market data: the pushed streams (docs/protocol.md §3.2) and their cryptofeed objects.

Single-letter field names mirror the wire keys (``rename`` keeps them readable in Python).
Every Struct refuses NaN, Infinity, non-positive prices and negative quantities in
``__post_init__``, so a frame that decodes is a frame that is safe to put in a book or a callback.
(KlineMsg is the exception: ``candle()`` checks its values, see its docstring.)
Fixtures: ``tests/fixtures/ws_<stream>__*.json``.
"""
from __future__ import annotations

from typing import Optional, Union

import msgspec
from cryptofeed.defines import BUY, CANDLES, FILLED, FUNDING, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST, SELL, TICKER, TRADES
from cryptofeed.types import Candle, Funding, Index, L1Book, Liquidation, OpenInterest, Ticker, Trade

from decimal import Decimal, InvalidOperation

from ..constants import EXCHANGE_ID, SIDES, STREAM_FOR_CHANNEL
from msgspec.structs import force_setattr

from .common import (MAX_ADJUSTED_EXPONENT, US_PER_S, TextLevel, check_amount, check_price, check_signed, decoder,
                     iso_to_s, ms_to_s, us_to_s)
from .prices import PRICES

# the interning cache's parts, bound once: a price hit is one C call (wire/prices.py)
_price, _new_price, _levels = PRICES.lookup, PRICES.add, PRICES.levels

#: every public market frame's ``data`` names its event type in ``e``, and the name is its stream kind
#: (``"e":"trade"`` on ``trade.<symbol>``, docs/protocol.md §3.2): the Structs are tagged by it, so a
#: whole frame decodes in one pass into the right Struct (``MARKET_FRAME``)
EVENT_FIELD = "e"


def _event(channel: str) -> str:
    return STREAM_FOR_CHANNEL[channel].kind


class TradeMsg(msgspec.Struct, frozen=True, gc=False, tag_field=EVENT_FIELD, tag=_event(TRADES)):
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
        # inlined, not helper calls: this runs on every trade (docs/performance.md, "the hot path")
        text = self.price
        force_setattr(self, "price", _price(text) or _new_price(text))
        q = self.quantity
        if not (q.is_finite() and not q.is_signed() and q.adjusted() < MAX_ADJUSTED_EXPONENT):
            check_amount(q, "trade q")


class DepthMsg(msgspec.Struct, frozen=True, gc=False, tag_field=EVENT_FIELD, tag=_event(L2_BOOK)):
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
        # intern_levels inlined: this runs on every delta, and most touch one side only
        levels = self.asks
        if levels:
            force_setattr(self, "asks", _levels(levels, "depth a"))
        levels = self.bids
        if levels:
            force_setattr(self, "bids", _levels(levels, "depth b"))


class BestPricesMsg(msgspec.Struct, frozen=True, gc=False, tag_field=EVENT_FIELD, tag=_event(TICKER)):
    """``bookTicker.<symbol>`` read for TICKER alone: best ask ``a`` and best bid ``b`` (null when a side
    is empty), without their sizes, which a ticker does not carry, so the sizes are neither built as
    Decimals nor checked (docs/performance.md). The prices are decoded as text and stored as interned,
    validated Decimals (wire/prices.py)."""

    symbol: str = msgspec.field(name="s")
    ask_price: Optional[str] = msgspec.field(name="a", default=None)
    bid_price: Optional[str] = msgspec.field(name="b", default=None)
    update_id: Optional[int] = msgspec.field(name="u", default=None)
    engine_time_us: int = msgspec.field(name="T", default=0)
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        # inlined, not helper calls: this runs on every bookTicker (docs/performance.md, "the hot path")
        text = self.ask_price
        if text is not None:
            force_setattr(self, "ask_price", _price(text) or _new_price(text))
        text = self.bid_price
        if text is not None:
            force_setattr(self, "bid_price", _price(text) or _new_price(text))


class BookTickerMsg(BestPricesMsg, frozen=True, tag_field=EVENT_FIELD, tag=_event(TICKER)):
    """``bookTicker.<symbol>`` whole: the best prices with their sizes ``A``/``B`` (L1_BOOK needs them)."""

    ask_qty: Optional[Decimal] = msgspec.field(name="A", default=None)
    bid_qty: Optional[Decimal] = msgspec.field(name="B", default=None)

    def __post_init__(self):
        super().__post_init__()
        q = self.ask_qty
        if q is not None and not (q.is_finite() and not q.is_signed() and q.adjusted() < MAX_ADJUSTED_EXPONENT):
            check_amount(q, "bookTicker A")
        q = self.bid_qty
        if q is not None and not (q.is_finite() and not q.is_signed() and q.adjusted() < MAX_ADJUSTED_EXPONENT):
            check_amount(q, "bookTicker B")


class KlineMsg(msgspec.Struct, frozen=True, gc=False, tag_field=EVENT_FIELD, tag=_event(CANDLES)):
    """``kline.<interval>.<symbol>``: ``t``/``T`` naive ISO strings, ``X`` true on the closing update.

    Unlike the other Structs this one keeps its values as text and ``candle()`` checks them as it
    converts: a kline stream repeats every open update of a candle, and a feed with
    ``candle_closed_only`` (cryptofeed's default) drops all of those unread, so checking them on
    decode would be work for nothing (docs/performance.md). A bad value still never reaches a callback."""

    symbol: str = msgspec.field(name="s")
    start: str = msgspec.field(name="t")
    end: str = msgspec.field(name="T")
    closed: bool = msgspec.field(name="X")
    open: Optional[str] = msgspec.field(name="o", default=None)
    close: Optional[str] = msgspec.field(name="c", default=None)
    high: Optional[str] = msgspec.field(name="h", default=None)
    low: Optional[str] = msgspec.field(name="l", default=None)
    volume: Optional[str] = msgspec.field(name="v", default=None)
    trades: Optional[int] = msgspec.field(name="n", default=None)
    event_time_us: int = msgspec.field(name="E", default=0)


class MarkPriceMsg(msgspec.Struct, frozen=True, gc=False, tag_field=EVENT_FIELD, tag=_event(FUNDING)):
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


class OpenInterestMsg(msgspec.Struct, frozen=True, gc=False, tag_field=EVENT_FIELD, tag=_event(OPEN_INTEREST)):
    """``openInterest.<symbol>``: ``o`` in contracts; no ``T``."""

    symbol: str = msgspec.field(name="s")
    open_interest: Decimal = msgspec.field(name="o")
    event_time_us: int = msgspec.field(name="E", default=0)

    def __post_init__(self):
        check_amount(self.open_interest, "openInterest o")


class LiquidationMsg(msgspec.Struct, frozen=True, gc=False, tag_field=EVENT_FIELD, tag=_event(LIQUIDATIONS)):
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


#: stream kind -> its Struct, and the decoder of an envelope's raw ``data`` (the path of frames the
#: one-pass ``MARKET_FRAME`` refuses); the kinds are the stream table's (constants.STREAMS)
STREAM_STRUCTS = {STREAM_FOR_CHANNEL[channel].kind: struct for channel, struct in (
    (TRADES, TradeMsg), (L2_BOOK, DepthMsg), (TICKER, BookTickerMsg), (CANDLES, KlineMsg),
    (FUNDING, MarkPriceMsg), (OPEN_INTEREST, OpenInterestMsg), (LIQUIDATIONS, LiquidationMsg))}
STREAM_DECODERS = {kind: decoder(struct) for kind, struct in STREAM_STRUCTS.items()}
DEPTH_DECODER = STREAM_DECODERS[STREAM_FOR_CHANNEL[L2_BOOK].kind]


def market_frame_decoder(book_ticker_sizes: bool = True) -> msgspec.json.Decoder:
    """The one-pass decoder of a pushed public market frame, ``{"data": {"e": <kind>, ...}, "stream": ...}``,
    into ``MarketFrame(stream, data=<the Struct of its kind>)``. Without ``book_ticker_sizes`` (a feed
    with TICKER but not L1_BOOK) bookTicker data decodes as ``BestPricesMsg``. Anything else (account
    events, error replies, a kind not listed, a value a Struct refuses) fails it and takes the envelope
    path, which tells them apart."""
    structs = dict(STREAM_STRUCTS)
    if not book_ticker_sizes:
        structs[_event(TICKER)] = BestPricesMsg
    frame = msgspec.defstruct("MarketFrame", [("stream", str), ("data", Union[tuple(structs.values())])], frozen=True, gc=False)
    return decoder(frame)


# ---- parsers: Struct -> cryptofeed object ----------------------------------------------------------

# The per-frame parsers (trade, ticker, l1_book, candle) divide by US_PER_S in line instead of calling
# us_to_s: one Python call less on every frame. Every parser passes cryptofeed's types their optional
# arguments by position: keywords cost the compiled constructor a parse that took a third of a Trade's
# construction (docs/performance.md).

def _event_time(engine_us: int, event_us: int) -> float:
    return us_to_s(engine_us or event_us)


def trade(msg: TradeMsg, symbol: str, raw=None) -> Trade:
    # m = buyer is maker, so the taker (the aggressor cryptofeed reports) sold
    return Trade(EXCHANGE_ID, symbol, SELL if msg.buyer_is_maker else BUY, msg.quantity, msg.price,
                 msg.engine_time_us / US_PER_S, str(msg.trade_id), None, raw)


def ticker(msg: BestPricesMsg, symbol: str, raw=None) -> Ticker:
    return Ticker(EXCHANGE_ID, symbol, msg.bid_price, msg.ask_price, (msg.engine_time_us or msg.event_time_us) / US_PER_S, raw)


def l1_book(msg: BookTickerMsg, symbol: str, raw=None) -> L1Book:
    return L1Book(EXCHANGE_ID, symbol, msg.bid_price, msg.bid_qty, msg.ask_price, msg.ask_qty,
                  (msg.engine_time_us or msg.event_time_us) / US_PER_S, raw)


def candle(msg: KlineMsg, symbol: str, interval: str, raw=None) -> Candle:
    """Checks the values as it converts them (KlineMsg keeps text); a bad one raises ValueError."""
    return Candle(EXCHANGE_ID, symbol, iso_to_s(msg.start), iso_to_s(msg.end), interval, msg.trades,
                  _kline_price(msg.open), _kline_price(msg.close), _kline_price(msg.high), _kline_price(msg.low),
                  _kline_amount(msg.volume), msg.closed, msg.event_time_us / US_PER_S, raw)


def _kline_price(text: Optional[str]) -> Optional[Decimal]:
    return None if text is None else (_price(text) or _new_price(text))


def _kline_amount(text: Optional[str]) -> Optional[Decimal]:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError):
        raise ValueError(f"kline v {text!r} is not a decimal number") from None
    check_amount(value, "kline v")
    return value


def funding(msg: MarkPriceMsg, symbol: str, raw=None) -> Funding:
    next_time = None if msg.next_funding_ms is None else ms_to_s(msg.next_funding_ms)
    return Funding(EXCHANGE_ID, symbol, msg.mark_price, msg.funding_rate, next_time,
                   _event_time(msg.engine_time_us, msg.event_time_us), None, raw)


def index(msg: MarkPriceMsg, symbol: str, raw=None) -> Optional[Index]:
    if msg.index_price is None:
        return None
    return Index(EXCHANGE_ID, symbol, msg.index_price, _event_time(msg.engine_time_us, msg.event_time_us), raw)


def open_interest(msg: OpenInterestMsg, symbol: str, raw=None) -> OpenInterest:
    return OpenInterest(EXCHANGE_ID, symbol, msg.open_interest, us_to_s(msg.event_time_us), raw)


def liquidation(msg: LiquidationMsg, symbol: str, raw=None) -> Liquidation:
    # Bid buys back a short, Ask sells a long. The event has no id and is published once filled.
    side = SIDES.get(msg.side, msg.side.lower())
    # E, because the documented T can be a placeholder (the docs example has T: 567)
    return Liquidation(EXCHANGE_ID, symbol, side, msg.quantity, msg.price, None, FILLED, us_to_s(msg.event_time_us), raw)
