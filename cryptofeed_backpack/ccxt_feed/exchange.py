"""The ccxt.pro ``backpack`` exchange this feed drives, pointed at BackpackConfig and corrected where
ccxt departs from the wire (each override says which ccxt behaviour it corrects; docs/ccxt-audit.md).

ccxt is an optional extra: it is imported when a feed is built, never at package import.
"""
from __future__ import annotations

import functools
import logging
import time
from collections import defaultdict, deque
from typing import Callable, Optional

from ..config import BackpackConfig
from ..errors import BackpackConfigError
from ..transport.proxy import rest_proxy_route, websocket_proxy_route

LOG = logging.getLogger("feedhandler")
INSTALL_HINT = "pip install 'cryptofeed-backpack[ccxt]'"
KLINE_BACKLOG = 1000  # raw kline frames kept per symbol between two watch_ohlcv results


def import_ccxt():
    try:
        import ccxt
        import ccxt.pro as ccxtpro
    except ImportError as exc:
        raise BackpackConfigError.for_field("native_enabled", f"CcxtBackpackFeed needs ccxt, which is not installed ({exc})",
                                  f"install the extra with {INSTALL_HINT}, or use the native feed (native_enabled: true)") from None
    return ccxt, ccxtpro


def receive_loop_undercounts(ccxt_client_module) -> bool:
    """True for a ccxt whose websocket receive loop stalls under this aiohttp (see read_frames_one_by_one).

    aiohttp >= 3.14.4 charges MSG_SIZE_OVERHEAD bytes per queued frame; ccxt 4.5.64's receive loop pops
    frames off aiohttp's queue itself and hands back their sizes without that overhead. ccxt 4.5.90
    accounts for it (its client module imports MSG_SIZE_OVERHEAD), so the feature is what is tested."""
    try:
        from aiohttp._websocket.reader_py import MSG_SIZE_OVERHEAD
    except ImportError:
        return False
    return MSG_SIZE_OVERHEAD > 0 and not hasattr(ccxt_client_module, "MSG_SIZE_OVERHEAD")


def read_frames_one_by_one(client, network_error) -> None:
    """A receive loop for ccxt 4.5.64 under aiohttp >= 3.14.4. ccxt's own loop leaves aiohttp's queue
    size growing by 128 bytes per drained frame; once it passes the limit aiohttp pauses the socket and,
    the count never falling, never resumes: the feed stops after about 4,800 frames. Reading every frame
    through ``client.receive()`` lets aiohttp keep its own count."""
    if client.closed():
        client.on_close(1006)  # closed between the handshake and the first read, as ccxt does
        return
    task = client.asyncio_loop.create_task(client.receive())

    def delivered(done) -> None:
        if done.cancelled():
            return
        error = done.exception()
        if error is not None:
            client.reject(network_error(str(error)))
            return
        client.handle_message(done.result())
        client.asyncio_loop.call_soon(client.receive_loop)

    task.add_done_callback(delivered)


def make_exchange(config: BackpackConfig, ccxt_module, ccxtpro_module, on_frame: Optional[Callable[[str, float], None]] = None):
    """A ccxt.pro backpack pointed at config's endpoints, CA, proxies and credentials; no network call.
    ``on_frame(stream, now)`` is told of every websocket frame (the health and metrics view)."""

    from ccxt.async_support.base.ws import client as ccxt_client_module

    fix_receive_loop = receive_loop_undercounts(ccxt_client_module)

    class BackpackForCryptofeed(ccxtpro_module.backpack):
        snapshot_limit = config.snapshot_limit

        def __init__(self, options):
            super().__init__(options)
            self.gaps = 0
            self.snapshot_at: dict[str, float] = {}  # unified symbol -> when its last REST snapshot arrived
            self.kline_frames: dict[str, deque] = defaultdict(lambda: deque(maxlen=KLINE_BACKLOG))

        def client(self, url):
            client = super().client(url)
            if fix_receive_loop and not getattr(client, "reads_frames_one_by_one", False):
                client.receive_loop = functools.partial(read_frames_one_by_one, client, ccxt_module.NetworkError)
                client.reads_frames_one_by_one = True
            return client

        async def fetch_order_book(self, symbol, limit=None, params={}):
            # ccxt sends no limit, and Backpack's default differs (docs/ccxt-audit.md row 3): always ask explicitly.
            book = await super().fetch_order_book(symbol, limit, {"limit": limit or self.snapshot_limit, **params})
            self.snapshot_at[symbol] = time.time()
            return book

        def handle_message(self, client, message):
            stream = message.get("stream") if isinstance(message, dict) else None
            if on_frame is not None and stream:  # data frames only; error replies carry no stream
                on_frame(stream, time.time())
            return super().handle_message(client, message)

        def handle_order_book(self, client, message):
            # ccxt applies any delta newer than its book; a skipped update id means the book is wrong.
            data = message.get("data") or {}
            symbol = self.safe_symbol(data.get("s"))
            stored = self.orderbooks.get(symbol)
            first = self.safe_integer(data, "U")
            if stored is not None and stored["nonce"] is not None and first is not None and first > stored["nonce"] + 1:
                self.gaps += 1
                LOG.warning("BACKPACK(ccxt): %s depth gap (U=%d after u=%d): re-snapshotting", symbol, first, stored["nonce"])
                self.orderbooks[symbol] = self.order_book()
            return super().handle_order_book(client, message)

        def handle_ohlcv(self, client, message):
            # ccxt's OHLCV row keeps neither the start time t, the closed flag X nor the trade count n, and
            # stamps the row with the close time T: keep the frame so the feed can report what the wire said.
            data = message.get("data") or {}
            self.kline_frames[self.safe_symbol(data.get("s"))].append(data)
            return super().handle_ohlcv(client, message)

        def handle_errors(self, code, reason, url, method, headers, body, response, request_headers, request_body):
            # Keep the HTTP status in the error text: ccxt otherwise reports only the JSON code.
            if code == 429:
                raise ccxt_module.RateLimitExceeded(f"{self.id} HTTP 429 {body}")
            if code in (403, 451):
                raise ccxt_module.ExchangeNotAvailable(f"{self.id} HTTP {code} {body}")
            return super().handle_errors(code, reason, url, method, headers, body, response, request_headers, request_body)

    options = {
        "enableRateLimit": True,
        "timeout": int(config.rest.timeout_s * 1000),
        "aiohttp_trust_env": False,  # proxies are resolved by proxy.py, the same rule as the native feed
        "options": {"watchOrderBook": {"snapshotDelay": 0}},
    }
    if config.auth is not None:
        # ccxt's backpack signs with the base64 Ed25519 seed as `secret` and the public key as `apiKey`.
        options["apiKey"] = config.auth.api_key
        options["secret"] = config.auth.private_key.get_secret_value()
    exchange = BackpackForCryptofeed(options)
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
