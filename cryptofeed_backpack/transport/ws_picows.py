"""picows as the WebSocket client of BackpackFeed, behind cryptofeed's ``AsyncConnection``.

picows (https://github.com/tarasko/picows) parses frames in C and calls a listener once per frame;
cryptofeed's connection handler pulls messages with ``async for msg in conn.read()``; the feed's
own handler (transport/ws.py) calls ``pump()``, the same loop with one await less per message. A
``FrameQueue`` bridges the two: the listener appends, ``pump()``/``read()`` drains, and once the
handler is ``HIGH_WATER_FRAMES`` behind the socket is no longer read (TCP then pushes back on the
sender) until the handler is down to ``LOW_WATER_FRAMES``.

What it keeps of the websockets path (docs/operations.md, "WebSocket client"):

- TLS with ``BackpackConfig.ssl_context()`` (``ca_file``), else the system store;
- the route of transport/proxy.py: HTTP(S) CONNECT through picows' ``proxy=``; SOCKS5 through
  python-socks with the DNS rule of the scheme (``socks5``: resolved here, ``socks5h``: by the
  proxy), as websockets does it, because picows' ``proxy=`` knows no ``socks5h``;
- protocol pings: after ``ping_interval_s`` without incoming data a ping goes out, and no pong
  within ``ping_timeout_s`` closes the socket, so a dead or half-open peer is noticed within
  their sum;
- a frame or message above ``max_frame_bytes`` closes the socket (1009) instead of being buffered;
- fragmented messages are joined; text arrives as ``str``, binary as ``bytes``;
- a Close 1000/1001 from the exchange ends ``read()`` (the handler reconnects at once); any other
  end raises ``WebSocketClosed`` (the handler backs off, then reconnects);
- a failed connect becomes the same BackpackConnectionError as with websockets (transport/ws.py).

picows offers no permessage-deflate, so the exchange sends uncompressed frames (it compresses
only when the client offers it: docs/protocol.md).
"""
from __future__ import annotations

import asyncio
import collections
import logging
import time
from typing import Callable, Optional
from urllib.parse import unquote, urlsplit

import picows
from cryptofeed.connection import AsyncConnection
from cryptofeed.exceptions import ConnectionClosed

from .ws import connect_error

LOG = logging.getLogger("feedhandler")

#: websockets' default ``open_timeout``: TCP, proxy, TLS and the upgrade together
OPEN_TIMEOUT_S = 10.0
#: how long ``close()`` waits for the socket to go before it aborts it
CLOSE_TIMEOUT_S = 5.0
#: messages held for a handler that is behind: reading stops at HIGH and resumes at LOW
HIGH_WATER_FRAMES = 4096
LOW_WATER_FRAMES = 1024
#: Close codes from the peer that end a stream normally, as websockets' ConnectionClosedOK counts
#: them (RFC 6455 §7.4.1; 1005 "no status" arrives as picows' NO_INFO)
CLEAN_CLOSE_CODES = frozenset({int(picows.WSCloseCode.NO_INFO), 1000, 1001, 1005})

_TEXT = picows.WSMsgType.TEXT
_BINARY = picows.WSMsgType.BINARY
_CONTINUATION = picows.WSMsgType.CONTINUATION
_CLOSE = picows.WSMsgType.CLOSE
_Code = picows.WSCloseCode
_UNSENDABLE_CODES = frozenset({int(_Code.NO_INFO), 1005, 1006, 1015})


class WebSocketClosed(ConnectionError):
    """The stream ended other than by a normal Close from the exchange: the socket dropped, a ping
    went unanswered, a frame was too big. The connection handler reconnects after its backoff."""


def close_outcome(handshake, closed_here: bool) -> Optional[WebSocketClosed]:
    """None when the stream ended normally (closed here, or a 1000/1001 Close from the peer),
    else the error that says how it ended. ``handshake`` is picows' ``WSCloseHandshake`` or None."""
    if closed_here:
        return None
    if handshake is None:
        return WebSocketClosed("the connection dropped without a close frame (1006)")
    recv, sent = handshake.recv, handshake.sent
    if recv is not None and (handshake.recv_then_sent or sent is None):
        code = int(recv.code)
        if code in CLEAN_CLOSE_CODES:
            return None
        reason = f" {recv.reason!r}" if recv.reason else ""
        return WebSocketClosed(f"the server closed the connection with {code}{reason}")
    if sent is not None:
        return WebSocketClosed(f"closed by this client with {int(sent.code)}: {sent.reason}")
    return WebSocketClosed("the connection dropped without a close frame (1006)")


def _nothing() -> None:
    return None


