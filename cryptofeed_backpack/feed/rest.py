"""cryptofeed's REST interface for Backpack (docs/rest.md).

``BackpackRestMixin`` implements the async methods of ``cryptofeed.exchange.RestExchange``; the
``*_sync`` twins come from RestExchange. Like cryptofeed's own Coinbase mixin, results are the
cryptofeed types (Trade, Ticker, Candle, OrderBook, Funding, OpenInterest, Balance, OrderInfo,
Position, Fill) with Decimal values and float-second timestamps; ``raw`` holds the reply element.

Symbols in and out are cryptofeed's normalised ones (``BTC-USDC-PERP``); the host class provides
``std_symbol_to_exchange_symbol`` / ``exchange_symbol_to_std_symbol`` (cryptofeed's Exchange base)
and ``backpack_config``. ``retry_count``/``retry_delay`` are accepted for signature compatibility
and ignored: BackpackRestClient applies ``BackpackConfig.rest`` (retries, budget, breaker).
"""
from __future__ import annotations

import time
from typing import AsyncIterator

import msgspec
from cryptofeed.defines import (BALANCES, CANDLES, FUNDING, L2_BOOK, OPEN_INTEREST, ORDERS, POSITIONS, TICKER,
                                TRADE_HISTORY, TRADES)
from cryptofeed.exchange import RestExchange
from cryptofeed.types import Candle, Fill, Funding, OpenInterest, OrderBook, OrderInfo, Position, Ticker, Trade

from ..constants import CANDLE_INTERVALS, EXCHANGE_ID, PAGE_LIMIT, REST_URL, Rest
from ..errors import BackpackConfigError, BackpackSymbolError
from ..transport.rest import BackpackRestClient
from ..wire import account, market_rest
from ..wire.common import us_to_s

_TICKER_DEPTH = 5


def _by_time(trades: list[Trade]) -> list[Trade]:
    return sorted(trades, key=lambda tr: (tr.timestamp, int(tr.id)))


