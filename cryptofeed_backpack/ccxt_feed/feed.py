"""CcxtBackpackFeed: the Backpack channels through ccxt.pro, selected by ``native_enabled: false``.

A fallback for when the native feed cannot be used. One asyncio task per (channel, symbol) awaits a
ccxt ``watch_*`` call (or polls a ``fetch_*`` call over REST) in a loop and turns each result into the
cryptofeed object the native feed emits (Decimal values, float-second timestamps). See docs/ccxt.md.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Optional

from cryptofeed.defines import CANDLES, FUNDING, L2_BOOK, TICKER, TRADES
from cryptofeed.feed import Feed
from cryptofeed.symbols import Symbol

from .. import symbols as symbol_service
from ..backend_watch import BackendFailure, drain_backends, feed_backends, start_backends
from ..config import BackpackConfig
from ..delivery import DeliveryGuard
from ..errors import BackpackConfigError, BackpackError
from ..constants import CANDLE_INTERVALS as BACKPACK_INTERVALS
from ..feed.config_split import requested_channels as _requested_channels, split_config as _split_config
from ..feed.core import _FEED_KWARGS
from ..observability.metrics import FeedMetrics
from ..observability.sources import ccxt_health
from ..transport.policy import retry_delay
from .convert import BACKPACK, WATCHED, MarketRef, capability_warnings, resolve_market, stream_name
from .emit import CcxtEmitMixin
from .exchange import import_ccxt, make_exchange
from .policy import TRANSLATED_ERRORS, translate_error

LOG = logging.getLogger("feedhandler")

CCXT_KWARGS = {"rest_only", "websocket", "rest_fallback_after", "poll_interval_s", "snapshot_interval"}
# Backpack's KlineInterval values (Backpack docs) but 1month. ccxt's timeframe table lacks 1s, but ccxt passes an
# unknown timeframe through unchanged, so the stream kline.1s.<symbol> is subscribed all the same.
CANDLE_INTERVALS = tuple(i for i in BACKPACK_INTERVALS if i != "1month")


class CcxtBackpackFeed(CcxtEmitMixin, Feed):
    id = BACKPACK
    websocket_endpoints = []
    rest_endpoints = []
    valid_candle_intervals = CANDLE_INTERVALS
    websocket_channels = {TRADES: "trade", L2_BOOK: "depth", TICKER: "bookTicker", CANDLES: "kline", FUNDING: "markPrice"}

    @classmethod
    def symbol_mapping(cls, refresh: bool = False, headers: dict = None) -> dict:
        return symbol_service.symbol_mapping_for(cls, refresh)

    def __init__(self, config: Any = None, **kwargs: Any):
        own = {k: kwargs.pop(k) for k in list(kwargs) if k in CCXT_KWARGS}
        unknown = sorted(set(kwargs) - _FEED_KWARGS)
        if unknown:
            raise BackpackConfigError.for_field(unknown[0], "is not a CcxtBackpackFeed argument",
                                      f"arguments: {', '.join(sorted(_FEED_KWARGS | CCXT_KWARGS))}")
        wanted = _requested_channels(kwargs)
        unsupported = sorted(c for c in wanted if c not in self.websocket_channels)
        if unsupported:
            raise BackpackConfigError.for_field("channels", f"{unsupported} are not available through ccxt",
                                      f"CcxtBackpackFeed supports {sorted(self.websocket_channels)}; use the native feed "
                                      "(native_enabled: true, or CRYPTOFEED_BACKPACK_NATIVE=true) for the others")
        bp, cryptofeed_config = _split_config(config)
        if own:  # constructor arguments win over the config's ccxt section, validated the same way
            bp = BackpackConfig.build(bp, ccxt={**bp.ccxt.model_dump(), **own})
        self.backpack_config = bp
        options = bp.ccxt
        self.rest_only = options.rest_only or not options.websocket
        if self.rest_only and CANDLES in wanted:
            raise BackpackConfigError.for_field("rest_only", "CANDLES cannot be polled over REST by this feed", "drop CANDLES or rest_only/websocket: false")
        self.ccxt, self.ccxtpro = import_ccxt()
        with symbol_service.loading_for(type(self), bp):
            super().__init__(config=cryptofeed_config, **kwargs)
        if FUNDING in wanted:
            spot = [s for s in wanted[FUNDING] if not self.std_symbol_to_exchange_symbol(s).endswith("_PERP")]
            if spot:
                raise BackpackConfigError.for_field("symbols", f"FUNDING needs perpetual markets, got {spot}", "use BASE-USDC-PERP symbols")
        self.rest_fallback_after = options.rest_fallback_after
        self.poll_interval_s = options.poll_interval_s
        self.snapshot_interval = options.snapshot_interval
        self.metrics = FeedMetrics(feed="ccxt")
        self.exchange = make_exchange(bp, self.ccxt, self.ccxtpro, on_frame=self.metrics.frame)
        self._wanted = {channel: [s.normalized if isinstance(s, Symbol) else s for s in syms] for channel, syms in wanted.items()}
        self._tasks: list[asyncio.Task] = []
        self._running = False
        self.delivery_guard = DeliveryGuard()
        self.backend_failure: Optional[BackendFailure] = None  # the last backend writer that failed (backend_watch.py)
        self._markets_lock: Optional[asyncio.Lock] = None
        self._failures: dict[tuple[str, str], int] = {}
        self._polling: set[tuple[str, str]] = set()  # (channel, symbol) served by REST polling right now
        self._init_emit_state()
        self.metrics.expect_streams(self.expected_streams())
        self.metrics.expect_errors(TRANSLATED_ERRORS)
        self.last_error: Optional[BackpackError] = None
        for line in capability_warnings(self.exchange.has, self._wanted, websocket=not self.rest_only):
            LOG.warning("%s(ccxt): %s", self.id, line)

    # ---- lifecycle --------------------------------------------------------------------------

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        self._running = True
        self.metrics.subscribed()
        for channel, symbols in self._wanted.items():
            for normalized in symbols:
                self._spawn(loop, self._supervise(channel, normalized), f"{channel}-{normalized}")
                if channel == L2_BOOK and self.snapshot_interval and not self.rest_only:
                    self._spawn(loop, self._resnapshot_every(normalized), f"resnapshot-{normalized}")
        start_backends(self, loop)

    def _spawn(self, loop, coro, name: str) -> None:
        self._tasks.append(loop.create_task(coro, name=f"ccxt-{BACKPACK}-{name}"))

    async def callback(self, data_type, obj, receipt_timestamp):
        # the watch loops are tasks a stop cancels: a record goes through every callback before that (delivery.py)
        async with self.delivery_guard.delivering():
            await super().callback(data_type, obj, receipt_timestamp)

    def stop(self) -> None:
        # the loops end at their next turn; shutdown cancels what still waits on ccxt
        self._running = False
        self.delivery_guard.stop()
        self.metrics.stopped()

    async def shutdown(self) -> None:
        self.stop()
        # not while a record is in its callbacks, since the backends stop right after; this also waits for
        # the tasks to end, except one whose callback started this stop (delivery.py)
        drain_s = self.backpack_config.connection.stop_drain_s
        await self.delivery_guard.cancel_between_deliveries(self._tasks, drain_s, owner=self.id)
        self._tasks.clear()
        await self.exchange.close()
        await drain_backends(feed_backends(self), drain_s, owner=self.id)  # before cryptofeed stops them
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
                    self._polling.add((channel, normalized))
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

    async def _watch(self, channel: str, ref: MarketRef, on_data) -> None:
        ex = self.exchange
        while self._running:
            if channel == TRADES:
                trades = await ex.watch_trades(ref.unified)
                on_data()
                await self._emit_trades(ref, trades)
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
                await ex.watch_ohlcv(ref.unified, self.candle_interval)
                on_data()
                frames = ex.kline_frames[ref.unified]
                batch = list(frames)
                frames.clear()
                await self._emit_klines(ref, batch)

    async def _poll(self, channel: str, ref: MarketRef) -> None:
        ex = self.exchange
        while self._running:
            if channel == TRADES:
                await self._emit_trades(ref, await ex.fetch_trades(ref.unified, limit=100))
            elif channel == L2_BOOK:
                await self._emit_book(ref, await ex.fetch_order_book(ref.unified))
            elif channel == TICKER:
                await self._emit_ticker_from_book(ref, await ex.fetch_order_book(ref.unified, 5))
            elif channel == FUNDING:
                await self._emit_funding(ref, await ex.fetch_funding_rate(ref.unified))
            self._reset_failures(channel, ref.normalized)
            await asyncio.sleep(self.poll_interval_s)

    async def _resnapshot_every(self, normalized: str) -> None:
        """snapshot_interval: drop ccxt's book every interval so its next delta triggers a fresh REST
        snapshot, bridged by ccxt exactly like the first one (the periodic re-snapshot of the design)."""
        while self._running:
            await asyncio.sleep(self.snapshot_interval)
            try:
                ref = await self.market(normalized)
            except Exception:  # markets not loadable yet: the watch task reports that failure
                continue
            if ref.unified in self.exchange.orderbooks:
                self.exchange.orderbooks[ref.unified] = self.exchange.order_book()
                self.metrics.inc("ccxt_book_resnapshots")

    # ---- what health and metrics read (plain values; docs/ccxt.md "Observability") -------------

    def expected_streams(self) -> list[str]:
        """Every websocket stream this feed's watches subscribe (none for polled channels)."""
        names = []
        for channel, symbols in self._wanted.items():
            for normalized in symbols:
                if channel in WATCHED and (channel, normalized) not in self._polling and not self.rest_only:
                    names.append(stream_name(channel, self.std_symbol_to_exchange_symbol(normalized), self.candle_interval))
        return names

    def connection_state(self) -> dict:
        """``mode`` (websocket | rest_only | mixed) and, per ccxt websocket client url, whether it is open."""
        clients = {url: not client.closed() for url, client in getattr(self.exchange, "clients", {}).items()}
        mode = "rest_only" if self.rest_only else ("mixed" if self._polling - {(FUNDING, s) for s in self._wanted.get(FUNDING, [])} else "websocket")
        return {"mode": mode, "open_connections": sum(clients.values()), "clients": clients, "running": self._running}

    def last_frame_by_stream(self) -> dict[str, float]:
        """stream name -> epoch seconds of its last websocket frame."""
        return dict(self.metrics.last_frame_by_stream)

    def book_status(self) -> dict[str, dict]:
        """normalized symbol -> synced (ccxt holds a bridged book), last_update_id, snapshot_at (epoch s)."""
        out = {}
        for normalized in self._wanted.get(L2_BOOK, []):
            exchange_symbol = self.std_symbol_to_exchange_symbol(normalized)
            ref = resolve_market(normalized, exchange_symbol, self.exchange.markets_by_id if self.exchange.markets else None)
            book = self.exchange.orderbooks.get(ref.unified)
            nonce = None if book is None else book["nonce"]
            out[normalized] = {"synced": nonce is not None, "last_update_id": nonce,
                               "snapshot_at": self.exchange.snapshot_at.get(ref.unified)}
        return out

    def failures(self) -> dict[str, int]:
        """"channel symbol" -> consecutive failures of that task now (0 entries when all is well)."""
        return {f"{channel} {symbol}": n for (channel, symbol), n in self._failures.items()}

    def health(self):
        """The same ``HealthReport`` as the native feed's (docs/operations.md)."""
        return ccxt_health(self)

    def metrics_snapshot(self) -> dict:
        snap = self.metrics.snapshot()
        snap["ccxt_book_gaps"] = self.exchange.gaps
        snap["at"] = time.time()
        return snap