class FrameQueue:
    """Messages received and not read yet, with a bound. Bookkeeping only: ``bind`` gives it the
    socket's ``pause_reading``/``resume_reading``."""

    __slots__ = ("messages", "high", "low", "paused", "ended", "error", "_waiter", "_pause", "_resume")

    def __init__(self, high: int = HIGH_WATER_FRAMES, low: int = LOW_WATER_FRAMES):
        if not 0 <= low < high:
            raise ValueError(f"FrameQueue needs 0 <= low < high, got low={low}, high={high}")
        self.messages: collections.deque = collections.deque()
        self.high, self.low = high, low
        self.paused = False
        self.ended = False
        self.error: Optional[BaseException] = None
        self._waiter: Optional[asyncio.Future] = None
        self._pause: Callable[[], None] = _nothing
        self._resume: Callable[[], None] = _nothing

    def bind(self, pause: Callable[[], None], resume: Callable[[], None]) -> None:
        self._pause, self._resume = pause, resume
        if self.paused:
            pause()

    def push(self, message) -> None:
        messages = self.messages
        messages.append(message)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)
        if len(messages) >= self.high and not self.paused:
            self.paused = True
            self._pause()

    def taken(self) -> None:
        """The reader took a message while reading was paused: resume once down to ``low``."""
        if self.paused and len(self.messages) <= self.low and not self.ended:
            self.paused = False
            self._resume()

    def end(self, error: Optional[BaseException] = None) -> None:
        """No more messages will come; ``error`` (if any) is raised once the queue is drained."""
        if self.ended:
            return
        self.ended, self.error = True, error
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def wait(self) -> None:
        """Until a message arrives or the stream ends."""
        if self.messages or self.ended:
            return
        waiter = self._waiter = asyncio.get_running_loop().create_future()
        await waiter


class FrameListener(picows.WSListener):
    """picows' per-frame callback: messages into the queue, fragments joined, a Close answered.

    Raising ``WSProtocolError`` makes picows send that Close code and disconnect."""

    def __init__(self, queue: FrameQueue, max_size: int, on_disconnected: Callable[[object], None]):
        self.queue = queue
        self.push = queue.push
        self.max_size = max_size
        self.on_disconnected = on_disconnected
        self._parts: Optional[list] = None
        self._parts_type = _TEXT
        self._parts_size = 0

    def on_ws_connected(self, transport) -> None:
        underlying = transport.underlying_transport
        self.queue.bind(underlying.pause_reading, underlying.resume_reading)

    def on_ws_frame(self, transport, frame) -> None:
        msg_type = frame.msg_type
        if msg_type is _TEXT and frame.fin and self._parts is None:
            try:
                self.push(frame.get_payload_as_utf8_text())
            except UnicodeDecodeError:
                raise picows.WSProtocolError(_Code.INVALID_TEXT, "a text frame is not valid UTF-8") from None
        elif msg_type is _CLOSE:
            # echo the peer's code (RFC 6455 §5.5.1), except the ones that may not be sent
            code = frame.get_close_code()
            transport.send_close(_Code.OK if int(code) in _UNSENDABLE_CODES else code)
            transport.disconnect()
        else:
            self._other_frame(frame, msg_type)

    def _other_frame(self, frame, msg_type) -> None:
        if msg_type is _CONTINUATION:
            if self._parts is None:
                raise picows.WSProtocolError(_Code.PROTOCOL_ERROR, "a continuation frame without a message to continue")
            self._add_part(frame)
        elif msg_type is _TEXT or msg_type is _BINARY:
            if self._parts is not None:
                raise picows.WSProtocolError(_Code.PROTOCOL_ERROR, "a new message before the fragmented one ended")
            if frame.fin:
                self.push(frame.get_payload_as_bytes())  # a whole binary frame
                return
            self._parts, self._parts_type, self._parts_size = [], msg_type, 0
            self._add_part(frame)
        # PING and PONG: picows answers pings and watches pongs itself

    def _add_part(self, frame) -> None:
        self._parts_size += frame.payload_size
        if self._parts_size > self.max_size:
            raise picows.WSProtocolError(_Code.MESSAGE_TOO_BIG,
                                         f"a fragmented message above max_frame_bytes ({self.max_size})")
        self._parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return
        data = b"".join(self._parts)
        self._parts = None
        if self._parts_type is _TEXT:
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError:
                raise picows.WSProtocolError(_Code.INVALID_TEXT, "a text message is not valid UTF-8") from None
        self.push(data)

    def on_ws_disconnected(self, transport) -> None:
        self.on_disconnected(transport)


def socks_socket_factory(proxy_url: str):
    """picows ``socket_factory``: a socket tunnelled through the SOCKS5 proxy to the WebSocket host,
    with the DNS rule of the scheme (docs/proxies.md) as websockets applies it."""
    from python_socks import ProxyType
    from python_socks.async_.asyncio import Proxy

    parts = urlsplit(proxy_url)
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    rdns = parts.scheme == "socks5h"

    async def tunnel(target):  # without proxy=, picows passes the WebSocket server's coordinates
        proxy = Proxy(ProxyType.SOCKS5, parts.hostname, parts.port, username, password, rdns)
        return await proxy.connect(dest_host=target.host, dest_port=target.port)

    return tunnel


