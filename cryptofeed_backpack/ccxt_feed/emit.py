"""ccxt structures -> the cryptofeed callbacks, for CcxtBackpackFeed (a mixin over cryptofeed's Feed).

Trades and candles go through the native feed's parsers wherever ccxt kept the wire frame, so the two
feeds report identical values; see docs/ccxt-audit.md for each field ccxt itself gets wrong.
"""
from __future__ import annotations

import time

from cryptofeed.defines import CANDLES, FUNDING, L2_BOOK, TICKER, TRADES
from cryptofeed.types import Funding, OrderBook, Ticker

from ..wire.common import ms_to_s, us_to_s
from .convert import MarketRef, candle_from_kline, levels_to_dict, to_decimal, trade_from_ccxt


class CcxtEmitMixin:
    """Needs ``self.id``, ``self.callback``, ``self.book_callback``, ``self.max_depth``,
    ``self.candle_interval``, ``self.candle_closed_only``, ``self.exchange`` and ``self.metrics``."""

    def _init_emit_state(self) -> None:
        self._last_trade_id: dict[str, int] = {}  # normalized -> highest trade id delivered
        self._last_kline_at: dict[str, float] = {}  # normalized -> E of the newest kline frame delivered

    async def _emit_trades(self, ref: MarketRef, trades: list) -> None:
        last = self._last_trade_id.get(ref.normalized, -1)
        for t in sorted(trades, key=lambda t: int(t["id"])):
            trade_id = int(t["id"])
            if trade_id <= last:
                continue  # already delivered (REST polling overlap, or a reconnect replay)
            last = trade_id
            await self.callback(TRADES, trade_from_ccxt(t, ref.normalized), time.time())
        self._last_trade_id[ref.normalized] = last

    async def _emit_book(self, ref: MarketRef, book: dict) -> None:
        depth = self.max_depth
        ob = OrderBook(self.id, ref.normalized, bids=levels_to_dict(book["bids"], depth),
                       asks=levels_to_dict(book["asks"], depth), max_depth=depth)
        ts = None if book.get("timestamp") is None else book["timestamp"] / 1000.0
        self.metrics.set("ccxt_book_gaps", self.exchange.gaps)
        # Every emission is a full snapshot (delta=None): ccxt coalesces deltas between awaits.
        await self.book_callback(L2_BOOK, ob, time.time(), timestamp=ts, raw=None, sequence_number=book.get("nonce"), delta=None)

    async def _emit_ticker(self, ref: MarketRef, ticker: dict) -> None:
        info = ticker.get("info") or {}
        bid, ask = to_decimal(info.get("b", ticker.get("bid"))), to_decimal(info.get("a", ticker.get("ask")))
        stamp = info.get("T") or info.get("E")
        ts = us_to_s(int(stamp)) if stamp is not None else ticker["timestamp"] / 1000.0
        await self.callback(TICKER, Ticker(self.id, ref.normalized, bid, ask, ts, raw=info), time.time())

    async def _emit_ticker_from_book(self, ref: MarketRef, book: dict) -> None:
        bid = to_decimal(book["bids"][0][0]) if book["bids"] else None
        ask = to_decimal(book["asks"][0][0]) if book["asks"] else None
        ts = time.time() if book.get("timestamp") is None else book["timestamp"] / 1000.0
        await self.callback(TICKER, Ticker(self.id, ref.normalized, bid, ask, ts, raw=None), time.time())

    async def _emit_klines(self, ref: MarketRef, frames: list) -> None:
        """Raw kline frames (kept by the exchange wrapper) -> Candles, as the native feed reports them:
        start and close from ``t``/``T``, ``closed`` from ``X``, ``trades`` from ``n``."""
        newest = self._last_kline_at.get(ref.normalized, -1.0)
        for data in frames:
            candle = candle_from_kline(data, ref.normalized, self.candle_interval)
            if candle.timestamp <= newest:
                continue  # ccxt replays nothing, but a reconnect may resend the last frame
            newest = candle.timestamp
            if self.candle_closed_only and not candle.closed:
                continue
            await self.callback(CANDLES, candle, time.time())
        self._last_kline_at[ref.normalized] = newest

    async def _emit_funding(self, ref: MarketRef, rate: dict) -> None:
        info = rate.get("info") or {}
        mark = to_decimal(info.get("markPrice", rate.get("markPrice")))
        value = to_decimal(info.get("fundingRate", rate.get("fundingRate")))
        nxt = info.get("nextFundingTimestamp", rate.get("nextFundingTimestamp"))
        funding = Funding(self.id, ref.normalized, mark, value, None if nxt is None else ms_to_s(int(nxt)), time.time(), raw=info)
        await self.callback(FUNDING, funding, time.time())
