"""BackpackFeed: the native cryptofeed Feed for Backpack Exchange.

Hot path: frame -> Envelope (data kept raw) -> one typed decoder chosen by the stream prefix ->
pure parse -> callback. Depth frames go through ``book_sync``. Undecodable frames, unknown streams
and error replies are counted, logged once per kind, and dropped; they never escape
``message_handler`` and never cost the connection.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Optional

import msgspec
from cryptofeed.connection import AsyncConnection, RestEndpoint, Routes, WebsocketEndpoint, WSAsyncConn
from cryptofeed.defines import (BALANCES, CANDLES, FILLS, FUNDING, INDEX, L1_BOOK, L2_BOOK,
                                LIQUIDATIONS, OPEN_INTEREST, ORDER_INFO, POSITIONS, TICKER, TRADES)
from cryptofeed.feed import Feed
from cryptofeed.callback import Callback

from . import parse, symbols as symbol_service
from .book_sync import BookSync
from .config import BackpackConfig
from .errors import BackpackConfigError, BackpackStreamError
from .observability.metrics import FeedMetrics as Metrics
from .proxy import ws_proxy_argument
from .rest_api import BackpackRestMixin
from .book_channel import L2BookMixin
from .private_channels import PrivateChannelsMixin
from .schemas import ENVELOPE, STREAM_DECODERS

LOG = logging.getLogger("feedhandler")

BACKPACK = "BACKPACK"

# Feed/Exchange keyword arguments cryptofeed understands; anything else is a typo we must report,
# because cryptofeed's own __init__ swallows unknown keywords silently.
_FEED_KWARGS = {
    "candle_interval", "candle_closed_only", "timeout", "timeout_interval", "retries", "symbols", "channels",
    "subscription", "callbacks", "max_depth", "checksum_validation", "cross_check", "exceptions",
    "log_message_on_error", "delay_start", "http_proxy", "sandbox", "subaccount",
}

PRIVATE_CHANNELS = (ORDER_INFO, FILLS, POSITIONS, BALANCES)
LIQUIDATION_PROBE_S = 5.0


class BackpackFeed(L2BookMixin, PrivateChannelsMixin, Feed, BackpackRestMixin):
    id = BACKPACK
    websocket_endpoints = [WebsocketEndpoint("wss://ws.backpack.exchange")]
    rest_endpoints = [RestEndpoint("https://api.backpack.exchange", routes=Routes("/api/v1/markets", l2book="/api/v1/depth?symbol={}&limit={}"))]
    valid_candle_intervals = ("1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1month")
    websocket_channels = {
        TRADES: "trade",
        L2_BOOK: "depth",
        TICKER: "bookTicker",
        L1_BOOK: "bookTicker",
        CANDLES: "kline",
        FUNDING: "markPrice",
        INDEX: "markPrice",
        OPEN_INTEREST: "openInterest",
        LIQUIDATIONS: "liquidation",
        ORDER_INFO: "account.orderUpdate",
        FILLS: "account.orderUpdate",
        POSITIONS: "account.positionUpdate",
        BALANCES: "balances",
    }
    request_limit = 30

    # ---- symbols (cryptofeed's classmethod contract) -----------------------------------------

    @classmethod
    def _parse_symbol_data(cls, data: Any) -> tuple[dict, dict]:
        return symbol_service.parse_markets(data)

    @classmethod
    def symbol_mapping(cls, refresh: bool = False, headers: dict = None) -> dict:
        # Replaces cryptofeed's blocking `requests` GET: goes through our REST client (proxies, CA,
        # retries) and honours the TTL. Seeded symbols are used without a network call.
        return symbol_service.symbol_mapping_for(cls, refresh)

    @classmethod
    async def load_symbols(cls, config: Any = None, refresh: bool = False) -> dict:
        """Load symbols without blocking the event loop; call before constructing feeds in async code."""
        return await symbol_service.load_symbols(BackpackConfig.build(config), refresh=refresh)

    # ---- construction --------------------------------------------------------------------------

    def __init__(self, config: Any = None, **kwargs: Any):
        unknown = sorted(set(kwargs) - _FEED_KWARGS)
        if unknown:
            raise BackpackConfigError(
                unknown[0], "is not a BackpackFeed argument",
                f"Feed arguments: {', '.join(sorted(_FEED_KWARGS))}; Backpack options go in config=BackpackConfig(...)",
            )
        self.backpack_config, cryptofeed_config = _split_config(config)
        bp = self.backpack_config
        self._wanted_std = _requested_channels(kwargs)
        if kwargs.get("timeout") is None and self._wanted_std and all(c in PRIVATE_CHANNELS for c in self._wanted_std):
            # Private streams can stay silent for minutes; cryptofeed's 120 s watchdog would keep reconnecting.
            kwargs["timeout"] = -1
        if any(c in PRIVATE_CHANNELS for c in self._wanted_std) and bp.auth is None:
            from .errors import BackpackAuthError

            raise BackpackAuthError(
                f"channels {sorted(c for c in self._wanted_std if c in PRIVATE_CHANNELS)} need credentials",
                fix="pass config=BackpackConfig(auth={'api_key': ..., 'private_key': ...}, enable_private_channels=True), "
                "set key_id/key_secret under 'backpack' in config.yaml, or set BACKPACK_API_KEY and BACKPACK_PRIVATE_KEY",
            )

        with symbol_service.loading_for(type(self), bp):
            super().__init__(config=cryptofeed_config, **kwargs)

        self.metrics = Metrics()
        self.rest_client = None
        self.websocket_endpoints = [WebsocketEndpoint(bp.ws_url, options=self._ws_options(), authentication=None)]
        self.callbacks.setdefault(L1_BOOK, [Callback(None)])
        self._books: dict[str, BookSync] = {}
        self._snapshot_tasks: dict[str, asyncio.Task] = {}
        self._book_lock = asyncio.Lock()
        self._emitted_top: dict[str, tuple[dict, dict]] = {}
        self._logged_once: set[str] = set()
        self._liquidation_bare = False
        self._liquidation_probe_at: Optional[float] = None
        self._private_subscribed: list[str] = []
        self.last_auth_error = None
        self.last_connection_error = None
        self.clock_skew_ms: Optional[float] = None
        self._by_kind = self._streams_by_kind()
        self.metrics.expect_streams(self.public_streams() + self.liquidation_streams())
        self._handlers = {
            "trade": self._on_trade,
            "depth": self._on_depth,
            "bookTicker": self._on_book_ticker,
            "kline": self._on_kline,
            "markPrice": self._on_mark_price,
            "openInterest": self._on_open_interest,
            "liquidation": self._on_liquidation,
        }
        self._want_ticker = TICKER in self._wanted_std
        self._want_l1 = L1_BOOK in self._wanted_std
        self._want_funding = FUNDING in self._wanted_std
        self._want_index = INDEX in self._wanted_std

    def _ws_options(self) -> dict:
        options: dict[str, Any] = {"proxy": ws_proxy_argument(self.backpack_config)}
        ssl_context = self.backpack_config.ssl_context()
        if ssl_context is not None:
            options["ssl"] = ssl_context
        return options

    def _streams_by_kind(self) -> dict[str, set[str]]:
        """std channel -> the exchange symbols asked for it."""
        result: dict[str, set[str]] = {}
        for channel, std_symbols in self._wanted_std.items():
            result[channel] = {self.std_symbol_to_exchange_symbol(s) for s in std_symbols}
        return result

    # ---- subscription ---------------------------------------------------------------------------

    def public_streams(self) -> list[str]:
        """The public stream names this feed subscribes to (liquidations are sent separately)."""
        bp = self.backpack_config
        streams: list[str] = []
        seen: set[str] = set()
        for channel, exchange_symbols in self._by_kind.items():
            for sym in sorted(exchange_symbols):
                if channel == TRADES:
                    name = f"trade.{sym}"
                elif channel == L2_BOOK:
                    name = f"{bp.depth_stream_prefix}.{sym}"
                elif channel in (TICKER, L1_BOOK):
                    name = f"bookTicker.{sym}"
                elif channel == CANDLES:
                    name = f"kline.{self.candle_interval}.{sym}"
                elif channel in (FUNDING, INDEX):
                    name = f"markPrice.{sym}"
                elif channel == OPEN_INTEREST:
                    name = f"openInterest.{sym}"
                else:
                    continue
                if name not in seen:
                    seen.add(name)
                    streams.append(name)
        return streams

    def liquidation_streams(self) -> list[str]:
        symbols = sorted(self._by_kind.get(LIQUIDATIONS, ()))
        if not symbols:
            return []
        return ["liquidation"] if self._liquidation_bare else [f"liquidation.{s}" for s in symbols]

    async def subscribe(self, conn: AsyncConnection) -> None:
        # Called on every (re)connect: whatever was buffered belongs to the old socket.
        for task in self._snapshot_tasks.values():
            task.cancel()
        self._snapshot_tasks.clear()
        for book in self._books.values():
            book.reset()
        self._emitted_top.clear()
        self.metrics.inc("ws_connects")

        public = self.public_streams()
        if public:
            await conn.write(_frame("SUBSCRIBE", public))
        liquidation = self.liquidation_streams()
        if liquidation:
            # Sent alone so a 4006 (the symbol form unknown on this server) can be attributed to it.
            self._liquidation_probe_at = time.monotonic() if not self._liquidation_bare else None
            await conn.write(_frame("SUBSCRIBE", liquidation))
        await self._subscribe_private(conn)

    # ---- frame routing --------------------------------------------------------------------------

    async def message_handler(self, msg, conn: AsyncConnection, timestamp: float) -> None:
        try:
            envelope = ENVELOPE.decode(msg)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._drop("undecodable", "-", msg, exc)
            return
        stream = envelope.stream
        if stream is None:
            if envelope.error is not None:
                await self._on_error_frame(envelope.error.code, envelope.error.message, msg)
            else:
                self._drop("unknown_frame", "-", msg, None)
            return
        self.metrics.frame(stream, timestamp)
        kind = stream.partition(".")[0]
        handler = self._handlers.get(kind)
        if handler is None:
            if kind == "account":
                await self._on_private(stream, envelope.data, timestamp, msg)
            else:
                self._drop("unknown_stream", kind, msg, None)
            return
        try:
            decoded = STREAM_DECODERS[kind].decode(envelope.data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self._drop("undecodable", kind, msg, exc)
            return
        symbol = self.exchange_symbol_mapping.get(decoded.symbol)
        if symbol is None:
            self._drop("unknown_symbol", kind, msg, None)
            return
        await handler(decoded, symbol, timestamp)

    def _drop(self, reason: str, kind: str, msg, exc: Optional[BaseException]) -> None:
        self.metrics.inc(f"dropped_{reason}")
        self.metrics.inc("dropped_messages")
        key = f"{reason}:{kind}"
        if key in self._logged_once:
            return
        self._logged_once.add(key)
        excerpt = msg[:200] if isinstance(msg, (str, bytes)) else repr(msg)[:200]
        LOG.warning("%s: dropped %s frame (stream type %s): %s%s; further ones are only counted",
                    self.id, reason, kind, excerpt, f" ({exc})" if exc else "")

    async def _on_error_frame(self, code: int, message: str, msg) -> None:
        self.metrics.inc(f"ws_error_{code}")
        if code == 4006 and self._liquidation_probe_at is not None and \
                time.monotonic() - self._liquidation_probe_at < LIQUIDATION_PROBE_S and not self._liquidation_bare:
            # This server does not know `liquidation.<symbol>`: fall back to the bare stream.
            self._liquidation_bare = True
            self._liquidation_probe_at = None
            LOG.info("%s: liquidation.<symbol> refused (4006); subscribing to the bare 'liquidation' stream", self.id)
            for conn in (h.conn for h in self.connection_handlers):
                if conn.is_open:
                    await conn.write(_frame("SUBSCRIBE", self.liquidation_streams()))
            return
        if self._private_subscribed and code not in (4002, 4006, 4008):
            from . import private

            explained = private.explain_ws_error(code, message)
            if explained is not None:
                self.metrics.inc("auth_failures")
                self.last_auth_error = explained
                # The exchange's text rarely says whether the clock or the key is wrong: measure the clock.
                asyncio.create_task(self._diagnose_auth_failure(explained))
                return
        self._drop(f"error_{code}", "-", msg, BackpackStreamError(code, message))

    # ---- public channels ------------------------------------------------------------------------

    async def _on_trade(self, msg, symbol: str, timestamp: float) -> None:
        await self.callback(TRADES, parse.trade(msg, symbol), timestamp)

    async def _on_book_ticker(self, msg, symbol: str, timestamp: float) -> None:
        if self._want_ticker:
            await self.callback(TICKER, parse.ticker(msg, symbol), timestamp)
        if self._want_l1:
            await self.callback(L1_BOOK, parse.l1_book(msg, symbol), timestamp)

    async def _on_kline(self, msg, symbol: str, timestamp: float) -> None:
        if self.candle_closed_only and not msg.closed:
            return
        await self.callback(CANDLES, parse.candle(msg, symbol, self.candle_interval), timestamp)

    async def _on_mark_price(self, msg, symbol: str, timestamp: float) -> None:
        if self._want_funding:
            await self.callback(FUNDING, parse.funding(msg, symbol), timestamp)
        if self._want_index:
            index = parse.index(msg, symbol)
            if index is not None:
                await self.callback(INDEX, index, timestamp)

    async def _on_open_interest(self, msg, symbol: str, timestamp: float) -> None:
        await self.callback(OPEN_INTEREST, parse.open_interest(msg, symbol), timestamp)

    async def _on_liquidation(self, msg, symbol: str, timestamp: float) -> None:
        # The bare stream carries every market: keep only the ones asked for.
        if msg.symbol in self._by_kind.get(LIQUIDATIONS, ()):
            await self.callback(LIQUIDATIONS, parse.liquidation(msg, symbol), timestamp)

    def connect(self):
        from .proxy import websocket_proxy_route
        from .ws import BackpackWSConn

        needs_ws = bool(self.public_streams() or self.liquidation_streams()
                        or any(c in self._wanted_std for c in (ORDER_INFO, FILLS, POSITIONS)))
        route = websocket_proxy_route(self.backpack_config)
        connections = []
        for conn, subscribe, handler, authenticate in super().connect():
            if isinstance(conn, WSAsyncConn):
                if not needs_ws:
                    continue
                conn = BackpackWSConn(conn.address, self.id, route, on_error=self._on_connection_error,
                                      subscription=conn.subscription, **conn.ws_kwargs)
            connections.append((conn, subscribe, handler, authenticate))
        return connections

    def _on_connection_error(self, error: BaseException) -> None:
        self.metrics.inc("ws_connect_errors")
        self.last_connection_error = error

    # ---- lifecycle ------------------------------------------------------------------------------

    async def shutdown(self) -> None:
        for task in self._snapshot_tasks.values():
            task.cancel()
        if self.rest_client is not None:
            await self.rest_client.close()
        await super().shutdown()

    def health(self):
        """The feed's ``HealthReport`` (status, live, ready, reasons): docs/operations.md."""
        from .observability.sources import native_health

        return native_health(self)

    def metrics_snapshot(self) -> dict:
        snap = self.metrics.snapshot()
        snap["books"] = {sym: {"synced": b.synced, "last_update_id": b.last_id, "buffered": b.buffered, "gaps": b.gaps}
                         for sym, b in self._books.items()}
        return snap


