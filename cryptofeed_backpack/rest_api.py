"""cryptofeed's REST interface for Backpack (docs/rest.md).

``BackpackRestMixin`` implements the async methods of ``cryptofeed.exchange.RestExchange``; the
``*_sync`` twins come from RestExchange. Like cryptofeed's own Coinbase mixin, results are the
cryptofeed types (Trade, Ticker, Candle, OrderBook, Funding, OpenInterest, Balance, OrderInfo,
Position, Fill) with Decimal values and float-second timestamps; ``raw`` holds the decoded reply.

Symbols in and out are cryptofeed's normalised ones (``BTC-USDC-PERP``); the host class provides
``std_symbol_to_exchange_symbol`` / ``exchange_symbol_to_std_symbol`` (cryptofeed's Exchange base)
and ``backpack_config``. ``retry_count``/``retry_delay`` are accepted for signature compatibility
and ignored: BackpackRestClient applies ``BackpackConfig.rest`` (retries, budget, breaker).
"""
from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, AsyncIterator, Optional

from cryptofeed.defines import (
    BALANCES, BOTH, BUY, CANDLES, FUNDING, L2_BOOK, LONG, MAKER, OPEN_INTEREST, ORDERS, POSITIONS, SELL, SHORT,
    TAKER, TICKER, TRADE_HISTORY, TRADES,
)
from cryptofeed.exchange import RestExchange
from cryptofeed.types import Candle, Fill, Funding, OpenInterest, OrderBook, OrderInfo, Position, Ticker, Trade

from . import private
from .parse import iso_to_s

EXCHANGE = "BACKPACK"
PAGE = 1000  # max limit of /trades, /trades/history and /wapi/v1/history/fills
KLINE_SECONDS = {
    "1s": 1, "1m": 60, "3m": 180, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200, "4h": 14400,
    "6h": 21600, "8h": 28800, "12h": 43200, "1d": 86400, "3d": 259200, "1w": 604800, "1month": 2592000,
}


def _dec(value: Any) -> Optional[Decimal]:
    return None if value is None or value == "" else Decimal(str(value))


