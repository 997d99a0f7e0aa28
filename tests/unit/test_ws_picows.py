"""The picows adapter's own logic (transport/ws_picows.py): the bounded queue between picows' per-frame
callback and cryptofeed's read() loop, frame handling on real picows frames, how a close is judged,
the options a route and policy give, and which client a feed builds. No network here: the
integration suite (tests/integration/test_ws_clients.py) runs both clients over loopback TLS."""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import picows
import pytest
from cryptofeed.defines import TRADES
from picows import picows as picows_core

from cryptofeed_backpack import BackpackConfig, BackpackFeed
from cryptofeed_backpack.config import ConnectionPolicy
from cryptofeed_backpack.errors import BackpackConfigError
from cryptofeed_backpack.symbols import seed_symbols
from cryptofeed_backpack.transport.proxy import ProxyRoute
from cryptofeed_backpack.transport.ws import BackpackWSConn
from cryptofeed_backpack.transport.ws_picows import (FrameListener, FrameQueue, PicowsConn, WebSocketClosed,
                                                     close_outcome)
from tests import fixtures

T = picows.WSMsgType
OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"}


def frame(msg_type, payload: bytes, fin: bool = True):
    """A real picows frame, as picows' own tests build them."""
    return picows_core._make_test_ws_frame(msg_type, payload, fin, False)


class Switch:
    """Records pause_reading/resume_reading calls and whether reading is on."""

    def __init__(self):
        self.reading = True
        self.calls: list[str] = []

    def pause(self):
        self.calls.append("pause")
        self.reading = False

    def resume(self):
        self.calls.append("resume")
        self.reading = True


class SentFrames:
    """What a listener asks of picows' transport when it answers a Close."""

    def __init__(self):
        self.closes: list[int] = []
        self.disconnects = 0

    def send_close(self, code=picows.WSCloseCode.OK, message=None):
        self.closes.append(int(code))

    def disconnect(self, graceful=True):
        self.disconnects += 1


def listener(max_size: int = 1 << 20):
    queue = FrameQueue(high=8, low=2)
    return FrameListener(queue, max_size, lambda transport: None), queue


# ---- FrameQueue ------------------------------------------------------------------------------

def test_queue_pauses_reading_at_the_high_mark_and_resumes_at_the_low_mark():
    queue, switch = FrameQueue(high=4, low=1), Switch()
    queue.bind(switch.pause, switch.resume)
    for i in range(3):
        queue.push(i)
    assert switch.calls == []
    queue.push(3)
    assert switch.calls == ["pause"] and queue.paused
    queue.push(4)  # frames already in picows' buffer still arrive: no second pause
    assert switch.calls == ["pause"]
    taken = []
    while queue.messages:
        taken.append(queue.messages.popleft())
        queue.taken()
    assert taken == [0, 1, 2, 3, 4]
    assert switch.calls == ["pause", "resume"] and not queue.paused


def test_a_pause_before_bind_reaches_the_socket_at_bind():
    queue, switch = FrameQueue(high=2, low=0), Switch()
    queue.push("a")
    queue.push("b")
    queue.bind(switch.pause, switch.resume)
    assert switch.calls == ["pause"]


def test_queue_bounds_must_be_ordered():
    with pytest.raises(ValueError, match="low < high"):
        FrameQueue(high=4, low=4)


def test_no_resume_after_the_stream_ended():
    queue, switch = FrameQueue(high=2, low=1), Switch()
    queue.bind(switch.pause, switch.resume)
    queue.push(1)
    queue.push(2)
    queue.end()
    queue.messages.clear()
    queue.taken()
    assert switch.calls == ["pause"]


async def test_wait_returns_on_a_message_or_the_end():
    queue = FrameQueue(high=4, low=1)
    waiting = asyncio.ensure_future(queue.wait())
    await asyncio.sleep(0)
    assert not waiting.done()
    queue.push("x")
    await asyncio.wait_for(waiting, 1)
    await queue.wait()  # a message is there: no wait at all
    queue.messages.clear()
    waiting = asyncio.ensure_future(queue.wait())
    await asyncio.sleep(0)
    queue.end(WebSocketClosed("gone"))
    queue.end(None)  # the first end wins
    await asyncio.wait_for(waiting, 1)
    assert isinstance(queue.error, WebSocketClosed)


async def bursting_socket(queue: FrameQueue, switch: Switch, total: int, burst: int) -> int:
    """The socket side: ``total`` messages (0, 1, ...) in bursts of ``burst`` per loop turn, none while
    reading is paused, then the end; returns the most messages the queue held."""
    sent = peak = 0
    while sent < total:
        if switch.reading:
            for _ in range(min(burst, total - sent)):
                queue.push(sent)
                sent += 1
            peak = max(peak, len(queue.messages))
        await asyncio.sleep(0)
    queue.end()
    return peak