def _frame(method: str, params: list[str]) -> str:
    # A str, so websockets sends a TEXT frame (msgspec would give bytes, i.e. a binary frame).
    return msgspec.json.encode({"method": method, "params": params}).decode()


def _requested_channels(kwargs: dict) -> dict[str, list]:
    """std channel -> std symbols, from either symbols+channels or subscription."""
    if kwargs.get("subscription"):
        return {channel: list(syms) for channel, syms in kwargs["subscription"].items()}
    channels, syms = kwargs.get("channels") or [], kwargs.get("symbols") or []
    return {channel: list(syms) for channel in channels}


def _split_config(config: Any) -> tuple[BackpackConfig, Any]:
    """Our options and the object cryptofeed's base class expects as ``config``."""
    if isinstance(config, BackpackConfig):
        bp, cf = config, None
    elif isinstance(config, dict) and "backpack" not in config:
        bp, cf = BackpackConfig.build(config), None
    else:
        # cryptofeed's Config (FeedHandler.add_feed), a config.yaml path, a full cryptofeed dict or None.
        from cryptofeed.config import Config

        cf = Config(config=config) if not isinstance(config, Config) else config
        bp = BackpackConfig.build(cf)
        section = cf.config.get("backpack") or {}
        if bp.auth is not None and not (section.get("key_id") and section.get("key_secret")):
            # Credentials came from the environment: tell cryptofeed's base class they exist,
            # on a copy so the FeedHandler's shared Config is left untouched.
            cf = Config(config=cf)
            cf.config["backpack"] = {**section, "key_id": bp.auth.api_key, "key_secret": "<held by BackpackConfig>"}
    if cf is None:
        section = {}
        if bp.auth is not None:
            # cryptofeed only checks that both are set; the secret itself stays inside BackpackConfig.
            section = {"key_id": bp.auth.api_key, "key_secret": "<held by BackpackConfig>"}
        cf = {"backpack": section}
    return bp, cf
