"""WebSocket connections with errors a user can act on, and a connection handler that never gives up.

Two clients sit behind cryptofeed's ``AsyncConnection``, chosen by ``BackpackConfig.connection.ws_client``:
picows (``ws_picows.PicowsConn``, the default) and websockets through cryptofeed's own
``WSAsyncConn`` (``BackpackWSConn`` here). For both, a failed connect (exchange down, TLS not
trusted, proxy unreachable or refusing) becomes a BackpackConnectionError naming the address, the
route (proxy redacted) and the fix, instead of a bare socket or python-socks traceback; the
connection handler then logs it and retries.
"""
from __future__ import annotations

import asyncio
import logging
import ssl
import time
from typing import Optional

from cryptofeed.connection import WSAsyncConn
from cryptofeed.connection_handler import ConnectionHandler

from .. import delivery
from ..errors import BackpackConnectionError
from .policy import retry_delay

LOG = logging.getLogger("feedhandler")
#: a connection that lived this long proved the exchange is back: the backoff starts over
STABLE_CONNECTION_S = 5.0


def connect_error(exc: BaseException, address: str, route, on_error=None) -> Optional[BackpackConnectionError]:
    """The BackpackConnectionError a failed WebSocket connect becomes (handed to ``on_error`` first), or
    None when ``exc`` is not a failure of the network path (a bug, a refused upgrade...), which then
    propagates as it is."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        fix = ("the server certificate is not trusted; set BackpackConfig.ca_file to the CA bundle "
               "(the simulator prints its CA file)")
    elif isinstance(exc, (OSError, ConnectionError)) or _is_proxy_error(exc):
        fix = _route_fix(route)
    else:
        return None
    error = BackpackConnectionError(
        f"websocket connect to {address} via {route.describe()} failed: {type(exc).__name__}: {exc}", fix=fix)
    if on_error is not None:
        on_error(error)
    return error


def _is_proxy_error(exc: BaseException) -> bool:
    # python-socks raises its own ProxyError family, not OSError; websockets has InvalidProxy*
    return type(exc).__module__.startswith("python_socks") or "proxy" in type(exc).__name__.lower()


def _route_fix(route) -> str:
    if route.url:
        return f"check that {route.describe()} is running and allows CONNECT to this host and port"
    return "check the network path to the exchange, or configure proxies={'url': 'socks5://host:port'}"


class BackpackWSConn(WSAsyncConn):
    """The websockets client (``BackpackConfig.connection.ws_client='websockets'``)."""

    def __init__(self, address: str, conn_id: str, route, on_error=None, **kwargs):
        super().__init__(address, conn_id, **kwargs)
        self.route = route
        self.on_error = on_error

    async def _open(self):
        try:
            await super()._open()
        except Exception as exc:
            error = connect_error(exc, self.address, self.route, self.on_error)
            if error is None:
                raise
            raise error from None


class ReconnectingHandler(ConnectionHandler):
    """cryptofeed's ConnectionHandler, except that it never gives up: after any failure it waits a
    capped, jittered exponential delay (``BackpackConfig.connection``) and connects again, until the
    feed is stopped. cryptofeed's own handler doubles its delay without a cap and stops for good
    after ``retries`` failed attempts (cryptofeed 2.5 ``connection_handler.py``)."""

    def __init__(self, *args, policy, on_attempt_failed=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.policy = policy
        self.on_attempt_failed = on_attempt_failed
        self.failures = 0
        self.task: Optional[asyncio.Task] = None
        self.handling = False  # inside _handler: a message may be in its callbacks

    def start(self, loop: asyncio.AbstractEventLoop):
        # kept (cryptofeed drops it) so that a stop can wait for the message in hand
        self.task = loop.create_task(self._create_connection())

    async def stop_delivering(self, timeout: float) -> bool:
        """Stop and close the connection; let a message that is in its callbacks finish them (for up to
        ``timeout`` s), then end the task. True if nothing was cut short. A feed calls this before its
        backends stop, so that no callback hands a backend a record after the backend's stop sentinel
        (feed/core.py, ``shutdown``)."""
        self.running = False
        await self.conn.close()
        task = self.task
        if task is None or task.done() or task is asyncio.current_task() or delivery.inside(self):
            # (inside: one of this connection's callbacks started the stop; the task ends once it returns)
            return True
        finished = True
        if self.handling:  # else it is connecting or waiting to reconnect: nothing to finish
            finished = bool((await asyncio.wait({task}, timeout=timeout))[0])
            if not finished:
                delivery.warn_cut_short(self.conn.uuid, timeout)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=timeout)
        return finished

    def next_delay(self) -> float:
        return retry_delay(self.failures, None, self.policy.reconnect_base_s, self.policy.reconnect_cap_s)

    async def _handler(self, connection, handler):
        # a connection that can drive the handler itself (PicowsConn.pump) skips read()'s async
        # generator; the rest is cryptofeed's _handler: quiet once stopped, else raise to reconnect
        pump = getattr(connection, "pump", None)
        if pump is None:
            return await super()._handler(connection, handler)
        try:
            await pump(handler, self)
        except Exception:
            if not self.running:
                return
            if self.log_on_error:
                LOG.error("%s: error handling a message", connection.uuid)
            raise

    async def _create_connection(self):
        delivery.enter(self)  # this task delivers the connection's messages (delivery.py)
        await asyncio.sleep(self.start_delay)
        while self.running:
            opened_at = time.monotonic()
            try:
                async with self.conn.connect() as connection:
                    await self.authenticate(connection)
                    await self.subscribe(connection)
                    self.failures = 0
                    if self.timeout != -1:
                        asyncio.get_running_loop().create_task(self._watcher())
                    self.handling = True
                    try:
                        await self._handler(connection, self.handler)
                    finally:
                        self.handling = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is retried; only stop() ends the loop
                if self.exceptions and isinstance(exc, tuple(self.exceptions)):
                    raise
                if not self.running:
                    break
                delay = self.next_delay()
                self.failures += 1
                if self.on_attempt_failed is not None:
                    self.on_attempt_failed(exc)
                LOG.warning("%s: connection failed (%s: %s); reconnecting in %.2fs (attempt %d)",
                            self.conn.uuid, type(exc).__name__, exc, delay, self.failures)
                await asyncio.sleep(delay)
            else:
                # the server closed the stream cleanly: reconnect at once, unless it keeps doing so
                # straight after connecting, which would otherwise become a tight loop
                if self.running and time.monotonic() - opened_at < STABLE_CONNECTION_S:
                    delay = self.next_delay()
                    self.failures += 1
                    await asyncio.sleep(delay)
        LOG.info("%s: connection handler stopped", self.conn.uuid)