async def test_a_slow_handler_holds_the_backlog_to_the_bound_and_loses_nothing():
    queue, switch = FrameQueue(high=64, low=16), Switch()
    queue.bind(switch.pause, switch.resume)
    total, burst = 5000, 40  # a socket read delivers bursts of frames; a paused socket delivers none
    received = []

    async def handler():  # takes one message per loop turn: slower than the socket
        while True:
            while queue.messages:
                received.append(queue.messages.popleft())
                queue.taken()
                await asyncio.sleep(0)
            if queue.ended:
                return
            await queue.wait()

    peak, _ = await asyncio.wait_for(asyncio.gather(bursting_socket(queue, switch, total, burst), handler()), 30)
    assert received == list(range(total))
    assert peak < queue.high + burst  # at most one burst past the mark
    assert switch.calls.count("pause") == switch.calls.count("resume") >= 10


# ---- FrameListener on real picows frames ---------------------------------------------------------

def test_text_frames_arrive_as_str_and_binary_as_bytes():
    lst, queue = listener()
    lst.on_ws_frame(None, frame(T.TEXT, '{"stream":"trade.SOL_USDC","data":{"p":"1.5"}}'.encode()))
    lst.on_ws_frame(None, frame(T.BINARY, b"\x00\x01"))
    assert list(queue.messages) == ['{"stream":"trade.SOL_USDC","data":{"p":"1.5"}}', b"\x00\x01"]


def test_fragments_are_joined_and_pings_between_them_ignored():
    lst, queue = listener()
    lst.on_ws_frame(None, frame(T.TEXT, b'{"a":', fin=False))
    lst.on_ws_frame(None, frame(T.PING, b""))  # control frames may sit between fragments
    lst.on_ws_frame(None, frame(T.CONTINUATION, "\u00e9".encode()[:1], fin=False))
    lst.on_ws_frame(None, frame(T.CONTINUATION, "\u00e9".encode()[1:] + b'"}', fin=True))
    assert list(queue.messages) == ['{"a":\u00e9"}']


def test_a_fragmented_message_above_the_limit_is_refused_with_1009():
    lst, queue = listener(max_size=10)
    lst.on_ws_frame(None, frame(T.TEXT, b"x" * 6, fin=False))
    with pytest.raises(picows.WSProtocolError) as err:
        lst.on_ws_frame(None, frame(T.CONTINUATION, b"x" * 6, fin=True))
    assert int(err.value.code) == 1009 and not queue.messages


@pytest.mark.parametrize("frames, code", [
    ([frame(T.CONTINUATION, b"x")], 1002),  # nothing to continue
    ([frame(T.TEXT, b"a", fin=False), frame(T.TEXT, b"b")], 1002),  # a new message inside a fragmented one
    ([frame(T.TEXT, b"\xff\xfe")], 1007),  # not UTF-8
    ([frame(T.TEXT, b"\xc3", fin=False), frame(T.CONTINUATION, b"(")], 1007),
])
def test_protocol_violations_close_with_their_code(frames, code):
    lst, queue = listener()
    with pytest.raises(picows.WSProtocolError) as err:
        for f in frames:
            lst.on_ws_frame(None, f)
    assert int(err.value.code) == code and not queue.messages


@pytest.mark.parametrize("payload, echoed", [(b"\x03\xe9bye", 1001), (b"\x03\xe8", 1000), (b"", 1000), (b"\x0f\xa0x", 4000)])
def test_a_close_frame_is_answered_with_its_code_and_the_socket_closed(payload, echoed):
    lst, _ = listener()
    sent = SentFrames()
    lst.on_ws_frame(sent, frame(T.CLOSE, payload))
    assert sent.closes == [echoed] and sent.disconnects == 1


# ---- how a close is judged -------------------------------------------------------------------------

def handshake(recv=None, sent=None, recv_then_sent=False):
    info = lambda c: None if c is None else SimpleNamespace(code=picows.WSCloseCode(c[0]), reason=c[1])  # noqa: E731
    return SimpleNamespace(recv=info(recv), sent=info(sent), recv_then_sent=recv_then_sent)


@pytest.mark.parametrize("hs", [handshake((1000, ""), (1000, ""), True), handshake((1001, "bye"), (1001, ""), True),
                                handshake((0, ""), (1000, ""), True)])
def test_a_normal_close_from_the_peer_is_the_end_of_the_stream(hs):
    assert close_outcome(hs, closed_here=False) is None


