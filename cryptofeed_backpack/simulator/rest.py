"""The simulator's REST API: which path is served by which handler.

Handlers live by domain: ``rest_market`` (public market data), ``rest_reference``
(assets, securities), ``rest_account`` (signed reads); ``rest_http`` holds the edge middleware
and the reply helpers. System endpoints are small enough to live here.
"""
from __future__ import annotations

import time

from aiohttp import web

from ..constants import Rest
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
    get(Rest.MARKETS.path, market.markets)
    get(Rest.MARKET.path, market.market)
    get(Rest.DEPTH.path, market.depth)
    get(Rest.TRADES.path, market.trades)
    get(Rest.TRADES_HISTORY.path, market.trades_history)
    get(Rest.TICKER.path, market.ticker)
    get(Rest.TICKERS.path, market.tickers)
    get(Rest.KLINES.path, market.kline_history)
    get(Rest.MARK_PRICES.path, market.mark_prices)
    get(Rest.OPEN_INTEREST.path, market.open_interest)
    get(Rest.FUNDING_RATES.path, market.funding_rates)
    get(Rest.ASSETS.path, reference.assets)
    get(Rest.SECURITIES.path, reference.securities)
    get(Rest.STATUS.path, status)
    get(Rest.TIME.path, server_time)
    get(Rest.PING.path, ping)
    get(Rest.CAPITAL.path, account.capital)
    get(Rest.ORDERS.path, account.open_orders)
    get(Rest.POSITION.path, account.positions)
    get(Rest.FILLS_HISTORY.path, account.fills)
