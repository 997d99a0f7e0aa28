"""Pure conversions between ccxt's structures and names and this package's (no I/O, no ccxt import).

ccxt hands out floats, so a number goes str -> Decimal; where ccxt keeps the wire message in a
structure's ``info`` (WS trades, WS klines) the native feed's own parsers read that instead, so both
feeds report the same values (docs/ccxt-audit.md lists where ccxt's own fields differ from the wire).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable, Optional

import msgspec
from cryptofeed.defines import BUY, CANDLES, FUNDING, L2_BOOK, SELL, TICKER, TRADES
from cryptofeed.types import Trade

from ..constants import EXCHANGE_ID, STREAM_FOR_CHANNEL
from ..errors import BackpackSymbolError
from ..wire import market, market_rest
from ..wire.market import KlineMsg, TradeMsg
from ..wire.market_rest import RestTrade

BACKPACK = EXCHANGE_ID
PERP_SUFFIX = "PERP"  # cryptofeed's normalized perpetual suffix (BTC-USDC-PERP)

# the channels ccxt.pro watches over the websocket (FUNDING is polled: it has no watchFundingRate)
WATCHED = (TRADES, L2_BOOK, TICKER, CANDLES)
# ccxt `has` capability each channel relies on, by transport.
WATCH_CAPABILITY = {TRADES: "watchTrades", L2_BOOK: "watchOrderBook", TICKER: "watchBidsAsks", CANDLES: "watchOHLCV"}
POLL_CAPABILITY = {TRADES: "fetchTrades", L2_BOOK: "fetchOrderBook", TICKER: "fetchOrderBook", FUNDING: "fetchFundingRate"}


def to_decimal(value: Any) -> Optional[Decimal]:
    """ccxt number or string -> Decimal. Floats go through str (shortest repr), never Decimal(float)."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, bool):
        raise TypeError("a boolean is not a price or quantity")
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def levels_to_dict(levels: list, depth: int = 0) -> dict:
    """ccxt ``[[price, amount], ...]`` (best first) -> {Decimal price: Decimal amount}."""
    if depth:
        levels = levels[:depth]
    return {to_decimal(level[0]): to_decimal(level[1]) for level in levels}


def ccxt_symbol(normalized: str) -> str:
    """cryptofeed 'BTC-USDC-PERP' -> ccxt 'BTC/USDC:USDC'; 'SOL-USDC' -> 'SOL/USDC' (ccxt's parse_market rule:
    perps settle in their quote currency). Used when ccxt's markets are not loaded yet."""
    parts = normalized.split("-")
    if len(parts) == 3 and parts[2] == PERP_SUFFIX:
        return f"{parts[0]}/{parts[1]}:{parts[1]}"
    if len(parts) == 2:
        return f"{parts[0]}/{parts[1]}"
    raise BackpackSymbolError(f"{normalized!r}: only spot BASE-QUOTE and BASE-QUOTE-PERP symbols map to ccxt")


def exchange_symbol_from_ccxt(unified: str) -> str:
    """ccxt 'BTC/USDC:USDC' -> Backpack 'BTC_USDC_PERP'; 'SOL/USDC' -> 'SOL_USDC'."""
    pair, _, settle = unified.partition(":")
    base, _, quote = pair.partition("/")
    return f"{base}_{quote}_PERP" if settle else f"{base}_{quote}"


@dataclass(frozen=True)
class MarketRef:
    """One market under its three names."""

    normalized: str  # cryptofeed: BTC-USDC-PERP
    exchange: str  # Backpack: BTC_USDC_PERP
    unified: str  # ccxt: BTC/USDC:USDC


def resolve_market(normalized: str, exchange_symbol: str, markets_by_id: Optional[dict] = None) -> MarketRef:
    """ccxt's own market table wins (it may rename bases, e.g. kPEPE); the naming rule is the fallback."""
    found = (markets_by_id or {}).get(exchange_symbol)
    unified = found[0]["symbol"] if found else ccxt_symbol(normalized)
    return MarketRef(normalized, exchange_symbol, unified)


def stream_name(channel: str, exchange_symbol: str, candle_interval: str) -> Optional[str]:
    """The Backpack stream a channel's websocket watch subscribes (None: the channel is polled)."""
    if channel not in WATCHED:
        return None
    return STREAM_FOR_CHANNEL[channel].name(exchange_symbol, interval=candle_interval)


def capability_warnings(has: dict, channels: Iterable[str], websocket: bool) -> list[str]:
    """A line for each requested channel whose ccxt capability is not a plain True (ccxt marks
    unfinished features ``'emulated'`` or leaves them None/False)."""
    lines = []
    for channel in sorted(set(channels)):
        table = WATCH_CAPABILITY if websocket and channel in WATCH_CAPABILITY else POLL_CAPABILITY
        name = table.get(channel)
        if name is None:
            continue
        value = has.get(name)
        if value is not True:
            lines.append(f"ccxt marks {name} (used for {channel}) as {value!r}: treat its data as experimental")
    return lines


def trade_from_ccxt(trade: dict, normalized: str) -> Trade:
    """A ccxt trade -> cryptofeed Trade. A WS trade keeps the frame in ``info`` and goes through the
    native parser (engine time ``T``, wire strings); a REST trade has only the ms ``timestamp``."""
    info = trade.get("info") or {}
    if "T" in info and "t" in info:
        return market.trade(msgspec.convert(info, TradeMsg, strict=False), normalized, raw=info)
    if {"id", "price", "quantity", "timestamp", "isBuyerMaker"} <= info.keys():
        return market_rest.trade(msgspec.convert(info, RestTrade, strict=False), normalized, raw=info)
    side = BUY if trade["side"] == "buy" else SELL
    return Trade(BACKPACK, normalized, side, to_decimal(trade["amount"]), to_decimal(trade["price"]),
                 trade["timestamp"] / 1000.0, id=str(trade["id"]), raw=info)


def candle_from_kline(data: dict, normalized: str, interval: str):
    """A raw ``kline`` frame's data -> cryptofeed Candle, through the native parser: start ``t``, close
    ``T``, ``X`` closed and ``n`` trades, all of which ccxt's OHLCV row drops or relabels."""
    return market.candle(msgspec.convert(data, KlineMsg, strict=False), normalized, interval, raw=data)
