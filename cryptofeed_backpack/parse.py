"""Pure conversions from decoded Backpack messages to cryptofeed objects.

Units (PROTOCOL.md §3.1): stream ``E``/``T`` are microseconds, kline ``t``/``T`` ISO strings (UTC),
markPrice ``n`` milliseconds. cryptofeed wants float seconds and Decimal values.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Optional

from cryptofeed.defines import BUY, FILLED, SELL
from cryptofeed.types import Candle, Funding, Index, L1Book, Liquidation, OpenInterest, Ticker, Trade

from .schemas import BookTickerMsg, KlineMsg, LiquidationMsg, MarkPriceMsg, OpenInterestMsg, TradeMsg

EXCHANGE = "BACKPACK"
_US = 1_000_000.0


def us_to_s(value_us: int) -> float:
    return value_us / _US


def ms_to_s(value_ms: int) -> float:
    return value_ms / 1000.0


def iso_to_s(text: str) -> float:
    """Backpack's naive ISO (``2025-08-06T22:00:00`` or ``2025-09-11 15:34:00``) is UTC."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def _event_time(engine_us: int, event_us: int) -> float:
    return us_to_s(engine_us or event_us)


def trade(msg: TradeMsg, symbol: str, raw=None) -> Trade:
    # m = buyer is maker, so the taker (the aggressor cryptofeed reports) sold.
    side = SELL if msg.buyer_is_maker else BUY
    return Trade(EXCHANGE, symbol, side, msg.quantity, msg.price, us_to_s(msg.engine_time_us), id=str(msg.trade_id), raw=raw)


def ticker(msg: BookTickerMsg, symbol: str, raw=None) -> Ticker:
    return Ticker(EXCHANGE, symbol, msg.bid_price, msg.ask_price, _event_time(msg.engine_time_us, msg.event_time_us), raw=raw)


def l1_book(msg: BookTickerMsg, symbol: str, raw=None) -> L1Book:
    return L1Book(
        EXCHANGE, symbol, msg.bid_price, msg.bid_qty, msg.ask_price, msg.ask_qty,
        _event_time(msg.engine_time_us, msg.event_time_us), raw=raw,
    )


def candle(msg: KlineMsg, symbol: str, interval: str, raw=None) -> Candle:
    return Candle(
        EXCHANGE, symbol, iso_to_s(msg.start), iso_to_s(msg.end), interval, msg.trades,
        msg.open, msg.close, msg.high, msg.low, msg.volume, msg.closed, us_to_s(msg.event_time_us), raw=raw,
    )


def funding(msg: MarkPriceMsg, symbol: str, raw=None) -> Funding:
    next_time: Optional[float] = None if msg.next_funding_ms is None else ms_to_s(msg.next_funding_ms)
    return Funding(
        EXCHANGE, symbol, msg.mark_price, msg.funding_rate, next_time,
        _event_time(msg.engine_time_us, msg.event_time_us), raw=raw,
    )


def index(msg: MarkPriceMsg, symbol: str, raw=None) -> Optional[Index]:
    if msg.index_price is None:
        return None
    return Index(EXCHANGE, symbol, msg.index_price, _event_time(msg.engine_time_us, msg.event_time_us), raw=raw)


def open_interest(msg: OpenInterestMsg, symbol: str, raw=None) -> OpenInterest:
    return OpenInterest(EXCHANGE, symbol, msg.open_interest, us_to_s(msg.event_time_us), raw=raw)


_LIQUIDATION_SIDE = {"Bid": BUY, "Ask": SELL}


def liquidation(msg: LiquidationMsg, symbol: str, raw=None) -> Liquidation:
    # S is the side of the liquidation order (Bid buys back a short, Ask sells a long).
    # The event carries no id and is only published once filled.
    side = _LIQUIDATION_SIDE.get(msg.side, msg.side.lower())
    # E is used because the documented T can be a placeholder (the docs example has T: 567).
    return Liquidation(EXCHANGE, symbol, side, msg.quantity, msg.price, None, FILLED, us_to_s(msg.event_time_us), raw=raw)
