"""The simulator's REST API: which path is served by which handler.

Handlers live by domain: ``rest_market`` (public market data), ``rest_reference``
(assets, securities), ``rest_account`` (signed reads); ``rest_http`` holds the edge middleware
and the reply helpers. System endpoints are small enough to live here.
"""
from __future__ import annotations

import time

from aiohttp import web

from . import rest_account as account
from . import rest_market as market
from . import rest_reference as reference
from .rest_http import SIM_KEY, edge, json_reply

__all__ = ["SIM_KEY", "add_routes", "edge"]


async def status(request: web.Request) -> web.Response:
    return json_reply({"message": None, "status": "Ok"})


async def server_time(request: web.Request) -> web.Response:
    return web.Response(text=str(int(time.time() * 1000)), content_type="text/plain")


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="pong", content_type="text/plain")


def add_routes(app: web.Application) -> None:
    get = app.router.add_get
    get("/api/v1/markets", market.markets)
    get("/api/v1/market", market.market)
    get("/api/v1/depth", market.depth)
    get("/api/v1/trades", market.trades)
    get("/api/v1/trades/history", market.trades_history)
    get("/api/v1/ticker", market.ticker)
    get("/api/v1/tickers", market.tickers)
    get("/api/v1/klines", market.kline_history)
    get("/api/v1/markPrices", market.mark_prices)
    get("/api/v1/openInterest", market.open_interest)
    get("/api/v1/fundingRates", market.funding_rates)
    get("/api/v1/assets", reference.assets)
    get("/api/v1/securities", reference.securities)
    get("/api/v1/status", status)
    get("/api/v1/time", server_time)
    get("/api/v1/ping", ping)
    get("/api/v1/capital", account.capital)
    get("/api/v1/orders", account.open_orders)
    get("/api/v1/position", account.positions)
    get("/wapi/v1/history/fills", account.fills)
