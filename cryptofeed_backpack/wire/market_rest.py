"""Public market data over REST (docs/protocol.md §1): one Struct per reply and its cryptofeed object.

Unknown keys are ignored, so a new exchange field never breaks a reply. Integers are accepted as
numbers or strings (``strict=False``). Fixtures: ``tests/fixtures/rest_<endpoint>__*.json``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Optional

import msgspec
from cryptofeed.defines import BUY, SELL
from cryptofeed.types import Candle, Funding, OpenInterest, OrderBook, Trade

from ..constants import EXCHANGE_ID
from .common import TextLevel, check_amount, check_price, decoder, iso_to_s, ms_to_s, us_to_s
from .prices import intern_levels


class DepthSnapshot(msgspec.Struct, frozen=True):
    """``GET /api/v1/depth``: both sides ascending (best bid LAST), ``lastUpdateId`` a string, ``timestamp`` µs."""

    asks: list[TextLevel]  # prices interned after decoding, as in wire.market.DepthMsg
    bids: list[TextLevel]
    lastUpdateId: int
    timestamp: Optional[int] = None

    def __post_init__(self):
        # the book's keys are then the cache's objects, so later deltas find them by identity
        intern_levels(self, "asks", "depth asks")
        intern_levels(self, "bids", "depth bids")


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
    """``GET /api/v1/markets`` element (``/api/v1/market`` answers one)."""

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


class RestTrade(msgspec.Struct, frozen=True):
    """``GET /api/v1/trades`` and ``/trades/history`` element; ``timestamp`` ms, newest first."""

    id: int
    price: Decimal
    quantity: Decimal
    timestamp: int
    isBuyerMaker: bool
    quoteQuantity: Optional[Decimal] = None

    def __post_init__(self):
        check_price(self.price, "trade price")
        check_amount(self.quantity, "trade quantity")


class Kline(msgspec.Struct, frozen=True):
    """``GET /api/v1/klines`` element: ``start``/``end`` ``"YYYY-MM-DD HH:MM:SS"`` UTC, ``trades`` a string."""

    start: str
    end: str
    open: Optional[Decimal] = None
    high: Optional[Decimal] = None
    low: Optional[Decimal] = None
    close: Optional[Decimal] = None
    volume: Optional[Decimal] = None
    quoteVolume: Optional[Decimal] = None
    trades: Optional[int] = None


class FundingRate(msgspec.Struct, frozen=True):
    """``GET /api/v1/fundingRates`` element (newest first; ``intervalEndTimestamp`` naive ISO)."""

    symbol: str
    intervalEndTimestamp: str
    fundingRate: Decimal


class OpenInterestEntry(msgspec.Struct, frozen=True):
    """``GET /api/v1/openInterest`` element: ``openInterest`` in contracts, ``timestamp`` ms."""

    symbol: str
    openInterest: Decimal
    timestamp: int


class MarkPrice(msgspec.Struct, frozen=True):
    """``GET /api/v1/markPrices`` element; the last three fields exist on perps only."""

    symbol: str
    markPrice: Decimal
    fundingRate: Optional[Decimal] = None
    indexPrice: Optional[Decimal] = None
    nextFundingTimestamp: Optional[int] = None


class TickerStats(msgspec.Struct, frozen=True):
    """``GET /api/v1/ticker``: 24 h statistics (no bid or ask); ``trades`` a string."""

    symbol: str
    firstPrice: Optional[Decimal] = None
    lastPrice: Optional[Decimal] = None
    priceChange: Optional[Decimal] = None
    priceChangePercent: Optional[Decimal] = None
    high: Optional[Decimal] = None
    low: Optional[Decimal] = None
    volume: Optional[Decimal] = None
    quoteVolume: Optional[Decimal] = None
    trades: Optional[int] = None


class Status(msgspec.Struct, frozen=True):
    """``GET /api/v1/status``: ``{"message":null,"status":"Ok"}`` (or ``Maintenance``)."""

    status: str
    message: Optional[str] = None


DEPTH_SNAPSHOT = decoder(DepthSnapshot)
MARKETS = decoder(list[Market])
JSON_LIST = decoder(list)
MARKET = decoder(Market)
TRADES = decoder(list[RestTrade])
KLINES = decoder(list[Kline])
FUNDING_RATES = decoder(list[FundingRate])
OPEN_INTEREST = decoder(list[OpenInterestEntry])
MARK_PRICES = decoder(list[MarkPrice])
TICKER_STATS = decoder(TickerStats)
TICKERS = decoder(list[TickerStats])
STATUS = decoder(Status)


# ---- parsers ---------------------------------------------------------------------------------------

def book(snapshot: DepthSnapshot, symbol: str, raw=None) -> OrderBook:
    # the book sorts itself, so the ascending bids need no reversing
    ob = OrderBook(EXCHANGE_ID, symbol, bids=dict(snapshot.bids), asks=dict(snapshot.asks))
    ob.sequence_number = snapshot.lastUpdateId
    ob.timestamp = None if snapshot.timestamp is None else us_to_s(snapshot.timestamp)
    ob.raw = raw
    return ob


def best_bid_ask(snapshot: DepthSnapshot) -> tuple[Optional[Decimal], Optional[Decimal]]:
    return (max((p for p, _ in snapshot.bids), default=None), min((p for p, _ in snapshot.asks), default=None))


def trade(t: RestTrade, symbol: str, raw=None) -> Trade:
    # isBuyerMaker: the buyer rested on the book, so the taker (aggressor) sold
    side = SELL if t.isBuyerMaker else BUY
    return Trade(EXCHANGE_ID, symbol, side, t.quantity, t.price, ms_to_s(t.timestamp), id=str(t.id), raw=raw)


def candle(k: Kline, symbol: str, interval: str, now_s: float, raw=None) -> Candle:
    start_s, stop_s = iso_to_s(k.start), iso_to_s(k.end)
    return Candle(EXCHANGE_ID, symbol, start_s, stop_s, interval, k.trades, k.open, k.close, k.high, k.low,
                  k.volume, stop_s <= now_s, stop_s, raw=raw)


def funding(f: FundingRate, symbol: str, raw=None) -> Funding:
    # the history has neither mark price nor next funding time
    return Funding(EXCHANGE_ID, symbol, None, f.fundingRate, None, iso_to_s(f.intervalEndTimestamp), raw=raw)


def open_interest(entry: OpenInterestEntry, symbol: str, raw=None) -> OpenInterest:
    return OpenInterest(EXCHANGE_ID, symbol, entry.openInterest, ms_to_s(entry.timestamp), raw=raw)
