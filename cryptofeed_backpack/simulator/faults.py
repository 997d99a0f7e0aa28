"""Faults on demand (``sim.faults``). Each method arms a fault; the server consults this state.

Depth faults act on the realtime ``depth.<symbol>`` stream. Connection faults act on every
connection open when they are armed (and, for ``ignore_pings``/``stall``, on later ones too
until they end).
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable, Optional

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


@dataclass
class RestFault:
    status: int
    remaining: int
    retry_after: Optional[float]


@dataclass
class Faults:
    drop_depth: dict = field(default_factory=lambda: defaultdict(int))
    duplicate_depth: dict = field(default_factory=lambda: defaultdict(int))
    reorder_depth: dict = field(default_factory=lambda: defaultdict(int))
    ignore_pings: bool = False  # neither answer client pings nor ... (server pongs stop)
    stall_until: float = 0.0
    rest: list = field(default_factory=list)
    # set by the server: act on live connections right away
    _on_close_after: Optional[Callable[[int], None]] = None
    _on_broadcast_raw: Optional[Callable[[str, Optional[str]], int]] = None
    _on_unknown_event: Optional[Callable[[], int]] = None

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

    # ---- connection --------------------------------------------------------------------
    def close_after(self, frames: int) -> None:
        """Every open connection closes abruptly after sending ``frames`` more frames."""
        if self._on_close_after:
            self._on_close_after(frames)

    def stop_pongs(self, on: bool = True) -> None:
        """Stop answering the client's protocol pings (no pongs) until called with False."""
        self.ignore_pings = on

    def stall(self, seconds: float) -> None:
        """Send nothing for ``seconds`` (sockets stay open; frames queue and follow afterwards)."""
        self.stall_until = time.monotonic() + seconds

    def send_malformed(self, text: str = '{"stream":"depth.', stream: Optional[str] = None) -> int:
        """Push a frame that is not valid JSON to every connection (or those on ``stream``)."""
        return self._on_broadcast_raw(text, stream) if self._on_broadcast_raw else 0

    def send_unknown_event(self) -> int:
        """Push a well-formed frame with an event type no client knows, on a subscribed stream."""
        return self._on_unknown_event() if self._on_unknown_event else 0

    # ---- REST --------------------------------------------------------------------------
    def rest_errors(self, status: int, count: int = 1, retry_after: Optional[float] = 1.0) -> None:
        """Answer the next ``count`` REST calls with ``status`` (429/500/502/503/451/403)."""
        if status not in REST_FAULT_BODIES:
            raise ValueError(f"status {status} is not one of {sorted(REST_FAULT_BODIES)}")
        self.rest.append(RestFault(status, count, retry_after if status in (429, 503) else None))

    def take_rest_fault(self) -> Optional[RestFault]:
        while self.rest:
            fault = self.rest[0]
            if fault.remaining <= 0:
                self.rest.pop(0)
                continue
            fault.remaining -= 1
            return fault
        return None

    def clear(self) -> None:
        self.drop_depth.clear()
        self.duplicate_depth.clear()
        self.reorder_depth.clear()
        self.ignore_pings = False
        self.stall_until = 0.0
        self.rest.clear()
