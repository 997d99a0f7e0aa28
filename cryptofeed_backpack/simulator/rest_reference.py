"""Reference-data REST endpoints: ``/api/v1/assets`` and ``/api/v1/securities``.

ccxt loads both with its markets: ``fetch_currencies`` reads assets, and since ccxt 4.5.90
``fetch_markets`` also reads securities to discover tokenised-stock RFQ markets.
"""
from __future__ import annotations

from aiohttp import web

from .rest_http import json_reply, sim_of

# Trading sessions of a tokenised US equity, named as in ccxt 4.5.90 backpack.py (parse_market's
# "fetchMarkets stock" response comment for GET /api/v1/securities).
US_EQUITY_SESSIONS = ("US_EQUITIES_PRE_MARKET", "US_EQUITIES_REGULAR", "US_EQUITIES_POST_MARKET")
STOCK = "STOCK"


async def assets(request: web.Request) -> web.Response:
    """Shape from the response comment of ccxt backpack.py fetch_currencies (ccxt loads it with markets)."""
    sim = sim_of(request)
    symbols = sorted({s.base for s in sim.specs.values()} | {s.quote for s in sim.specs.values()})
    body = [{
        "coingeckoId": None, "displayName": sym, "symbol": sym,
        "tokens": [{
            "blockchain": "Solana", "contractAddress": None, "depositEnabled": True, "displayName": sym,
            "maximumWithdrawal": None, "minimumDeposit": "0.01", "minimumWithdrawal": "0.02",
            "withdrawEnabled": True, "withdrawalFee": "0.01",
        }],
    } for sym in symbols]
    return json_reply(body)


async def securities(request: web.Request) -> web.Response:
    """One security per tokenised-stock asset listed by the simulator (``rwaMarketType`` STOCK).

    The shape (``asset``, ``cusip``, ``name``, ``sessions[]`` of ``maxQuantity``/``minQuantity``/
    ``name``/``stepSize``) is the response comment in ccxt 4.5.90 backpack.py parse_market; the
    simulator has no issuer data, so ``cusip`` is null and ``name`` repeats the asset.
    """
    sim = sim_of(request)
    stocks = sorted({s.base: s for s in sim.specs.values() if s.rwa == STOCK}.items())
    body = [{
        "asset": base, "cusip": None, "name": base,
        "sessions": [{"maxQuantity": "10000", "minQuantity": spec.step, "name": name, "stepSize": spec.step}
                     for name in US_EQUITY_SESSIONS],
    } for base, spec in stocks]
    return json_reply(body)
