"""Counters and gauges of one feed. Plain ints on the hot path; labels are fixed strings.

Never put a secret, a signature or a proxy credential into a metric name or label.
"""
from __future__ import annotations

import time
from collections import Counter
from typing import Any


class Metrics:
    __slots__ = ("counters", "gauges", "started_at", "last_frame_at", "last_frame_by_stream")

    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()
        self.gauges: dict[str, float] = {}
        self.started_at = time.time()
        self.last_frame_at: float | None = None
        self.last_frame_by_stream: dict[str, float] = {}

    def inc(self, name: str, value: int = 1) -> None:
        self.counters[name] += value

    def set(self, name: str, value: float) -> None:
        self.gauges[name] = value

    def frame(self, stream: str, now: float) -> None:
        self.counters["ws_messages"] += 1
        self.last_frame_at = now
        self.last_frame_by_stream[stream] = now

    def snapshot(self) -> dict[str, Any]:
        return {
            "counters": dict(self.counters),
            "gauges": dict(self.gauges),
            "uptime_s": time.time() - self.started_at,
            "last_frame_at": self.last_frame_at,
        }

    def prometheus(self, prefix: str = "backpack") -> str:
        """Text exposition format for a /metrics endpoint."""
        lines = []
        for name, value in sorted(self.counters.items()):
            lines.append(f"# TYPE {prefix}_{name}_total counter")
            lines.append(f"{prefix}_{name}_total {value}")
        for name, value in sorted(self.gauges.items()):
            lines.append(f"# TYPE {prefix}_{name} gauge")
            lines.append(f"{prefix}_{name} {value}")
        return "\n".join(lines) + "\n"