class BackpackRestMixin(RestExchange):
    api = REST_URL
    rest_channels = (TRADES, TICKER, L2_BOOK, CANDLES, FUNDING, OPEN_INTEREST, BALANCES, ORDERS, POSITIONS, TRADE_HISTORY)
    order_options = {}

    # ---- plumbing ---------------------------------------------------------------------------

    def backpack_rest(self) -> BackpackRestClient:
        """The host's BackpackRestClient, created on first use (inside the running loop's thread)."""
        client = getattr(self, "rest_client", None)
        if client is None:
            client = self.rest_client = BackpackRestClient(self.backpack_config, metrics=getattr(self, "metrics", None))
        return client

    def _x(self, symbol: str) -> str:
        return self.std_symbol_to_exchange_symbol(symbol)

    def _std(self, exchange_symbol: str) -> str:
        try:
            return self.exchange_symbol_to_std_symbol(exchange_symbol)
        except Exception:  # a market listed after our symbol load: keep the wire name readable
            return exchange_symbol.replace("_", "-")

    # ---- public -----------------------------------------------------------------------------

    async def ticker(self, symbol: str, retry_count=1, retry_delay=60) -> Ticker:
        """Best bid/ask (cryptofeed's Ticker is bid/ask): from ``/api/v1/depth?limit=5``, because
        Backpack's ``/api/v1/ticker`` is a 24 h statistics record without bid or ask."""
        snapshot = await self.backpack_rest().depth(self._x(symbol), _TICKER_DEPTH)
        bid, ask = market_rest.best_bid_ask(snapshot)
        return Ticker(EXCHANGE_ID, symbol, bid, ask, us_to_s(snapshot.timestamp or 0), raw=msgspec.to_builtins(snapshot))

    async def l2_book(self, symbol: str, retry_count=1, retry_delay=60) -> OrderBook:
        snapshot = await self.backpack_rest().depth(self._x(symbol), PAGE_LIMIT)
        return market_rest.book(snapshot, symbol, raw=msgspec.to_builtins(snapshot))

    async def trades(self, symbol: str, start=None, end=None, retry_count=1, retry_delay=60) -> AsyncIterator[list[Trade]]:
        """Without ``start``: one list of the latest trades. With ``start``: every trade in
        [start, end], paging ``/api/v1/trades/history`` back by offset (it is newest-first), then
        yielding the pages in chronological order, each sorted by time."""
        client, xsym = self.backpack_rest(), self._x(symbol)
        start, end = self._interval_normalize(start, end)
        if not start:
            recent = await client.trades(xsym, PAGE_LIMIT)
            yield _by_time([market_rest.trade(t, symbol, raw=msgspec.to_builtins(t)) for t in recent])
            return
        pages: list[list[Trade]] = []
        offset = 0
        while True:
            page = await client.trades_history(xsym, PAGE_LIMIT, offset)
            if not page:
                break
            trades = [market_rest.trade(t, symbol, raw=msgspec.to_builtins(t)) for t in page]
            pages.append([t for t in trades if start <= t.timestamp <= end])
            offset += len(page)
            if len(page) < PAGE_LIMIT or min(t.timestamp for t in trades) < start:
                break
        for chunk in reversed(pages):
            if chunk:
                yield _by_time(chunk)

    async def candles(self, symbol: str, start=None, end=None, interval="1m", retry_count=1, retry_delay=60) -> AsyncIterator[list[Candle]]:
        """Klines in [start, end] (``startTime``/``endTime`` are UTC seconds), paged forward."""
        if interval not in CANDLE_INTERVALS:
            raise BackpackConfigError(f"interval {interval!r} is not a Backpack kline interval",
                                      fix=f"use one of {', '.join(CANDLE_INTERVALS)}", context={"field": "interval"})
        start, end = self._interval_normalize(start, end)
        if not start:
            end = time.time()
            start = end - CANDLE_INTERVALS[interval] * PAGE_LIMIT
        client, xsym = self.backpack_rest(), self._x(symbol)
        cursor = int(start)
        while cursor < end:
            now = time.time()
            batch = [market_rest.candle(k, symbol, interval, now, raw=msgspec.to_builtins(k))
                     for k in await client.klines(xsym, interval, cursor, int(end))]
            batch = [c for c in batch if cursor <= c.start < end]
            if not batch:
                break
            yield batch
            nxt = int(max(c.stop for c in batch))
            if nxt <= cursor:
                break
            cursor = nxt

    async def funding(self, symbol: str, retry_count=1, retry_delay=60) -> list[Funding]:
        """Funding history (``/api/v1/fundingRates``, newest 1000 intervals), oldest first.
        The history has neither mark price nor next funding time: both are None."""
        data = await self.backpack_rest().funding_rates(self._x(symbol), PAGE_LIMIT, 0)
        return sorted((market_rest.funding(f, symbol, raw=msgspec.to_builtins(f)) for f in data), key=lambda f: f.timestamp)

    async def open_interest(self, symbol: str, retry_count=1, retry_delay=60) -> OpenInterest:
        xsym = self._x(symbol)
        entry = next((d for d in await self.backpack_rest().open_interest(xsym) if d.symbol == xsym), None)
        if entry is None:
            raise BackpackSymbolError(f"{Rest.OPEN_INTEREST.path} has no entry for {xsym}",
                                      fix="open interest exists for perpetual markets only; pass a -PERP symbol")
        return market_rest.open_interest(entry, symbol, raw=msgspec.to_builtins(entry))

    # ---- signed -----------------------------------------------------------------------------

    async def balances(self) -> list:
        """``/api/v1/capital``: one Balance per asset (balance = available+locked+staked, reserved = locked+staked)."""
        return account.balances(await self.backpack_rest().balances())

    async def orders(self, symbol: str = None) -> list[OrderInfo]:
        data = await self.backpack_rest().open_orders(self._x(symbol) if symbol else None)
        return [account.rest_order_info(o, self._std, raw=msgspec.to_builtins(o)) for o in data]

    async def positions(self, **kwargs) -> list[Position]:
        """``/api/v1/position``. The reply carries no time, so ``timestamp`` is when it was received."""
        data = await self.backpack_rest().positions()
        received = time.time()
        return [account.rest_position(p, self._std, received, raw=msgspec.to_builtins(p)) for p in data]

    async def trade_history(self, symbol: str = None, start=None, end=None) -> list[Fill]:
        """Own fills from ``/wapi/v1/history/fills`` (``from``/``to`` in ms), paged by offset, oldest first.
        The fee currency is in ``fill.raw['feeSymbol']`` (cryptofeed's Fill has no field for it)."""
        start, end = self._interval_normalize(start, end)
        client = self.backpack_rest()
        params_symbol = self._x(symbol) if symbol else None
        fills: list[Fill] = []
        offset = 0
        while True:
            page = await client.fill_history(params_symbol, PAGE_LIMIT, offset,
                                             from_ms=int(start * 1000) if start else None,
                                             to_ms=int(end * 1000) if start else None)
            fills += [account.rest_fill(f, self._std, raw=msgspec.to_builtins(f)) for f in page]
            offset += len(page)
            if len(page) < PAGE_LIMIT:
                break
        return sorted(fills, key=lambda f: f.timestamp)
