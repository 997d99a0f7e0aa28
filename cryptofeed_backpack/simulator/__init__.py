"""A local Backpack exchange speaking the real protocol (docs/protocol.md) over TLS on 127.0.0.1.

See docs/simulator.md. ``BackpackSimulator`` is the entry point.
"""
from .engine import BookView
from .markets import DEFAULT_SPECS, DEFAULT_SYMBOLS, MarketSpec
from .server import BackpackSimulator

__all__ = ["BackpackSimulator", "BookView", "DEFAULT_SPECS", "DEFAULT_SYMBOLS", "MarketSpec"]