def _ms_or_iso_to_s(value: Any) -> Optional[float]:
    """Backpack sends some times as ms integers and others as naive-UTC ISO strings (see docs/rest.md)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return int(value) / 1000.0
    return iso_to_s(value)


class BackpackRestMixin(RestExchange):
    api = "https://api.backpack.exchange"
    rest_channels = (TRADES, TICKER, L2_BOOK, CANDLES, FUNDING, OPEN_INTEREST, BALANCES, ORDERS, POSITIONS, TRADE_HISTORY)
    order_options = {}

    # ---- plumbing ---------------------------------------------------------------------------

    @property
    def _rest_exchange_id(self) -> str:
        return getattr(self, "id", None) or EXCHANGE

    def _rest(self):
        client = getattr(self, "rest_client", None)
        if client is None:
            from .config import BackpackConfig
            from .rest import BackpackRestClient

            config = getattr(self, "backpack_config", None) or BackpackConfig()
            client = BackpackRestClient(config, metrics=getattr(self, "metrics", None))
            self.rest_client = client
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
        data = await self._rest().depth(self._x(symbol), 5)
        bids, asks = data.get("bids") or [], data.get("asks") or []
        best_bid = max((Decimal(p) for p, _ in bids), default=None)
        best_ask = min((Decimal(p) for p, _ in asks), default=None)
        return Ticker(self._rest_exchange_id, symbol, best_bid, best_ask, int(data["timestamp"]) / 1_000_000, raw=data)

    async def l2_book(self, symbol: str, retry_count=1, retry_delay=60) -> OrderBook:
        data = await self._rest().depth(self._x(symbol), 1000)
        return self._book_from_depth(symbol, data)

    def _book_from_depth(self, symbol: str, data: dict) -> OrderBook:
        # bids arrive ascending (best bid LAST); the book sorts itself, so order does not matter,
        # and levels are keyed by Decimal because REST and WS format the same price differently
        book = OrderBook(
            self._rest_exchange_id, symbol,
            bids={Decimal(p): Decimal(q) for p, q in data.get("bids") or []},
            asks={Decimal(p): Decimal(q) for p, q in data.get("asks") or []},
        )
        book.sequence_number = int(data["lastUpdateId"])
        book.timestamp = int(data["timestamp"]) / 1_000_000
        book.raw = data
        return book

    def _trade(self, symbol: str, t: dict) -> Trade:
        # isBuyerMaker: the buyer rested on the book, so the taker (aggressor) sold
        side = SELL if t["isBuyerMaker"] else BUY
        return Trade(self._rest_exchange_id, symbol, side, Decimal(t["quantity"]), Decimal(t["price"]),
                     int(t["timestamp"]) / 1000.0, id=str(t["id"]), raw=t)

    async def trades(self, symbol: str, start=None, end=None, retry_count=1, retry_delay=60) -> AsyncIterator[list[Trade]]:
        """Without ``start``: one list of the latest trades. With ``start``: every trade in
        [start, end], paging ``/api/v1/trades/history`` back by offset (it is newest-first), then
        yielding the pages in chronological order, each sorted by time."""
        client = self._rest()
        xsym = self._x(symbol)
        start, end = self._interval_normalize(start, end)
        if not start:
            recent = await client.trades(xsym, PAGE)
            yield sorted((self._trade(symbol, t) for t in recent), key=lambda tr: (tr.timestamp, int(tr.id)))
            return
        pages: list[list[Trade]] = []
        offset = 0
        while True:
            page = await client.trades_history(xsym, PAGE, offset)
            if not page:
                break
            trades = [self._trade(symbol, t) for t in page]
            pages.append([t for t in trades if start <= t.timestamp <= end])
            offset += len(page)
            if len(page) < PAGE or min(t.timestamp for t in trades) < start:
                break
        for chunk in reversed(pages):
            if chunk:
                yield sorted(chunk, key=lambda tr: (tr.timestamp, int(tr.id)))

    async def candles(self, symbol: str, start=None, end=None, interval="1m", retry_count=1, retry_delay=60) -> AsyncIterator[list[Candle]]:
        """Klines in [start, end] (``startTime``/``endTime`` are UTC seconds), paged forward."""
        if interval not in KLINE_SECONDS:
            raise ValueError(f"interval {interval!r} is not a Backpack kline interval; use one of {', '.join(KLINE_SECONDS)}")
        start, end = self._interval_normalize(start, end)
        if not start:
            end = time.time()
            start = end - KLINE_SECONDS[interval] * PAGE
        client, xsym = self._rest(), self._x(symbol)
        cursor = int(start)
        while cursor < end:
            data = await client.klines(xsym, interval, cursor, int(end))
            batch = [self._candle(symbol, interval, k) for k in data]
            batch = [c for c in batch if c.start >= cursor and c.start < end]
            if not batch:
                break
            yield batch
            nxt = int(max(c.stop for c in batch))
            if nxt <= cursor:
                break
            cursor = nxt

    def _candle(self, symbol: str, interval: str, k: dict) -> Candle:
        start_s, stop_s = iso_to_s(k["start"]), iso_to_s(k["end"])
        trades = k.get("trades")
        return Candle(
            self._rest_exchange_id, symbol, start_s, stop_s, interval, None if trades is None else int(trades),
            _dec(k.get("open")), _dec(k.get("close")), _dec(k.get("high")), _dec(k.get("low")), _dec(k.get("volume")),
            stop_s <= time.time(), stop_s, raw=k,
        )

    async def funding(self, symbol: str, retry_count=1, retry_delay=60) -> list[Funding]:
        """Funding history (``/api/v1/fundingRates``, newest 1000 intervals), oldest first.
        The history has neither mark price nor next funding time: both are None."""
        data = await self._rest().funding_rates(self._x(symbol), PAGE, 0)
        out = [
            Funding(self._rest_exchange_id, symbol, None, Decimal(f["fundingRate"]), None, iso_to_s(f["intervalEndTimestamp"]), raw=f)
            for f in data
        ]
        return sorted(out, key=lambda f: f.timestamp)

    async def open_interest(self, symbol: str, retry_count=1, retry_delay=60) -> OpenInterest:
        xsym = self._x(symbol)
        data = await self._rest().open_interest(xsym)
        entry = next((d for d in data if d.get("symbol") == xsym), None)
        if entry is None:
            from .errors import BackpackSymbolError

            raise BackpackSymbolError(f"/api/v1/openInterest has no entry for {xsym}; open interest exists for perpetual markets only")
        return OpenInterest(self._rest_exchange_id, symbol, Decimal(entry["openInterest"]), int(entry["timestamp"]) / 1000.0, raw=entry)

    # ---- signed -----------------------------------------------------------------------------

    async def balances(self) -> list:
        """``/api/v1/capital``: one Balance per asset (balance = available+locked+staked, reserved = locked+staked)."""
        return private.parse_balances(await self._rest().balances())

    async def orders(self, symbol: str = None) -> list[OrderInfo]:
        data = await self._rest().open_orders(self._x(symbol) if symbol else None)
        return [self._order_info(o) for o in data]

    def _order_info(self, o: dict) -> OrderInfo:
        quantity = _dec(o.get("quantity"))
        executed = _dec(o.get("executedQuantity")) or Decimal(0)
        side = private.SIDE_TO_CRYPTOFEED.get(o.get("side"), (o.get("side") or "").lower())
        return OrderInfo(
            self._rest_exchange_id, self._std(o["symbol"]), str(o["id"]), side,
            private.order_status(None, o.get("status"), quantity, executed),
            private.order_type(o.get("orderType"), _dec(o.get("triggerPrice"))),
            _dec(o.get("price")), quantity, None if quantity is None else quantity - executed,
            _ms_or_iso_to_s(o.get("createdAt")),
            client_order_id=None if o.get("clientId") is None else str(o["clientId"]), raw=o,
        )

    async def positions(self, **kwargs) -> list[Position]:
        """``/api/v1/position``. The reply carries no time, so ``timestamp`` is when it was received."""
        data = await self._rest().positions()
        received = time.time()
        out = []
        for p in data:
            net = Decimal(p["netQuantity"])
            side = LONG if net > 0 else SHORT if net < 0 else BOTH
            out.append(Position(
                self._rest_exchange_id, self._std(p["symbol"]), net, _dec(p.get("entryPrice")), side,
                _dec(p.get("pnlUnrealized")), received, raw=p,
            ))
        return out

    async def trade_history(self, symbol: str = None, start=None, end=None) -> list[Fill]:
        """Own fills from ``/wapi/v1/history/fills`` (``from``/``to`` in ms), paged by offset, oldest first.
        The fee currency is in ``fill.raw['feeSymbol']`` (cryptofeed's Fill has no field for it)."""
        start, end = self._interval_normalize(start, end)
        client = self._rest()
        params_symbol = self._x(symbol) if symbol else None
        fills: list[Fill] = []
        offset = 0
        while True:
            page = await client.fill_history(
                params_symbol, PAGE, offset,
                from_ms=int(start * 1000) if start else None, to_ms=int(end * 1000) if start else None,
            )
            fills += [self._fill(f) for f in page]
            offset += len(page)
            if len(page) < PAGE:
                break
        return sorted(fills, key=lambda f: f.timestamp)

    def _fill(self, f: dict) -> Fill:
        side = private.SIDE_TO_CRYPTOFEED.get(f.get("side"), (f.get("side") or "").lower())
        is_maker = f.get("isMaker")
        return Fill(
            self._rest_exchange_id, self._std(f["symbol"]), side, Decimal(f["quantity"]), Decimal(f["price"]),
            _dec(f.get("fee")), str(f.get("tradeId")), str(f.get("orderId")), None,
            None if is_maker is None else (MAKER if is_maker else TAKER), _ms_or_iso_to_s(f.get("timestamp")), raw=f,
        )
