"""Connections, subscriptions and fan-out. Frames are serialised once and queued per connection.

Each connection has its own writer task, so a slow client never blocks the engine; a client
that falls more than ``MAX_QUEUE`` frames behind is disconnected (as a real exchange would).
"""
from __future__ import annotations

import asyncio
import json
import logging

import msgspec
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Optional, TextIO

from aiohttp import web

from .faults import Faults

LOG = logging.getLogger("cryptofeed_backpack.simulator")
MAX_QUEUE = 500_000
WRITE_BATCH = 256
WRITE_HIGH_WATER = 1 << 20


def text_frame(text: str) -> bytes:
    """One server-to-client WebSocket text frame (RFC 6455 §5.2: FIN, opcode 1, no mask)."""
    payload = text.encode()
    n = len(payload)
    if n < 126:
        return bytes((0x81, n)) + payload
    if n < 65536:
        return b"\x81\x7e" + n.to_bytes(2, "big") + payload
    return b"\x81\x7f" + n.to_bytes(8, "big") + payload
_ENCODER = msgspec.json.Encoder()


@dataclass
class SimStats:
    frames_sent: int = 0
    frames_published: int = 0
    connections_total: int = 0
    connections: int = 0
    subscriptions: int = 0
    rest_calls: int = 0
    rest_connections: int = 0  # distinct client connections that carried REST calls (keep-alive reuse shows here)
    engine_events: int = 0
    errors_sent: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class Connection:
    def __init__(self, ws: web.WebSocketResponse, hub: "Hub"):
        self.ws = ws
        self.hub = hub
        self.queue: deque[str] = deque()
        self.wakeup = asyncio.Event()
        self.streams: set[str] = set()
        self.keys: set[str] = set()  # hub keys (private keys are prefixed with the api key)
        self.close_budget: Optional[int] = None
        self.closed = False
        self.sent = 0
        self.last_pong = time.monotonic()
        self.task: Optional[asyncio.Task] = None
        self.dead = False  # half-open: the TCP stays up but this side sends, pings and answers nothing
        self.muted: dict[str, float] = {}  # hub key -> monotonic time until which it is not sent

    def push(self, frame: str) -> None:
        if self.closed or self.dead:
            return
        if len(self.queue) >= MAX_QUEUE:
            LOG.warning("client fell %d frames behind; closing it", MAX_QUEUE)
            self.abort()
            return
        self.queue.append(frame)
        self.wakeup.set()

    async def writer(self) -> None:
        faults, stats, ws = self.hub.faults, self.hub.stats, self.ws
        try:
            while not self.closed:
                await self.wakeup.wait()
                self.wakeup.clear()
                while self.queue and not self.closed:
                    wait = faults.stall_until - time.monotonic()
                    if wait > 0:
                        await asyncio.sleep(wait)
                        continue
                    transport = ws._req.transport if ws._req is not None else None  # noqa: SLF001
                    if transport is None or transport.is_closing():
                        return
                    # Whole frames written straight to the transport in batches: aiohttp's per-frame
                    # send_str costs more than generating the frame. Frames are unmasked, uncompressed
                    # (RSV1 clear is valid even when permessage-deflate was negotiated) and complete,
                    # so they interleave safely with aiohttp's own ping/close frames.
                    batch = min(len(self.queue), WRITE_BATCH)
                    if self.close_budget is not None:
                        batch = min(batch, self.close_budget)
                    transport.write(b"".join(text_frame(self.queue.popleft()) for _ in range(batch)))
                    self.sent += batch
                    stats.frames_sent += batch
                    if self.close_budget is not None:
                        self.close_budget -= batch
                        if self.close_budget <= 0:
                            faults.count("socket_closed_after")
                            self.abort()
                            return
                    while transport.get_write_buffer_size() > WRITE_HIGH_WATER and not transport.is_closing():
                        await asyncio.sleep(0.001)
                    await asyncio.sleep(0)
        except (ConnectionResetError, RuntimeError, asyncio.CancelledError):
            pass

    def abort(self) -> None:
        """Drop the TCP connection without a close handshake (what a crashed server does)."""
        self.closed = True
        self.wakeup.set()
        transport = self.ws._req.transport if self.ws._req is not None else None  # noqa: SLF001
        if transport is not None:
            transport.abort()

    def idle(self) -> bool:
        return not self.queue

    def is_muted(self, key: str) -> bool:
        until = self.muted.get(key)
        if until is None:
            return False
        if time.monotonic() < until:
            return True
        del self.muted[key]
        return False

    def go_dead(self, seconds: float) -> None:
        """Half-open for ``seconds``, then drop the TCP connection."""
        self.dead = True
        self.queue.clear()
        asyncio.get_running_loop().call_later(seconds, self.abort)

    async def close_with(self, code: int, reason: str) -> None:
        """A clean server-initiated close: Close frame with ``code``, queued frames discarded."""
        self.closed = True
        self.queue.clear()
        self.wakeup.set()
        try:
            await self.ws.close(code=code, message=reason.encode())
        except (ConnectionResetError, RuntimeError):
            pass


