"""BackpackFeed: the native cryptofeed Feed for Backpack Exchange.

Hot path: frame -> Envelope (data kept raw) -> the decoder of its stream kind -> the channel that
owns that kind -> pure parse -> callback. The stream table (constants.STREAMS) drives what is
subscribed, how frames are routed and what health expects. Undecodable frames, unknown streams
and error replies are counted, logged once per kind, and dropped; they never escape
``message_handler`` and never cost the connection.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Optional

import msgspec
from cryptofeed.callback import Callback
from cryptofeed.connection import AsyncConnection, RestEndpoint, Routes, WebsocketEndpoint, WSAsyncConn
from cryptofeed.defines import BALANCES, CANDLES, FUNDING, L1_BOOK, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST, TICKER, TRADES
from cryptofeed.feed import Feed

from .. import symbols as symbol_service
from ..backend_watch import BackendFailure, drain_backends, feed_backends, start_backends
from ..config import BackpackConfig
from ..constants import (CANDLE_INTERVALS, EXCHANGE_ID, REST_URL, STREAM_FOR_CHANNEL, STREAMS, WS_INVALID_STREAM, WS_URL,
                         Rest, depth_stream_prefix)
from ..delivery import DeliveryGuard
from ..errors import BackpackAuthError, BackpackConfigError, BackpackStreamError
from ..observability.metrics import COUNT, LAST_AT, FeedMetrics as Metrics
from ..transport.proxy import websocket_proxy_route, ws_proxy_argument
from ..transport.ws import BackpackWSConn, ReconnectingHandler
from ..transport.ws_picows import PicowsConn
from ..wire.market import STREAM_DECODERS, STREAM_STRUCTS, BestPricesMsg, market_frame_decoder
from ..wire.session import ENVELOPE, subscribe_frame
from .account import AccountChannels
from .book import BookChannel, BookStatus
from .config_split import requested_channels, split_config
from .market import MarketChannels
from .rest import BackpackRestMixin
from .stream_guard import StreamGuard
from .trades import TradeChannel

LOG = logging.getLogger("feedhandler")

# Feed/Exchange keyword arguments cryptofeed understands; anything else is a typo we must report,
# because cryptofeed's own __init__ swallows unknown keywords silently.
_FEED_KWARGS = {
    "candle_interval", "candle_closed_only", "timeout", "timeout_interval", "retries", "symbols", "channels",
    "subscription", "callbacks", "max_depth", "checksum_validation", "cross_check", "exceptions",
    "log_message_on_error", "delay_start", "http_proxy", "sandbox", "subaccount",
}
_PRIVATE_CHANNELS = frozenset({c for s in STREAMS if s.private for c in s.channels} | {BALANCES})
# channels whose streams may be silent for minutes: a feed of only these needs no silence watchdog
_QUIET_CHANNELS = frozenset({c for s in STREAMS if s.quiet for c in s.channels} | {BALANCES})


class BackpackFeed(Feed, BackpackRestMixin):
    id = EXCHANGE_ID
    websocket_endpoints = [WebsocketEndpoint(WS_URL)]
    rest_endpoints = [RestEndpoint(REST_URL, routes=Routes(Rest.MARKETS.path, l2book=Rest.DEPTH.path + "?symbol={}&limit={}"))]
    valid_candle_intervals = tuple(CANDLE_INTERVALS)
    # BALANCES has no stream: it is polled over REST, so it maps to the path it polls
    websocket_channels = {**{c: s.kind for s in STREAMS for c in s.channels}, BALANCES: Rest.CAPITAL.path}
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
            raise BackpackConfigError.for_field(
                unknown[0], "is not a BackpackFeed argument",
                f"Feed arguments: {', '.join(sorted(_FEED_KWARGS))}; Backpack options go in config=BackpackConfig(...)")
        self.backpack_config, cryptofeed_config = split_config(config)
        bp = self.backpack_config
        wanted_std = requested_channels(kwargs)
        private = sorted(c for c in wanted_std if c in _PRIVATE_CHANNELS)
        if wanted_std and kwargs.get("timeout") is None and all(c in _QUIET_CHANNELS for c in wanted_std):
            # Quiet and private streams can stay silent for minutes; cryptofeed's 120 s silence watchdog
            # would keep reconnecting them. Protocol pings (BackpackConfig.connection) watch the socket.
            kwargs["timeout"] = -1
        if private and bp.auth is None:
            raise BackpackAuthError(
                f"channels {private} need credentials",
                fix="pass config=BackpackConfig(auth={'api_key': ..., 'private_key': ...}), set key_id/key_secret under "
                "'backpack' in config.yaml, or set BACKPACK_API_KEY and BACKPACK_PRIVATE_KEY")

        with symbol_service.loading_for(type(self), bp):
            super().__init__(config=cryptofeed_config, **kwargs)

        self.metrics = Metrics()
        self.delivery_guard = DeliveryGuard()  # what a stop waits for (delivery.py)
        self.backend_failure: Optional[BackendFailure] = None  # the last backend writer that failed (backend_watch.py)
        self._frame_cells = self.metrics.frame_cells
        self.rest_client = None
        self.last_connection_error: Optional[BaseException] = None
        self.websocket_endpoints = [WebsocketEndpoint(bp.ws_url, options=self._ws_options(), authentication=None)]
        self.callbacks.setdefault(L1_BOOK, [Callback(None)])
        # std channel -> the exchange symbols asked for it
        self.wanted_channels = {c: {self.std_symbol_to_exchange_symbol(s) for s in syms} for c, syms in wanted_std.items()}
        self._logged_once: set[str] = set()

        self.book_channel = BookChannel(self)
        self.stream_guard = StreamGuard(self)
        self.trade_channel = TradeChannel(self)
        self.market_channels = MarketChannels(self, self.wanted_channels)
        self.account_channels = AccountChannels(self, self.wanted_channels)
        # stream kind (from the stream table) -> (its decoder, the channel that owns it)
        owners = {TRADES: self.trade_channel.on_trade, L2_BOOK: self.book_channel.on_depth,
                  TICKER: self.market_channels.on_book_ticker, CANDLES: self.market_channels.on_kline,
                  FUNDING: self.market_channels.on_mark_price, OPEN_INTEREST: self.market_channels.on_open_interest,
                  LIQUIDATIONS: self.market_channels.on_liquidation}
        self._routes = {STREAM_FOR_CHANNEL[c].kind: (STREAM_DECODERS[STREAM_FOR_CHANNEL[c].kind], h) for c, h in owners.items()}
        # the same owners by the Struct the one-pass decoder produces
        self._handlers = {STREAM_STRUCTS[STREAM_FOR_CHANNEL[c].kind]: h for c, h in owners.items()}
        self._handlers[BestPricesMsg] = self.market_channels.on_book_ticker
        self._market_frame = market_frame_decoder(book_ticker_sizes=L1_BOOK in self.wanted_channels)
        self.metrics.expect_streams(self.public_streams() + self.liquidation_streams())

    def _ws_options(self) -> dict:
        policy = self.backpack_config.connection
        options: dict[str, Any] = {
            "proxy": ws_proxy_argument(self.backpack_config),
            # a dead or half-open peer is noticed within ping_interval + ping_timeout
            "ping_interval": policy.ping_interval_s,
            "ping_timeout": policy.ping_timeout_s,
            # a larger frame is refused by the socket (close 1009) instead of being buffered whole
            "max_size": policy.max_frame_bytes,
        }
        ssl_context = self.backpack_config.ssl_context()
        if ssl_context is not None:
            options["ssl"] = ssl_context
        return options

    # ---- subscription (driven by the stream table) ----------------------------------------------

    def public_streams(self) -> list[str]:
        """The public stream names this feed subscribes to (liquidations are sent separately)."""
        depth = depth_stream_prefix(self.backpack_config.depth_window)
        names: list[str] = []
        for kind in STREAMS:
            if kind.private or LIQUIDATIONS in kind.channels:
                continue
            symbols = set().union(*(self.wanted_channels.get(c, ()) for c in kind.channels))
            for sym in sorted(symbols):
                names.append(kind.name(sym, interval=self.candle_interval, depth=depth))
        return names

    def liquidation_streams(self) -> list[str]:
        return self.market_channels.liquidation_streams()

    def quiet_streams(self) -> frozenset[str]:
        """Subscribed streams that may legitimately stay silent for minutes (health never degrades on them)."""
        quiet_kinds = tuple(k.kind for k in STREAMS if k.quiet)
        return frozenset(s for s in self.public_streams() + self.liquidation_streams() if s.startswith(quiet_kinds))

    async def subscribe(self, conn: AsyncConnection) -> None:
        # called on every (re)connect: whatever was buffered belongs to the old socket
        self.book_channel.reset()
        self.trade_channel.reset()
        self.metrics.inc("ws_connects")
        public = self.public_streams()
        if public:
            await conn.write(subscribe_frame(public))
            await self.book_channel.start_snapshots({s: self.exchange_symbol_to_std_symbol(s)
                                                     for s in sorted(self.wanted_channels.get(L2_BOOK, ()))})
        await self.market_channels.subscribe_liquidations(conn)
        await self.account_channels.subscribe(conn)
        self.stream_guard.on_subscribed()

    def open_websockets(self) -> list[AsyncConnection]:
        return [h.conn for h in self.connection_handlers if isinstance(h.conn, (PicowsConn, WSAsyncConn)) and h.conn.is_open]

    # ---- delivery ---------------------------------------------------------------------------------

    def deliver(self, channel: str, obj, receipt_timestamp: float) -> Awaitable:
        """cryptofeed's ``callback`` as an awaitable the caller awaits: with one callback on the channel
        (the usual case) that callback's own awaitable, a coroutine layer less on every frame; with
        several, ``callback`` itself, which awaits them in order (docs/performance.md, "the hot path")."""
        callbacks = self.callbacks[channel]
        if len(callbacks) == 1:
            return callbacks[0](obj, receipt_timestamp)
        return self.callback(channel, obj, receipt_timestamp)

    def deliver_book(self, book, receipt_timestamp: float, timestamp: Optional[float], sequence_number: Optional[int],
                     delta: Optional[dict]) -> Awaitable:
        """cryptofeed's ``book_callback`` for L2_BOOK as an awaitable, through ``deliver``; with
        ``cross_check`` on, ``book_callback`` itself, which checks the book first."""
        if self.cross_check:
            return self.book_callback(L2_BOOK, book, receipt_timestamp, timestamp=timestamp, raw=None,
                                      sequence_number=sequence_number, delta=delta)
        book.timestamp = timestamp
        book.raw = None
        book.sequence_number = sequence_number
        book.delta = delta
        book.checksum = None
        return self.deliver(L2_BOOK, book, receipt_timestamp)

    # ---- frame routing --------------------------------------------------------------------------

    async def message_handler(self, msg, conn: AsyncConnection, timestamp: float) -> None:
        # The hot path: a public market frame decodes in one pass, straight into the Struct of its
        # kind, and goes to the channel that owns that Struct, which updates its state at once and
        # returns the delivery to await, or None when there is nothing to deliver (docs/performance.md,
        # "the hot path").
        try:
            frame = self._market_frame.decode(msg)
        except (msgspec.DecodeError, msgspec.ValidationError):
            await self._on_other_frame(msg, timestamp)
            return
        except Exception as exc:  # not even a frame (say, a non-text message): counted, never raised
            self.drop("handler_error", type(exc).__name__, msg, exc)
            return
        data = frame.data
        symbol = self.exchange_symbol_mapping.get(data.symbol)
        # metrics.frame in line: a Python call less on every frame
        cell = self._frame_cells.get(frame.stream) or self.metrics.frame_cell(frame.stream)
        cell[COUNT] += 1
        cell[LAST_AT] = timestamp
        if symbol is None:
            self.drop("unknown_symbol", frame.stream.partition(".")[0], msg, None)
            return
        try:
            delivery = self._handlers[data.__class__](data, symbol, timestamp)
            if delivery is not None:
                await delivery
        except Exception as exc:  # nothing a parser or a user's callback does may cost the connection
            self.drop("handler_error", type(exc).__name__, msg, exc)

    async def _on_other_frame(self, msg, timestamp: float) -> None:
        """Account events, error replies, unknown streams and frames a Struct refuses: the envelope
        first, then the decoder of its stream kind, so each is told apart and counted."""
        kind = "-"
        try:
            envelope = ENVELOPE.decode(msg)
            stream = envelope.stream
            if stream is None:
                await self._on_unrouted(envelope, msg)
                return
            self.metrics.frame(stream, timestamp)
            kind = stream.partition(".")[0]
            route = self._routes.get(kind)
            if route is None:
                if kind == "account":
                    await self.account_channels.on_frame(stream, envelope.data, timestamp, msg)
                else:
                    self.drop("unknown_stream", kind, msg, None)
                return
            decoder, handler = route
            decoded = decoder.decode(envelope.data)
            symbol = self.exchange_symbol_mapping.get(decoded.symbol)
            if symbol is None:
                self.drop("unknown_symbol", kind, msg, None)
                return
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            self.drop("undecodable", kind, msg, exc)
            return
        except Exception as exc:  # nothing a frame does may cost the connection
            self.drop("handler_error", type(exc).__name__, msg, exc)
            return
        try:
            delivery = handler(decoded, symbol, timestamp)
            if delivery is not None:
                await delivery
        except Exception as exc:  # nor a parser or a user's callback
            self.drop("handler_error", type(exc).__name__, msg, exc)

    async def _on_unrouted(self, envelope, msg) -> None:
        if envelope.error is not None:
            await self._on_error_frame(envelope.error.code, envelope.error.message, msg)
        else:
            self.drop("unknown_frame", "-", msg, None)

    def drop(self, reason: str, kind: str, msg, exc: Optional[BaseException]) -> None:
        """Count a rejected frame by reason; log the first of each reason and stream kind."""
        self.metrics.inc(f"dropped_{reason}")
        self.metrics.inc("dropped_messages")
        key = f"{reason}:{kind}"
        if key in self._logged_once:
            return
        self._logged_once.add(key)
        excerpt = msg[:200] if isinstance(msg, (str, bytes)) else repr(msg)[:200]
        LOG.warning("%s: dropped %s frame (stream type %s): %s%s; further ones are only counted",
                    self.id, reason, kind, excerpt, f" ({exc})" if exc else "",
                    exc_info=exc if reason == "handler_error" else None)

    async def _on_error_frame(self, code: int, message: str, msg) -> None:
        self.metrics.inc(f"ws_error_{code}")
        if code == WS_INVALID_STREAM and await self.market_channels.on_invalid_stream():
            return
        if self.account_channels.on_rejected(code, message):
            return
        self.drop(f"error_{code}", "-", msg, BackpackStreamError.from_frame(code, message))

    # ---- connections ----------------------------------------------------------------------------

    def start(self, loop):
        """cryptofeed's Feed.start, with a connection handler that reconnects forever (transport/ws.py)."""
        for conn, sub, handler, auth in self.connect():
            self.connection_handlers.append(ReconnectingHandler(
                conn, sub, handler, auth, -1, timeout=self.timeout, timeout_interval=self.timeout_interval,
                exceptions=self.exceptions, log_on_error=self.log_on_error, start_delay=self.start_delay,
                policy=self.backpack_config.connection, on_attempt_failed=self._on_attempt_failed))
            self.connection_handlers[-1].start(loop)
        start_backends(self, loop)

    def _on_attempt_failed(self, error: BaseException) -> None:
        self.metrics.inc("reconnects")

    def connect(self):
        needs_ws = bool(self.public_streams() or self.liquidation_streams() or self.account_channels.wants_stream)
        route = websocket_proxy_route(self.backpack_config)
        policy = self.backpack_config.connection
        connections = []
        for conn, subscribe, handler, authenticate in super().connect():
            if isinstance(conn, WSAsyncConn):
                if not needs_ws:
                    continue
                # the client BackpackConfig.connection.ws_client names (transport/ws_picows.py, transport/ws.py)
                if policy.ws_client == "picows":
                    conn = PicowsConn(conn.address, self.id, route, policy, ssl_context=conn.ws_kwargs.get("ssl"),
                                      on_error=self._on_connection_error, subscription=conn.subscription)
                else:
                    conn = BackpackWSConn(conn.address, self.id, route, on_error=self._on_connection_error,
                                          subscription=conn.subscription, **conn.ws_kwargs)
            connections.append((conn, subscribe, handler, authenticate))
        return connections

    def _connect_rest(self):
        return self.account_channels.connections()

    def _on_connection_error(self, error: BaseException) -> None:
        self.metrics.inc("ws_connect_errors")
        self.last_connection_error = error

    # ---- state for users, health and tests ------------------------------------------------------

    def book_status(self) -> dict[str, BookStatus]:
        """exchange symbol -> the state of its book (synced, last update id, gaps...)."""
        return self.book_channel.status()

    def book_state(self, exchange_symbol: str):
        """The live ``BookSync`` of one market (read it, never change it), or None before its first delta."""
        return self.book_channel.books.get(exchange_symbol)

    @property
    def last_auth_error(self):
        """The rejection of the current private subscription (None once a later one is accepted)."""
        return self.account_channels.current_auth_error()

    @property
    def clock_skew_ms(self) -> Optional[float]:
        return self.account_channels.clock_skew_ms

    def stop(self) -> None:
        super().stop()
        self.delivery_guard.stop()  # a backfill or a snapshot that was about to deliver does not

    async def shutdown(self) -> None:
        # Every delivery ends, then the backends write what they hold, before cryptofeed's Feed.shutdown
        # stops them: it would hand each its stop sentinel before closing the connections (delivery.py).
        drain_s = self.backpack_config.connection.stop_drain_s
        await asyncio.gather(*(h.stop_delivering(drain_s) for h in self.connection_handlers
                               if isinstance(h, ReconnectingHandler)))
        await self.book_channel.shutdown()
        await self.trade_channel.shutdown()
        await self.stream_guard.shutdown()
        await self.account_channels.shutdown()
        if self.rest_client is not None:
            await self.rest_client.close()  # a call still retrying fails from here on (transport/rest.py)
        await drain_backends(feed_backends(self), drain_s, owner=self.id)  # backend_watch.py says why
        await super().shutdown()

    def health(self):
        """The feed's ``HealthReport`` (status, live, ready, reasons): docs/operations.md."""
        from ..observability.sources import native_health

        return native_health(self)

    def metrics_snapshot(self) -> dict:
        snap = self.metrics.snapshot()
        snap["books"] = {sym: {"synced": b.synced, "last_update_id": b.last_update_id, "buffered": b.buffered, "gaps": b.gaps}
                         for sym, b in self.book_status().items()}
        return snap
