"""CcxtBackpackFeed: the Backpack channels through ccxt.pro, selected by CRYPTOFEED_BACKPACK_NATIVE=false.

A fallback for when the native feed cannot be used. One asyncio task per (channel, symbol) awaits a
ccxt ``watch_*`` call in a loop and turns each result into the cryptofeed object the native feed
emits (Decimal values, float-second timestamps). ccxt hands out floats, so every number goes
str -> Decimal; where ccxt keeps the wire strings (``info``) those are used instead.

ccxt is an optional extra: it is imported when a feed is built, never at package import.
See docs/ccxt.md for what differs from the native feed.
"""
from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Optional

from cryptofeed.defines import BUY, CANDLES, FUNDING, L2_BOOK, SELL, TICKER, TRADES
from cryptofeed.feed import Feed
from cryptofeed.symbols import Symbol
from cryptofeed.types import Candle, Funding, OrderBook, Ticker, Trade

from . import symbols as symbol_service
from .config import BackpackConfig
from .errors import (BackpackConfigError, BackpackConnectionError, BackpackError, BackpackRateLimitError,
                     BackpackRegionRestrictedError, BackpackRestError, BackpackServerError, BackpackSymbolError)
from .constants import CANDLE_INTERVALS, EXCHANGE_ID
from .feed.config_split import requested_channels as _requested_channels, split_config as _split_config
from .feed.core import _FEED_KWARGS
from .observability.metrics import FeedMetrics as Metrics
from .observability.sources import ccxt_health, ccxt_stream_names
from .transport.policy import retry_delay
from .transport.proxy import rest_proxy_route, websocket_proxy_route

LOG = logging.getLogger("feedhandler")

BACKPACK = EXCHANGE_ID
INSTALL_HINT = "pip install 'cryptofeed-backpack[ccxt]'"
CCXT_KWARGS = {"rest_only", "rest_fallback_after", "poll_interval_s"}
# Fixed-length candle intervals only: ccxt reports a candle by its close time, and the start is
# derived as close - interval (a calendar month has no fixed length).
INTERVAL_SECONDS = {name: seconds for name, seconds in CANDLE_INTERVALS.items() if name != "1month"}
PERP_SUFFIX = "PERP"  # cryptofeed's normalized perpetual suffix (BTC-USDC-PERP)


# ---- pure helpers ------------------------------------------------------------------------------

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


# What translate_error() can return, pre-created on backpack_feed_errors_total{error}.
TRANSLATED_ERRORS = ("BackpackRateLimitError", "BackpackRegionRestrictedError", "BackpackRestError",
                     "BackpackServerError", "BackpackConnectionError")
_HTTP_STATUS = re.compile(r"\b(4\d\d|5\d\d)\b")


def translate_error(exc: BaseException, ccxt_module) -> BackpackError:
    """A ccxt (or aiohttp) failure -> our typed error with the fix in its text."""
    if isinstance(exc, BackpackError):
        return exc
    try:
        text = str(exc)[:300]
    except Exception:  # a wrapped exception whose __str__ fails must not hide the original failure
        text = type(exc).__name__
    status = getattr(exc.args[0], "status", None) if exc.args else None  # aiohttp handshake error inside NetworkError
    if status is None:
        match = _HTTP_STATUS.search(text)
        status = int(match.group(1)) if match else None
    if isinstance(exc, ccxt_module.RateLimitExceeded) or status == 429 or "TOO_MANY_REQUESTS" in text:
        return BackpackRateLimitError.from_reply(429, "TOO_MANY_REQUESTS", text, fix="backing off; subscribe fewer symbols per process or lower poll_interval_s")
    if status in (451, 403) or "FORBIDDEN" in text:
        return BackpackRegionRestrictedError.from_reply(status, "FORBIDDEN", text, fix="the exchange refuses this location: set BackpackConfig.proxies to an allowed region")
    if isinstance(exc, ccxt_module.DDoSProtection):
        return BackpackRateLimitError.from_reply(status, None, text, fix="backing off; the exchange or its CDN throttled this client")
    if isinstance(exc, (ccxt_module.BadSymbol, ccxt_module.BadRequest)):
        return BackpackRestError.from_reply(status, None, text, fix="check the symbol is an open Backpack market")
    if isinstance(exc, ccxt_module.ExchangeNotAvailable) or (status is not None and status >= 500):
        return BackpackServerError.from_reply(status, None, text, fix="retrying with backoff; check rest_url/ws_url if it persists")
    return BackpackConnectionError(f"{type(exc).__name__}: {text}", fix="retrying with backoff; check rest_url, ws_url, ca_file and proxies")