@dataclass
class Hub:
    faults: Faults
    stats: SimStats
    subs: dict = field(default_factory=dict)  # key -> set[Connection]
    connections: set = field(default_factory=set)
    recorder: Optional[TextIO] = None

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)
        self.stats.connections_total += 1
        self.stats.connections = len(self.connections)

    def remove(self, conn: Connection) -> None:
        conn.closed = True
        conn.wakeup.set()
        for key in conn.keys:
            group = self.subs.get(key)
            if group is not None:
                group.discard(conn)
                if not group:
                    del self.subs[key]
        self.stats.subscriptions -= len(conn.keys)
        conn.keys.clear()
        self.connections.discard(conn)
        self.stats.connections = len(self.connections)

    def subscribe(self, conn: Connection, key: str) -> bool:
        conn.muted.pop(key, None)  # subscribing again brings a stopped stream back
        if key in conn.keys:
            return False
        conn.keys.add(key)
        self.subs.setdefault(key, set()).add(conn)
        self.stats.subscriptions += 1
        return True

    def unsubscribe(self, conn: Connection, key: str) -> None:
        if key not in conn.keys:
            return
        conn.keys.discard(key)
        group = self.subs.get(key)
        if group is not None:
            group.discard(conn)
            if not group:
                del self.subs[key]
        self.stats.subscriptions -= 1

    def wants(self, key: str) -> bool:
        return key in self.subs

    def publish(self, key: str, stream: str, data: dict) -> None:
        """Serialise ``{"data":..,"stream":..}`` once and queue it for every subscriber of ``key``."""
        group = self.subs.get(key)
        if not group and self.recorder is None:
            return
        frame = _ENCODER.encode({"data": data, "stream": stream}).decode()
        self.publish_raw(key, stream, frame)

    def publish_raw(self, key: str, stream: str, frame: str) -> None:
        group = self.subs.get(key)
        if self.recorder is not None and not key.startswith("account"):
            self.recorder.write(json.dumps({"ts": time.time(), "stream": stream, "frame": frame}) + "\n")
        if group:
            self.stats.frames_published += 1
            for conn in group:
                if conn.muted and conn.is_muted(key):
                    continue
                conn.push(frame)

    def close_after(self, frames: int) -> None:
        for conn in self.connections:
            conn.close_budget = frames

    def drop_sockets(self) -> int:
        conns = list(self.connections)
        for conn in conns:
            conn.abort()
        self.faults.count("socket_dropped", len(conns))
        return len(conns)

    def server_close(self, code: int, reason: str) -> int:
        conns = [c for c in self.connections if not c.closed]
        for conn in conns:
            asyncio.ensure_future(conn.close_with(code, reason))
        self.faults.count("server_close", len(conns))
        return len(conns)

    def half_open(self, seconds: float) -> int:
        conns = [c for c in self.connections if not c.closed and not c.dead]
        for conn in conns:
            conn.go_dead(seconds)
        self.faults.count("half_open", len(conns))
        return len(conns)

    def stop_stream(self, key: str, seconds: float) -> int:
        until = time.monotonic() + seconds
        group = list(self.subs.get(key, ()))
        for conn in group:
            conn.muted[key] = until
        self.faults.count("stream_stopped", len(group))
        return len(group)

    def broadcast_raw(self, text: str, stream: Optional[str]) -> int:
        targets = self.subs.get(stream, ()) if stream else self.connections
        for conn in targets:
            conn.push(text)
        return len(targets)

    def idle(self) -> bool:
        return all(c.idle() for c in self.connections)