class PicowsConn(AsyncConnection):
    """The picows client (``BackpackConfig.connection.ws_client='picows'``, the default)."""

    def __init__(self, address: str, conn_id: str, route, policy, ssl_context=None, on_error=None,
                 subscription=None, high_water: int = HIGH_WATER_FRAMES, low_water: int = LOW_WATER_FRAMES):
        if not address.startswith("wss://"):
            raise ValueError(f"Invalid address, must be a wss address. Provided address is: {address!r}")
        self.address = address
        super().__init__(f"{conn_id}.ws.{self.conn_count}", subscription=subscription)
        self.route = route
        self.policy = policy
        self.ssl_context = ssl_context
        self.on_error = on_error
        self.high_water, self.low_water = high_water, low_water
        self._queue: Optional[FrameQueue] = None
        self._closed_here = False

    @property
    def is_open(self) -> bool:
        return self.conn is not None and not self.conn.is_disconnected

    def connect_options(self) -> dict:
        """picows ``ws_connect`` arguments for the policy, the TLS context and the route."""
        policy = self.policy
        options = {
            "ssl_context": self.ssl_context,
            "enable_auto_ping": True,
            "auto_ping_strategy": picows.WSAutoPingStrategy.PING_WHEN_IDLE,
            "auto_ping_idle_timeout": policy.ping_interval_s,
            "auto_ping_reply_timeout": policy.ping_timeout_s,
            "max_frame_size": policy.max_frame_bytes,
        }
        if self.route.is_socks:
            options["socket_factory"] = socks_socket_factory(self.route.url)
        elif self.route.url:
            options["proxy"] = self.route.url
        return options

    async def _open(self):
        if self.is_open:
            LOG.warning("%s: websocket already open", self.id)
            return
        LOG.debug("%s: connecting to %s", self.id, self.address)
        if self.raw_data_callback:
            await self.raw_data_callback(None, time.time(), self.id, connect=self.address)
        queue = FrameQueue(self.high_water, self.low_water)
        listener = FrameListener(queue, self.policy.max_frame_bytes, self._on_disconnected)
        self._queue, self._closed_here = queue, False
        try:
            async with asyncio.timeout(OPEN_TIMEOUT_S):
                transport, _ = await picows.ws_connect(lambda *_: listener, self.address, **self.connect_options())
        except Exception as exc:
            error = connect_error(exc, self.address, self.route, self.on_error)
            if error is None:
                raise
            raise error from None
        self.conn = transport
        self.sent = 0
        self.received = 0
        self.last_message = None

    def _on_disconnected(self, transport) -> None:
        self._queue.end(close_outcome(transport.close_handshake, self._closed_here))

    def _open_queue(self) -> FrameQueue:
        queue = self._queue
        if queue is None or self.conn is None:
            LOG.error("%s: connection closed in read()", self.id)
            raise ConnectionClosed
        return queue

    def _raise_how_it_ended(self, queue: FrameQueue) -> None:
        if queue.error is not None and not self._closed_here:
            raise queue.error

    async def read(self):
        """cryptofeed's ``AsyncConnection`` interface. The feed's connection handler calls ``pump``
        instead, which is this loop without the async generator between the queue and the handler."""
        queue = self._open_queue()
        messages = queue.messages
        popleft = messages.popleft
        raw = self.raw_data_callback
        clock = time.time
        while True:
            while messages:
                message = popleft()
                if queue.paused:
                    queue.taken()
                self.received += 1
                self.last_message = clock()
                if raw is not None:
                    await raw(message, self.last_message, self.id)
                yield message
            if queue.ended:
                self._raise_how_it_ended(queue)
                return
            await queue.wait()

    async def pump(self, handler, owner) -> None:
        """Hand every message to ``handler(message, conn, timestamp)`` until the stream ends, in the
        calling task, as cryptofeed's ``ConnectionHandler._handler`` does over ``read()`` (closing
        once ``owner.running`` is false), but with one await per message instead of two: stepping
        an async generator per frame cost about 0.7 µs (docs/performance.md)."""
        queue = self._open_queue()
        messages = queue.messages
        popleft = messages.popleft
        raw = self.raw_data_callback
        clock = time.time
        while True:
            while messages:
                message = popleft()
                if queue.paused:
                    queue.taken()
                if not owner.running:
                    await self.close()
                    return
                self.received += 1
                timestamp = self.last_message = clock()
                if raw is not None:
                    await raw(message, timestamp, self.id)
                await handler(message, self, timestamp)
            if queue.ended:
                self._raise_how_it_ended(queue)
                return
            await queue.wait()

    async def write(self, data):
        if not self.is_open:
            raise ConnectionClosed
        if self.raw_data_callback:
            await self.raw_data_callback(data, time.time(), self.id, send=self.address)
        # a str goes as a text frame, bytes as binary, as with websockets
        self.conn.send(_TEXT if isinstance(data, str) else _BINARY, data)
        self.sent += 1

    async def close(self):
        transport = self.conn
        if transport is None:
            return
        self.conn = None
        self._closed_here = True
        if not transport.is_disconnected:
            transport.send_close(_Code.OK)
            transport.disconnect()
        try:
            await asyncio.wait_for(transport.wait_disconnected(), CLOSE_TIMEOUT_S)
        except asyncio.TimeoutError:
            transport.disconnect(graceful=False)
        except Exception:  # noqa: BLE001 - how it ended is read() and close_outcome()'s concern
            pass
        LOG.info("%s: closed connection %r", self.id, type(transport).__name__)
