"""Faults on demand (``sim.faults``). Each method arms a bounded fault; the server consults this state.

Depth faults act on the realtime ``depth.<symbol>`` stream, trade faults on ``trade.<symbol>``.
Connection faults act on every connection open when they are armed (and, for ``stop_pongs``/``stall``,
on later ones too until they end). Every fault that actually happens on the wire is counted in
``injected`` under one of ``FAULT_KINDS``, so a test can compare what was injected with what a feed saw.
"""
from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Optional, Protocol

# Bodies for injected REST errors: JSON {"code","message"} like every Backpack error (PROTOCOL §1.9);
# 502 is what a CDN answers when its origin is down, so it is HTML, not JSON.
REST_FAULT_BODIES = {
    429: ("application/json", '{"code":"TOO_MANY_REQUESTS","message":"Too many requests."}'),
    500: ("application/json", '{"code":"SERVER_ERROR","message":"Internal server error"}'),
    502: ("text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    503: ("application/json", '{"code":"MAINTENANCE","message":"System under maintenance"}'),
    451: ("application/json", '{"code":"FORBIDDEN","message":"Unavailable for legal reasons"}'),
    403: ("application/json", '{"code":"FORBIDDEN","message":"Forbidden"}'),
}
REST_TIMEOUT = 0  # the "status" of a REST fault that never answers

# What ``injected`` counts: one per frame, connection, unanswered ping or request a fault touched
# (``stall``: one per stall armed).
FAULT_KINDS = (
    "depth_dropped", "depth_duplicated", "depth_levels_reordered", "depth_swapped", "depth_far_ahead",
    "trade_duplicated", "socket_closed_after", "socket_dropped", "server_close", "half_open",
    "pongs_withheld", "stall", "stream_stopped", "frame_oversized", "frame_malformed", "event_unknown",
    "rest_error", "rest_timeout", "outage",
)

_KINDS = frozenset(FAULT_KINDS)


class LiveConnections(Protocol):
    """What a fault does to the connections open now; the simulator passes one in at construction."""

    def close_after(self, frames: int) -> None: ...
    def drop_sockets(self) -> int: ...
    def server_close(self, code: int, reason: str) -> int: ...
    def half_open(self, seconds: float) -> int: ...
    def stop_stream(self, stream: str, seconds: float) -> int: ...
    def send_oversized(self, symbol: str, size_bytes: int) -> int: ...
    def broadcast_raw(self, text: str, stream: Optional[str]) -> int: ...
    def send_unknown_event(self) -> int: ...


@dataclass
class RestFault:
    status: int  # REST_TIMEOUT for a request that never answers
    remaining: int
    retry_after: Optional[float]
    paths: Optional[tuple[str, ...]] = None  # None: any path
    hold_s: float = 0.0  # how long a REST_TIMEOUT request hangs before its socket is dropped

    def matches(self, path: str) -> bool:
        return self.paths is None or path in self.paths


@dataclass
class Faults:
    drop_depth: dict = field(default_factory=lambda: defaultdict(int))
    duplicate_depth: dict = field(default_factory=lambda: defaultdict(int))
    reorder_depth: dict = field(default_factory=lambda: defaultdict(int))
    swap_depth: dict = field(default_factory=lambda: defaultdict(int))
    far_ahead_depth: dict = field(default_factory=dict)  # symbol -> [count, ahead, straddle]
    duplicate_trade: dict = field(default_factory=lambda: defaultdict(int))
    ignore_pings: bool = False  # no pongs to client pings until stop_pongs(False)
    no_pongs_until: float = 0.0
    stall_until: float = 0.0
    outage_until: float = 0.0
    rest: list = field(default_factory=list)
    injected: Counter = field(default_factory=Counter)
    # what acts on the live connections right away (the server's LiveConnections); None: nothing is open
    live: Optional["LiveConnections"] = None

    def count(self, kind: str, n: int = 1) -> None:
        if kind not in _KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; add it to FAULT_KINDS")
        self.injected[kind] += n

    def counts(self) -> dict[str, int]:
        """Faults that happened on the wire so far, by kind (kinds that never happened are left out)."""
        return {k: v for k, v in self.injected.items() if v}

    # ---- depth -------------------------------------------------------------------------
    def drop_next_depth(self, symbol: str, count: int = 1) -> None:
        """Skip the next ``count`` realtime depth deltas of ``symbol``: the client sees a gap."""
        self.drop_depth[symbol] += count

    def duplicate_next_depth(self, symbol: str, count: int = 1) -> None:
        """Send each of the next ``count`` realtime depth deltas of ``symbol`` twice."""
        self.duplicate_depth[symbol] += count

    def reorder_next_depth(self, symbol: str, count: int = 1) -> None:
        """Shuffle the level order inside the next ``count`` depth frames having 2+ levels on a side."""
        self.reorder_depth[symbol] += count

    def swap_next_depth(self, symbol: str, count: int = 1) -> None:
        """Send ``count`` pairs of consecutive depth deltas of ``symbol`` in the wrong order (u+1 before u)."""
        self.swap_depth[symbol] += count

    def far_ahead_next_depth(self, symbol: str, ahead: int = 10_000, count: int = 1, straddle: bool = True) -> None:
        """Send the next ``count`` depth deltas of ``symbol`` with ids ``ahead`` beyond the engine's.

        ``straddle=True`` keeps the true ``U`` and sets ``u = U + ahead`` (a frame that seems to continue
        the book, then makes every later delta look stale); ``straddle=False`` shifts both ``U`` and ``u``.
        The levels are the true ones, so a feed that refuses the ids and resyncs ends up exact."""
        self.far_ahead_depth[symbol] = [count, ahead, straddle]

    # ---- trades ------------------------------------------------------------------------
    def duplicate_next_trades(self, symbol: str, count: int = 1) -> None:
        """Send each of the next ``count`` trade frames of ``symbol`` twice (same trade id)."""
        self.duplicate_trade[symbol] += count

    # ---- connection --------------------------------------------------------------------
    def close_after(self, frames: int) -> None:
        """Every open connection closes abruptly after sending ``frames`` more frames."""
        if self.live is not None:
            self.live.close_after(frames)

    def drop_sockets(self) -> int:
        """Drop every open connection now, without a close handshake. Returns how many."""
        return self.live.drop_sockets() if self.live is not None else 0

    def server_close(self, code: int = 1001, reason: str = "") -> int:
        """Send a Close frame with ``code`` on every open connection (1001: the server is going away,
        as at Backpack's shutdown with a grace period). Returns how many connections."""
        return self.live.server_close(code, reason) if self.live is not None else 0

    def half_open(self, seconds: float) -> int:
        """Every open connection goes dead for ``seconds`` while its TCP stays open: the server stops
        sending, pinging and answering pings, and ignores what the client sends. Frames published
        meanwhile are lost (a dead peer queues nothing). Afterwards the socket is dropped, as a kernel
        would once its keepalive gives up. Returns how many connections."""
        return self.live.half_open(seconds) if self.live is not None else 0

    def outage(self, seconds: float) -> int:
        """The exchange is down for ``seconds``: every open connection is dropped, and every WebSocket
        upgrade and REST call meanwhile is answered 503 (what a CDN in front of a dead origin says).
        Returns how many connections were dropped."""
        self.outage_until = time.monotonic() + seconds
        self.count("outage")
        return self.live.drop_sockets() if self.live is not None else 0

    def in_outage(self) -> bool:
        return time.monotonic() < self.outage_until

    def stop_pongs(self, on: bool = True, seconds: Optional[float] = None) -> None:
        """Stop answering the client's protocol pings: until called with False, or for ``seconds``."""
        if seconds is not None:
            self.no_pongs_until = time.monotonic() + seconds
            return
        self.ignore_pings = on

    def pongs_suppressed(self) -> bool:
        return self.ignore_pings or time.monotonic() < self.no_pongs_until

    def stall(self, seconds: float, pongs: bool = True) -> None:
        """Send nothing for ``seconds`` (sockets stay open; frames queue and follow afterwards).
        ``pongs=False`` also withholds pongs for that long (a stalled server that is not answering)."""
        self.stall_until = time.monotonic() + seconds
        self.count("stall")
        if not pongs:
            self.stop_pongs(seconds=seconds)

    def stop_stream(self, stream: str, seconds: float) -> int:
        """Silently stop sending ``stream`` (e.g. ``trade.SOL_USDC``) to the connections subscribed to
        it now, while their other streams flow; for ``seconds``, or until that connection subscribes to
        it again. Returns how many subscriptions went quiet."""
        return self.live.stop_stream(stream, seconds) if self.live is not None else 0

    def send_oversized(self, symbol: str, size_bytes: int = 2 << 20) -> int:
        """Push a ``depth.<symbol>`` frame of about ``size_bytes`` to its subscribers. Its ids are the
        book's current ones and its levels delete prices far outside the book, so a feed that reads
        it anyway keeps an exact book. Returns how many connections got it."""
        return self.live.send_oversized(symbol, size_bytes) if self.live is not None else 0

    def send_malformed(self, text: str = '{"stream":"depth.', stream: Optional[str] = None) -> int:
        """Push a frame that is not valid JSON to every connection (or those on ``stream``)."""
        n = self.live.broadcast_raw(text, stream) if self.live is not None else 0
        self.count("frame_malformed", n)
        return n

    def send_unknown_event(self) -> int:
        """Push a well-formed frame with an event type no client knows, on a subscribed stream."""
        n = self.live.send_unknown_event() if self.live is not None else 0
        self.count("event_unknown", n)
        return n

    # ---- REST --------------------------------------------------------------------------
    def rest_errors(self, status: int, count: int = 1, retry_after: Optional[float] = 1.0,
                    paths: Optional[tuple[str, ...]] = None) -> None:
        """Answer the next ``count`` REST calls (to ``paths``, e.g. ``("/api/v1/depth",)``; default any)
        with ``status`` (429/500/502/503/451/403)."""
        if status not in REST_FAULT_BODIES:
            raise ValueError(f"status {status} is not one of {sorted(REST_FAULT_BODIES)}")
        self.rest.append(RestFault(status, count, retry_after if status in (429, 503) else None, _paths(paths)))

    def rest_timeouts(self, count: int = 1, paths: Optional[tuple[str, ...]] = None, hold_s: float = 30.0) -> None:
        """The next ``count`` REST calls (to ``paths``; default any) never answer: each hangs ``hold_s``,
        then its connection is dropped without a response."""
        self.rest.append(RestFault(REST_TIMEOUT, count, None, _paths(paths), hold_s))

    def take_rest_fault(self, path: str = "") -> Optional[RestFault]:
        self.rest[:] = [f for f in self.rest if f.remaining > 0]
        for fault in self.rest:
            if fault.matches(path):
                fault.remaining -= 1
                self.count("rest_timeout" if fault.status == REST_TIMEOUT else "rest_error")
                return fault
        return None

    def clear(self) -> None:
        """Disarm every pending fault (the ``injected`` counts stay)."""
        for pending in (self.drop_depth, self.duplicate_depth, self.reorder_depth, self.swap_depth,
                        self.far_ahead_depth, self.duplicate_trade):
            pending.clear()
        self.ignore_pings = False
        self.no_pongs_until = 0.0
        self.stall_until = 0.0
        self.rest.clear()


def _paths(paths) -> Optional[tuple[str, ...]]:
    if paths is None:
        return None
    return (paths,) if isinstance(paths, str) else tuple(paths)