@pytest.mark.parametrize("hs, text", [
    (None, "dropped without a close frame (1006)"),
    (handshake((1008, "pong timeout"), (1008, ""), True), "the server closed the connection with 1008 'pong timeout'"),
    (handshake(None, (1001, "peer has not replied to ping/heartbeat request within 10 second(s)")),
     "closed by this client with 1001: peer has not replied to ping"),
    # the peer's echo of a Close this side sent is not a normal end
    (handshake((1009, ""), (1009, "Received frame with payload size exceeding"), False), "closed by this client with 1009"),
])
def test_every_other_end_is_an_error_that_says_how(hs, text):
    error = close_outcome(hs, closed_here=False)
    assert isinstance(error, WebSocketClosed) and isinstance(error, ConnectionError)
    assert text in str(error)


def test_a_close_made_here_is_never_an_error():
    assert close_outcome(None, closed_here=True) is None


# ---- read() over the queue -------------------------------------------------------------------------

class OpenTransport:
    is_disconnected = False


async def test_read_yields_what_arrived_before_the_end_then_raises_how_it_ended():
    conn = PicowsConn("wss://127.0.0.1:9", "BACKPACK", ProxyRoute(None, "none"), ConnectionPolicy())
    switch = Switch()
    conn._queue = queue = FrameQueue(high=3, low=1)
    queue.bind(switch.pause, switch.resume)
    conn.conn = OpenTransport()
    for i in range(4):
        queue.push(f"m{i}")
    queue.end(WebSocketClosed("the connection dropped without a close frame (1006)"))
    got = []
    with pytest.raises(WebSocketClosed, match="1006"):
        async for message in conn.read():
            got.append((message, conn.received, conn.last_message is not None))
    assert got == [("m0", 1, True), ("m1", 2, True), ("m2", 3, True), ("m3", 4, True)]
    assert switch.calls == ["pause"]  # ended: nothing left to resume
    conn.conn = None


async def test_read_waits_for_frames_and_ends_quietly_on_a_normal_close():
    conn = PicowsConn("wss://127.0.0.1:9", "BACKPACK", ProxyRoute(None, "none"), ConnectionPolicy())
    conn._queue = queue = FrameQueue()
    conn.conn = OpenTransport()

    async def later():
        await asyncio.sleep(0.01)
        queue.push("a")
        await asyncio.sleep(0.01)
        queue.push("b")
        queue.end(None)

    feeder = asyncio.ensure_future(later())
    got = [m async for m in conn.read()]
    await feeder
    assert got == ["a", "b"]
    conn.conn = None


# ---- pump(): the feed's handler loop -------------------------------------------------------------

class Owner:
    """The connection handler as pump() sees it: ``running`` says whether the feed still runs."""
    running = True


class ClosingTransport(SentFrames):
    """An open picows transport as PicowsConn.close() uses it."""
    is_disconnected = False

    async def wait_disconnected(self):
        self.is_disconnected = True


@pytest.fixture
def open_conn():
    """PicowsConns over a queue and a ClosingTransport; any left open are let go at the end (cryptofeed
    would otherwise schedule their close() at garbage collection)."""
    made = []

    def make(queue: FrameQueue) -> PicowsConn:
        conn = PicowsConn("wss://127.0.0.1:9", "BACKPACK", ProxyRoute(None, "none"), ConnectionPolicy())
        conn._queue, conn.conn = queue, ClosingTransport()
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.conn = None


async def test_pump_hands_over_every_message_in_order_then_raises_how_it_ended(open_conn):
    conn = open_conn(FrameQueue())
    seen = []

    async def raw(message, timestamp, conn_id, **kwargs):
        seen.append(("raw", message))

    async def handler(message, c, timestamp):
        seen.append((message, c.received, timestamp == c.last_message))

    conn.raw_data_callback = raw
    for i in range(3):
        conn._queue.push(f"m{i}")
    conn._queue.end(WebSocketClosed("the server closed the connection with 1011"))
    with pytest.raises(WebSocketClosed, match="1011"):
        await conn.pump(handler, Owner())
    assert seen == [("raw", "m0"), ("m0", 1, True), ("raw", "m1"), ("m1", 2, True), ("raw", "m2"), ("m2", 3, True)]


async def test_pump_with_a_slow_handler_holds_the_backlog_to_the_bound_and_loses_nothing(open_conn):
    queue, switch = FrameQueue(high=64, low=16), Switch()
    queue.bind(switch.pause, switch.resume)
    conn = open_conn(queue)
    total, burst, received = 3000, 40, []

    async def handler(message, c, timestamp):  # suspends on every message: slower than the socket
        received.append(message)
        await asyncio.sleep(0)

    peak, _ = await asyncio.wait_for(asyncio.gather(bursting_socket(queue, switch, total, burst),
                                                    conn.pump(handler, Owner())), 30)
    assert received == list(range(total))
    assert peak < queue.high + burst
    assert switch.calls.count("pause") == switch.calls.count("resume") >= 10


