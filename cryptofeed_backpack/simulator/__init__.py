"""A local Backpack exchange speaking the real protocol (docs/protocol.md) over TLS on 127.0.0.1.

See docs/simulator.md. ``BackpackSimulator`` is the entry point.
"""
from .engine import BookView
from .markets import DEFAULT_SPECS, DEFAULT_SYMBOLS, MarketSpec

__all__ = ["BackpackSimulator", "BookView", "DEFAULT_SPECS", "DEFAULT_SYMBOLS", "MarketSpec"]


def __getattr__(name: str):
    # the server pulls in aiohttp.web and cryptography (TLS certificates): importing the market specs
    # alone (benches, tools) should not load them
    if name == "BackpackSimulator":
        from .server import BackpackSimulator

        return BackpackSimulator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
