"""The project's own wire fixtures in tests/fixtures/: our values, Backpack's exact shapes.

Files are named ``<transport>_<stream>__<case>.json`` (``ws_depth__delta.json``,
``rest_markets__mixed.json``); WebSocket fixtures are whole frames ``{"stream": ..., "data": ...}``
as the socket delivers them. tests/fixtures/README.md says which documented shape each follows.
The helpers mirror tests/payloads.py, so a suite switches with an import change and needs no
checkout beside this one.
"""
from __future__ import annotations

import json
from pathlib import Path

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def load(name: str):
    return json.loads(raw(name))


def markets() -> list[dict]:
    """Our ``GET /api/v1/markets`` reply: SPOT, PERP, a lower-case-prefixed base (kPEPE), dotted
    tokenised-equity bases (AAPL.US perp, NVDA.US spot), a CancelOnly and a Closed market."""
    return load("rest_markets__mixed.json")


def market_like(template: dict, symbol: str, base: str, quote: str = "USDC", **changes) -> dict:
    """A market in exactly the shape of ``template``, renamed (for symbols no fixture lists)."""
    market = json.loads(json.dumps(template))
    market.update(symbol=symbol, baseSymbol=base, quoteSymbol=quote, **changes)
    return market
