"""The signed REST reads (docs/auth.md): balances, open orders, positions, fill history."""
from __future__ import annotations

from aiohttp import web

from .private import AuthFailure
from .rest_http import api_error, json_reply, page_of, sim_of


def _signed(instruction: str):
    def wrap(fn):
        async def handler(request: web.Request) -> web.Response:
            sim = sim_of(request)
            h = request.headers
            try:
                account = sim.accounts.verify(h.get("X-API-Key"), h.get("X-Signature"), h.get("X-Timestamp"),
                                              h.get("X-Window"), instruction, dict(request.query))
            except AuthFailure as exc:
                return api_error(exc.status, exc.code, exc.message)
            return await fn(request, sim, account)
        return handler
    return wrap


@_signed("balanceQuery")
async def capital(request, sim, account) -> web.Response:
    return json_reply(sim.accounts.balances_body(account))


@_signed("orderQueryAll")
async def open_orders(request, sim, account) -> web.Response:
    return json_reply(sim.accounts.open_orders_body(account, sim.markets, request.query.get("symbol")))


@_signed("positionQuery")
async def positions(request, sim, account) -> web.Response:
    return json_reply(sim.accounts.positions_body(account, sim.markets))


@_signed("fillHistoryQueryAll")
async def fills(request, sim, account) -> web.Response:
    rows = account.fills
    symbol = request.query.get("symbol")
    if symbol:
        rows = [r for r in rows if r["symbol"] == symbol]
    limit, offset, err = page_of(request, 1000)
    if err:
        return err
    return json_reply(rows[::-1][offset:offset + limit])