async def test_pump_closes_the_socket_and_returns_once_the_feed_stops(open_conn):
    conn = open_conn(FrameQueue())
    transport, owner, got = conn.conn, Owner(), []

    async def handler(message, c, timestamp):
        got.append(message)
        if message == "b":
            owner.running = False  # FeedHandler.stop() while frames are still queued

    for m in "abcd":
        conn._queue.push(m)
    await asyncio.wait_for(conn.pump(handler, owner), 5)
    assert got == ["a", "b"] and conn.conn is None
    assert transport.closes == [1000] and transport.disconnects == 1


async def test_the_feeds_handler_drives_a_pump_and_is_quiet_about_errors_after_a_stop(open_conn):
    from cryptofeed_backpack.transport.ws import ReconnectingHandler

    def failing_conn():
        conn = open_conn(FrameQueue())
        conn._queue.push("x")
        return conn

    async def handler(message, c, timestamp):
        raise RuntimeError("a parser bug")

    owner = ReconnectingHandler(failing_conn(), None, handler, None, -1, policy=ConnectionPolicy())
    owner.running = True
    with pytest.raises(RuntimeError, match="a parser bug"):
        await owner._handler(failing_conn(), handler)

    async def stop_then_fail(message, c, timestamp):
        owner.running = False
        raise RuntimeError("after the stop")

    assert await owner._handler(failing_conn(), stop_then_fail) is None


# ---- options and the choice of client ----------------------------------------------------------

@pytest.mark.parametrize("url, proxy, socks", [(None, None, False), ("http://127.0.0.1:3128", "http://127.0.0.1:3128", False),
                                               ("socks5://127.0.0.1:1080", None, True),
                                               ("socks5h://u:p@127.0.0.1:1080", None, True)])
def test_connect_options_follow_the_route_and_the_policy(url, proxy, socks):
    policy = ConnectionPolicy(ping_interval_s=7, ping_timeout_s=3, max_frame_bytes=128 * 1024)
    conn = PicowsConn("wss://127.0.0.1:9", "BACKPACK", ProxyRoute(url, "config" if url else "none"), policy,
                      ssl_context="CTX")
    options = conn.connect_options()
    assert options["ssl_context"] == "CTX" and options["max_frame_size"] == 128 * 1024
    assert options["enable_auto_ping"] and options["auto_ping_strategy"] == picows.WSAutoPingStrategy.PING_WHEN_IDLE
    assert (options["auto_ping_idle_timeout"], options["auto_ping_reply_timeout"]) == (7, 3)
    assert options.get("proxy") == proxy
    assert callable(options.get("socket_factory")) is socks


@pytest.fixture
def seeded(clean_symbols):
    seed_symbols(fixtures.markets())


@pytest.mark.parametrize("connection, cls", [({}, PicowsConn), ({"ws_client": "picows"}, PicowsConn),
                                             ({"ws_client": "websockets"}, BackpackWSConn)])
def test_the_feed_builds_the_configured_client(seeded, connection, cls):
    feed = BackpackFeed(config={**OFFLINE, "connection": connection, "proxies": {"websocket": "socks5h://127.0.0.1:1080"}},
                        symbols=["SUI-USDC"], channels=[TRADES])
    [(conn, _subscribe, _handler, _authenticate)] = feed.connect()
    assert type(conn) is cls and conn.address == "wss://127.0.0.1:9" and ".ws." in conn.id
    assert conn.route.url == "socks5h://127.0.0.1:1080"


def test_ws_client_is_validated_with_the_field_and_the_choices():
    with pytest.raises(BackpackConfigError) as err:
        BackpackConfig.build({"connection": {"ws_client": "aiohttp"}})
    assert err.value.field == "connection.ws_client"
    assert "'picows' or 'websockets'" in str(err.value)


def test_picows_needs_the_pong_wait_within_the_ping_interval():
    with pytest.raises(BackpackConfigError) as err:
        BackpackConfig.build({"connection": {"ping_interval_s": 5, "ping_timeout_s": 8}})
    assert err.value.field == "connection.ping_timeout_s"
    assert "ws_client='websockets'" in err.value.fix
    assert BackpackConfig.build({"connection": {"ping_interval_s": 5, "ping_timeout_s": 8, "ws_client": "websockets"}})