def import_ccxt():
    try:
        import ccxt
        import ccxt.pro as ccxtpro
    except ImportError as exc:
        raise BackpackConfigError.for_field("native", f"CcxtBackpackFeed needs ccxt, which is not installed ({exc})",
                                  f"install the extra with {INSTALL_HINT}, or use the native feed (CRYPTOFEED_BACKPACK_NATIVE=true)") from None
    return ccxt, ccxtpro


def make_exchange(config: BackpackConfig, ccxt_module, ccxtpro_module):
    """A ccxt.pro backpack pointed at config's endpoints, CA and proxies; no network call."""

    class BackpackForCryptofeed(ccxtpro_module.backpack):
        snapshot_limit = config.snapshot_limit
        gaps = 0  # per instance once incremented

        async def fetch_order_book(self, symbol, limit=None, params={}):
            # ccxt sends no limit, and Backpack's default differs (PROTOCOL §1.2): always ask explicitly.
            return await super().fetch_order_book(symbol, limit, {"limit": limit or self.snapshot_limit, **params})

        def handle_order_book(self, client, message):
            # ccxt applies any delta newer than its book; a skipped update id means the book is wrong.
            data = message.get("data") or {}
            symbol = self.safe_symbol(data.get("s"))
            stored = self.orderbooks.get(symbol)
            first = self.safe_integer(data, "U")
            if stored is not None and stored["nonce"] is not None and first is not None and first > stored["nonce"] + 1:
                self.gaps += 1
                LOG.warning("%s(ccxt): %s depth gap (U=%d after u=%d): re-snapshotting", BACKPACK, symbol, first, stored["nonce"])
                self.orderbooks[symbol] = self.order_book()
            return super().handle_order_book(client, message)

        def handle_errors(self, code, reason, url, method, headers, body, response, request_headers, request_body):
            # Keep the HTTP status in the error text: ccxt otherwise reports only the JSON code.
            if code == 429:
                raise ccxt_module.RateLimitExceeded(f"{self.id} HTTP 429 {body}")
            if code in (403, 451):
                raise ccxt_module.ExchangeNotAvailable(f"{self.id} HTTP {code} {body}")
            return super().handle_errors(code, reason, url, method, headers, body, response, request_headers, request_body)

    exchange = BackpackForCryptofeed({
        "enableRateLimit": True,
        "timeout": int(config.rest.timeout_s * 1000),
        "aiohttp_trust_env": False,  # proxies are resolved by proxy.py, the same rule as the native feed
        "options": {"watchOrderBook": {"snapshotDelay": 0}},
    })
    exchange.has["fetchCurrencies"] = False  # /assets is not needed for market data
    exchange.urls["api"]["public"] = config.rest_url
    exchange.urls["api"]["private"] = config.rest_url
    exchange.urls["api"]["ws"] = {"public": config.ws_url, "private": config.ws_url}
    ssl_context = config.ssl_context()
    if ssl_context is not None:
        exchange.ssl_context = ssl_context  # used by ccxt's aiohttp session for REST and websockets
    rest_proxy, ws_proxy = rest_proxy_route(config), websocket_proxy_route(config)
    if rest_proxy.url:
        setattr(exchange, "socksProxy" if rest_proxy.is_socks else "httpsProxy", rest_proxy.url)
    if ws_proxy.url:
        setattr(exchange, "wsSocksProxy" if ws_proxy.is_socks else "wssProxy", ws_proxy.url)
    return exchange


# ---- the feed ----------------------------------------------------------------------------------

