"""Access to the real recorded payloads in ../shared/backpack (read in place, never copied)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared" / "backpack"
PAYLOADS = SHARED / "payloads"


def require_shared() -> Path:
    if not PAYLOADS.is_dir():
        pytest.skip(f"real payloads not found at {PAYLOADS}: clone the project with ../shared beside it (CI has it)")
    return PAYLOADS


def load(name: str):
    return json.loads((require_shared() / name).read_bytes())


def raw(name: str) -> bytes:
    return (require_shared() / name).read_bytes()


def real_markets() -> list[dict]:
    """Every real Market object we have: ccxt's recording plus the official client's fixtures."""
    markets = list(load("ccxt-static__rest-markets-info.json"))
    markets.append(load("bpx-api-client-test__rest-market__SOL_USDC_PERP.json"))
    markets.append(load("bpx-api-client-test__rest-market-rwa__SPCX.US_USDC.json"))
    return markets


def market_like(template: dict, symbol: str, base: str, quote: str = "USDC", **changes) -> dict:
    """A market in exactly the real shape of ``template``, renamed (for symbols no capture covers)."""
    market = json.loads(json.dumps(template))
    market.update(symbol=symbol, baseSymbol=base, quoteSymbol=quote, **changes)
    return market