class CcxtBackpackFeed(Feed):
    id = BACKPACK
    websocket_endpoints = []
    rest_endpoints = []
    valid_candle_intervals = tuple(INTERVAL_SECONDS)
    websocket_channels = {TRADES: "trade", L2_BOOK: "depth", TICKER: "bookTicker", CANDLES: "kline", FUNDING: "markPrice"}

    @classmethod
    def symbol_mapping(cls, refresh: bool = False, headers: dict = None) -> dict:
        return symbol_service.symbol_mapping_for(cls, refresh)

    def __init__(self, config: Any = None, rest_only: bool = False, rest_fallback_after: int = 0,
                 poll_interval_s: float = 1.0, **kwargs: Any):
        unknown = sorted(set(kwargs) - _FEED_KWARGS)
        if unknown:
            raise BackpackConfigError.for_field(unknown[0], "is not a CcxtBackpackFeed argument",
                                      f"arguments: {', '.join(sorted(_FEED_KWARGS | CCXT_KWARGS))}")
        wanted = _requested_channels(kwargs)
        unsupported = sorted(c for c in wanted if c not in self.websocket_channels)
        if unsupported:
            raise BackpackConfigError.for_field("channels", f"{unsupported} are not available through ccxt",
                                      f"CcxtBackpackFeed supports {sorted(self.websocket_channels)}; use the native feed "
                                      "(CRYPTOFEED_BACKPACK_NATIVE=true) for the others")
        if rest_only and CANDLES in wanted:
            raise BackpackConfigError.for_field("rest_only", "CANDLES cannot be polled over REST by this feed", "drop CANDLES or rest_only")
        self.ccxt, self.ccxtpro = import_ccxt()
        self.backpack_config, cryptofeed_config = _split_config(config)
        bp = self.backpack_config
        with symbol_service.loading_for(type(self), bp):
            super().__init__(config=cryptofeed_config, **kwargs)
        if FUNDING in wanted:
            spot = [s for s in wanted[FUNDING] if not self.std_symbol_to_exchange_symbol(s).endswith("_PERP")]
            if spot:
                raise BackpackConfigError.for_field("symbols", f"FUNDING needs perpetual markets, got {spot}", "use BASE-USDC-PERP symbols")
        self.rest_only = rest_only
        self.rest_fallback_after = rest_fallback_after
        self.poll_interval_s = poll_interval_s
        self.metrics = Metrics(feed="ccxt")
        self.exchange = make_exchange(bp, self.ccxt, self.ccxtpro)
        self._wanted = {channel: [s.normalized if isinstance(s, Symbol) else s for s in syms] for channel, syms in wanted.items()}
        self._tasks: list[asyncio.Task] = []
        self._running = False
        self._markets_lock: Optional[asyncio.Lock] = None
        self._failures: dict[tuple[str, str], int] = {}
        self._last_trade_id: dict[str, int] = {}
        self._open_candle: dict[str, list] = {}
        self.last_error: Optional[BackpackError] = None
        self._stream_names = ccxt_stream_names(self)
        self.metrics.expect_streams(self._stream_names.values())
        self.metrics.expect_errors(TRANSLATED_ERRORS)

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._running = True
        self.metrics.subscribed()
        for channel, symbols in self._wanted.items():
            for normalized in symbols:
                task = loop.create_task(self._supervise(channel, normalized), name=f"ccxt-{BACKPACK}-{channel}-{normalized}")
                self._tasks.append(task)
        for callbacks in self.callbacks.values():
            for callback in callbacks:
                if hasattr(callback, "start"):
                    callback.start(loop, multiprocess=self.config.backend_multiprocessing)

    def stop(self) -> None:
        self._running = False
        self.metrics.stopped()
        for task in self._tasks:
            task.cancel()

    async def shutdown(self) -> None:
        self.stop()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.exchange.close()
        await super().shutdown()

    # ---- markets ----------------------------------------------------------------------------

    async def market(self, normalized: str) -> MarketRef:
        if self._markets_lock is None:
            self._markets_lock = asyncio.Lock()
        async with self._markets_lock:
            if not self.exchange.markets:
                await self.exchange.load_markets()
        return resolve_market(normalized, self.std_symbol_to_exchange_symbol(normalized), self.exchange.markets_by_id)

    # ---- supervision: retry with backoff, optional REST polling ------------------------------

    async def _supervise(self, channel: str, normalized: str) -> None:
        use_rest = self.rest_only or channel == FUNDING  # ccxt.pro has no watchFundingRate for Backpack
        while self._running:
            try:
                ref = await self.market(normalized)
                if use_rest:
                    await self._poll(channel, ref)
                else:
                    await self._watch(channel, ref, on_data=lambda: self._reset_failures(channel, normalized))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is logged, counted and retried
                error = translate_error(exc, self.ccxt)
                self.last_error = error
                failures = self._failures.get((channel, normalized), 0) + 1
                self._failures[(channel, normalized)] = failures
                self.metrics.inc(f"ccxt_errors_{type(error).__name__}")
                policy = self.backpack_config.rest
                delay = retry_delay(failures, error, policy.backoff_base_s, policy.backoff_cap_s)
                LOG.warning("%s(ccxt) %s %s failed (%d in a row): %s; retrying in %.1fs",
                            self.id, channel, normalized, failures, error, delay)
                if not use_rest and self.rest_fallback_after and failures >= self.rest_fallback_after and channel != CANDLES:
                    use_rest = True
                    LOG.warning("%s(ccxt) %s %s: websocket failed %d times, polling REST every %.1fs from now on",
                                self.id, channel, normalized, failures, self.poll_interval_s)
                await asyncio.sleep(delay)

    def _reset_failures(self, channel: str, normalized: str) -> None:
        self._failures.pop((channel, normalized), None)
        self.metrics.frame(self._stream_names[(channel, normalized)], time.time())

    async def _watch(self, channel: str, ref: MarketRef, on_data) -> None:
        ex = self.exchange
        while self._running:
            if channel == TRADES:
                trades = await ex.watch_trades(ref.unified)
                on_data()
                await self._emit_trades(ref, trades, ws=True)
            elif channel == L2_BOOK:
                book = await ex.watch_order_book(ref.unified)
                on_data()
                await self._emit_book(ref, book)
            elif channel == TICKER:
                tickers = await ex.watch_bids_asks([ref.unified])
                on_data()
                if ref.unified in tickers:
                    await self._emit_ticker(ref, tickers[ref.unified])
            elif channel == CANDLES:
                candles = await ex.watch_ohlcv(ref.unified, self.candle_interval)
                on_data()
                await self._emit_candles(ref, candles)

    async def _poll(self, channel: str, ref: MarketRef) -> None:
        ex = self.exchange
        while self._running:
            if channel == TRADES:
                await self._emit_trades(ref, await ex.fetch_trades(ref.unified, limit=100), ws=False)
            elif channel == L2_BOOK:
                await self._emit_book(ref, await ex.fetch_order_book(ref.unified))
            elif channel == TICKER:
                await self._emit_ticker_from_book(ref, await ex.fetch_order_book(ref.unified, 5))
            elif channel == FUNDING:
                await self._emit_funding(ref, await ex.fetch_funding_rate(ref.unified))
            self._reset_failures(channel, ref.normalized)
            await asyncio.sleep(self.poll_interval_s)

    # ---- ccxt structures -> cryptofeed objects -------------------------------------------------

    async def _emit_trades(self, ref: MarketRef, trades: list, ws: bool) -> None:
        last = self._last_trade_id.get(ref.normalized, -1)
        for t in sorted(trades, key=lambda t: int(t["id"])):
            trade_id = int(t["id"])
            if trade_id <= last:
                continue  # already delivered (REST polling overlap, or a reconnect replay)
            last = trade_id
            info = t.get("info") or {}
            price = to_decimal(info.get("p", info.get("price", t["price"])))
            amount = to_decimal(info.get("q", info.get("quantity", t["amount"])))
            # stream T is the engine time in µs (what the native feed reports); REST gives ms via ccxt
            ts = int(info["T"]) / 1e6 if ws and info.get("T") is not None else t["timestamp"] / 1000.0
            side = BUY if t["side"] == "buy" else SELL
            await self.callback(TRADES, Trade(self.id, ref.normalized, side, amount, price, ts, id=str(trade_id), raw=info), time.time())
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
        ts = int(stamp) / 1e6 if stamp is not None else ticker["timestamp"] / 1000.0
        await self.callback(TICKER, Ticker(self.id, ref.normalized, bid, ask, ts, raw=info), time.time())

    async def _emit_ticker_from_book(self, ref: MarketRef, book: dict) -> None:
        bid = to_decimal(book["bids"][0][0]) if book["bids"] else None
        ask = to_decimal(book["asks"][0][0]) if book["asks"] else None
        ts = time.time() if book.get("timestamp") is None else book["timestamp"] / 1000.0
        await self.callback(TICKER, Ticker(self.id, ref.normalized, bid, ask, ts, raw=None), time.time())

    async def _emit_candles(self, ref: MarketRef, candles: list) -> None:
        """ccxt drops kline ``X`` (closed) and ``n`` (trades), and stamps a candle with its close time.
        A candle is therefore known closed when a later one starts."""
        seconds = INTERVAL_SECONDS[self.candle_interval]
        for row in candles:
            current = self._open_candle.get(ref.normalized)
            if current is not None and row[0] > current[0]:
                await self._emit_candle(ref, current, seconds, closed=True)
            elif current is not None and row[0] < current[0]:
                continue
            self._open_candle[ref.normalized] = list(row)
            if not self.candle_closed_only:
                await self._emit_candle(ref, row, seconds, closed=False)

    async def _emit_candle(self, ref: MarketRef, row: list, seconds: int, closed: bool) -> None:
        stop = row[0] / 1000.0
        o, h, l, c, v = (to_decimal(x) for x in row[1:6])
        candle = Candle(self.id, ref.normalized, stop - seconds, stop, self.candle_interval, None, o, c, h, l, v, closed, time.time(), raw=row)
        await self.callback(CANDLES, candle, time.time())

    async def _emit_funding(self, ref: MarketRef, rate: dict) -> None:
        info = rate.get("info") or {}
        mark = to_decimal(info.get("markPrice", rate.get("markPrice")))
        value = to_decimal(info.get("fundingRate", rate.get("fundingRate")))
        nxt = rate.get("nextFundingTimestamp")
        funding = Funding(self.id, ref.normalized, mark, value, None if nxt is None else nxt / 1000.0, time.time(), raw=info)
        await self.callback(FUNDING, funding, time.time())

    def health(self):
        """The same ``HealthReport`` as the native feed's (docs/operations.md)."""
        return ccxt_health(self)

    def metrics_snapshot(self) -> dict:
        snap = self.metrics.snapshot()
        snap["ccxt_book_gaps"] = self.exchange.gaps
        return snap
