"""REST endpoints of PROTOCOL.md §1 (public) and four signed reads (§2), on aiohttp.

Error bodies are the real ones: JSON ``{"code","message"}`` for API errors, plain text for
query-parameter parse failures and unknown paths.
"""
from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Optional

from aiohttp import web

from . import klines
from .faults import REST_FAULT_BODIES, REST_TIMEOUT
from .markets import market_object
from .private import AuthFailure
from .publisher import _dec_str, next_funding_ms

if TYPE_CHECKING:
    from .server import BackpackSimulator

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
TICKER_INTERVALS = ("1d", "1w")
DEPTH_PATH = "/api/v1/depth"
MARKET_TYPES = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")


def _json(body, status: int = 200, headers: Optional[dict] = None) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json", headers=headers)


def api_error(status: int, code: str, message: str) -> web.Response:
    return _json({"code": code, "message": message}, status)


def parse_failure(param: str, type_name: str, detail: str = "Expect a valid enumeration value.") -> web.Response:
    # PROBE's verbatim text for limit=30; the same wording is used for the other parameters
    return web.Response(status=400, text=f'failed to parse parameter `{param}`: failed to parse "{type_name}": {detail}',
                        content_type="text/plain")


SIM_KEY = web.AppKey("sim", object)


def _sim(request: web.Request) -> "BackpackSimulator":
    return request.app[SIM_KEY]


@web.middleware
async def edge(request: web.Request, handler):
    """Counting, rate limiting, injected faults, plain-text 404 for unknown paths."""
    sim = _sim(request)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await handler(request)
    sim.stats.rest_calls += 1
    fault = sim.faults.take_rest_fault(request.path)
    if fault is not None and fault.status == REST_TIMEOUT:
        await asyncio.sleep(fault.hold_s)  # never answered: the client's own timeout is what ends it
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=504)
    if fault is not None:
        ctype, body = REST_FAULT_BODIES[fault.status]
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else None
        return web.Response(status=fault.status, text=body, content_type=ctype, headers=headers)
    if sim.rest_rate_limit is not None:
        now = time.monotonic()
        calls: deque = sim._rest_calls
        while calls and now - calls[0] > 60.0:
            calls.popleft()
        if len(calls) >= sim.rest_rate_limit:
            # no Retry-After: PROBE saw none from the real exchange
            return api_error(429, "TOO_MANY_REQUESTS", "Too many requests.")
        calls.append(now)
    try:
        return await handler(request)
    except web.HTTPNotFound:
        return web.Response(status=404, text="not found", content_type="text/plain")
    except web.HTTPMethodNotAllowed:
        return web.Response(status=405, text="method not allowed", content_type="text/plain")


def _market(request: web.Request, *, closed_status: Optional[int] = None):
    """(market sim or spec, error response) for the ``symbol`` query parameter."""
    sim = _sim(request)
    symbol = request.query.get("symbol")
    if symbol is None:
        return None, parse_failure("symbol", "MarketSymbol", "field `symbol` is required")
    spec = sim.specs.get(symbol)
    if spec is None:
        return None, api_error(400, "INVALID_CLIENT_REQUEST", "Invalid market symbol")
    if not spec.is_open and closed_status is not None:
        return None, api_error(404, "RESOURCE_NOT_FOUND", "Not Found")
    return spec, None


async def markets(request: web.Request) -> web.Response:
    sim = _sim(request)
    wanted = request.query.getall("marketType", [])
    for value in wanted:
        if value not in MARKET_TYPES:
            return parse_failure("marketType", "MarketType")
    body = [market_object(s) for s in sim.specs.values() if not wanted or s.market_type in wanted]
    return _json(body, headers={"cache-control": "public, s-maxage=300, stale-while-revalidate=600"})


async def market(request: web.Request) -> web.Response:
    spec, err = _market(request)
    return err or _json(market_object(spec))


async def depth(request: web.Request) -> web.Response:
    raw_limit = request.query.get("limit")
    limit = 1000
    if raw_limit is not None:
        if not raw_limit.isdigit() or int(raw_limit) not in DEPTH_LIMITS:
            return parse_failure("limit", "DepthLimit")
        limit = int(raw_limit)
    spec, err = _market(request, closed_status=404)
    if err:
        return err
    sim = _sim(request)
    book = sim.book(spec.symbol)
    asks = sorted(book.asks.items())[:limit]
    bids = sorted(book.bids.items(), reverse=True)[:limit]
    bids.reverse()  # ascending: the best bid is the LAST element (PROTOCOL §1.2)
    # REST prices are not padded like WS ones ("86700" vs "86700.0"), PROTOCOL §1.2
    body = {
        "asks": [[_dec_str(p), spec.qty_str(spec.qty_steps(q))] for p, q in asks],
        "bids": [[_dec_str(p), spec.qty_str(spec.qty_steps(q))] for p, q in bids],
        "lastUpdateId": str(book.last_update_id),
        "timestamp": time.time_ns() // 1000,
    }
    return _json(body)


def _limit(request: web.Request, default: int, maximum: int, name: str = "limit"):
    raw = request.query.get(name)
    if raw is None:
        return default, None
    if not raw.isdigit():
        return None, parse_failure(name, "u64", "invalid digit found in string")
    return min(int(raw), maximum), None


def _ticker(m) -> dict:
    spec, st = m.spec, m.stats
    last = m.last_price()
    first = st.first if st.first is not None else last
    change = spec.price_dec(last) - spec.price_dec(first)
    pct = (change / spec.price_dec(first)).quantize(Decimal("0.000001")) if first else Decimal(0)
    return {
        "firstPrice": _dec_str(spec.price_dec(first)), "high": _dec_str(spec.price_dec(st.high if st.high else last)),
        "lastPrice": _dec_str(spec.price_dec(last)), "low": _dec_str(spec.price_dec(st.low if st.low else last)),
        "priceChange": _dec_str(change), "priceChangePercent": _dec_str(pct),
        "quoteVolume": _dec_str(spec.price_dec(1) * spec.qty_dec(st.quote_volume)), "symbol": m.symbol,
        "trades": str(st.count), "volume": _dec_str(spec.qty_dec(st.volume)),
    }


async def ticker(request: web.Request) -> web.Response:
    interval = request.query.get("interval")
    if interval is not None and interval not in TICKER_INTERVALS:
        return parse_failure("interval", "TickerInterval")
    spec, err = _market(request)
    if err:
        return err
    m = _sim(request).markets.get(spec.symbol)
    return _json(_ticker(m)) if m else web.Response(status=204)


async def tickers(request: web.Request) -> web.Response:
    interval = request.query.get("interval")
    if interval is not None and interval not in TICKER_INTERVALS:
        return parse_failure("interval", "TickerInterval")
    return _json([_ticker(m) for m in _sim(request).markets.values()])


async def mark_prices(request: web.Request) -> web.Response:
    sim = _sim(request)
    symbol = request.query.get("symbol")
    if symbol is not None and symbol not in sim.markets:
        return api_error(400, "INVALID_CLIENT_REQUEST", "Symbol not found")
    body = []
    for sym, m in sim.markets.items():
        if symbol and sym != symbol:
            continue
        mark, index, funding = sim.publisher.mark_values(m)
        row = {}
        if m.spec.is_perp:
            row = {"fundingRate": _dec_str(funding), "indexPrice": _dec_str(index)}
        row["markPrice"] = _dec_str(mark)
        if m.spec.is_perp:
            row["nextFundingTimestamp"] = next_funding_ms()
        row["symbol"] = sym
        body.append(row)
    return _json(body)


async def open_interest(request: web.Request) -> web.Response:
    sim = _sim(request)
    symbol = request.query.get("symbol")
    if symbol is not None and symbol not in sim.specs:
        return api_error(400, "INVALID_CLIENT_REQUEST", "Invalid market symbol")
    now_ms = int(time.time() * 1000)
    body = [{"openInterest": m.spec.qty_str(m.open_interest), "symbol": sym, "timestamp": now_ms}
            for sym, m in sim.markets.items() if m.spec.is_perp and (symbol is None or sym == symbol)]
    return _json(body)


async def funding_rates(request: web.Request) -> web.Response:
    spec, err = _market(request)
    if err:
        return err
    limit, err = _limit(request, 100, 10000)
    offset, err2 = _limit(request, 0, 10**9, "offset")
    if err or err2:
        return err or err2
    if not spec.is_perp:
        rows_total = 0
    else:
        rows_total = 24 * 30  # a month of hourly intervals, the one in progress first
    first_end_ms = next_funding_ms()
    rows = []
    for k in range(offset, min(offset + limit, rows_total)):
        end_s = first_end_ms // 1000 - 3600 * k
        rate = Decimal((k * 7919 + len(spec.symbol)) % 250 - 50) / Decimal(10**7)
        rows.append({"fundingRate": _dec_str(rate), "intervalEndTimestamp": klines.iso(end_s), "symbol": spec.symbol})
    page_size = limit or 1
    headers = {
        "X-PAGE-COUNT": str(max(1, -(-rows_total // page_size))), "X-CURRENT-PAGE": str(offset // page_size + 1),
        "X-PAGE-SIZE": str(page_size), "X-TOTAL": str(rows_total),
    }
    return _json(rows, headers=headers)


async def assets(request: web.Request) -> web.Response:
    """Shape from the response comment of ccxt backpack.py fetch_currencies (ccxt loads it with markets)."""
    sim = _sim(request)
    symbols = sorted({s.base for s in sim.specs.values()} | {s.quote for s in sim.specs.values()})
    body = [{
        "coingeckoId": None, "displayName": sym, "symbol": sym,
        "tokens": [{
            "blockchain": "Solana", "contractAddress": None, "depositEnabled": True, "displayName": sym,
            "maximumWithdrawal": None, "minimumDeposit": "0.01", "minimumWithdrawal": "0.02",
            "withdrawEnabled": True, "withdrawalFee": "0.01",
        }],
    } for sym in symbols]
    return _json(body)


async def status(request: web.Request) -> web.Response:
    return _json({"message": None, "status": "Ok"})


async def server_time(request: web.Request) -> web.Response:
    return web.Response(text=str(int(time.time() * 1000)), content_type="text/plain")


async def ping(request: web.Request) -> web.Response:
    return web.Response(text="pong", content_type="text/plain")


# ---- signed reads ------------------------------------------------------------------------

def _signed(instruction: str):
    def wrap(fn):
        async def handler(request: web.Request) -> web.Response:
            sim = _sim(request)
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
    return _json(sim.accounts.balances_body(account))


@_signed("orderQueryAll")
async def open_orders(request, sim, account) -> web.Response:
    return _json(sim.accounts.open_orders_body(account, sim.markets, request.query.get("symbol")))


@_signed("positionQuery")
async def positions(request, sim, account) -> web.Response:
    return _json(sim.accounts.positions_body(account, sim.markets))


@_signed("fillHistoryQueryAll")
async def fills(request, sim, account) -> web.Response:
    rows = account.fills
    symbol = request.query.get("symbol")
    if symbol:
        rows = [r for r in rows if r["symbol"] == symbol]
    limit, err = _limit(request, 100, 1000)
    offset, err2 = _limit(request, 0, 10**9, "offset")
    if err or err2:
        return err or err2
    return _json(rows[::-1][offset:offset + limit])


def add_routes(app: web.Application) -> None:
    get = app.router.add_get
    get("/api/v1/markets", markets)
    get("/api/v1/assets", assets)
    get("/api/v1/market", market)
    get(DEPTH_PATH, depth)
    get("/api/v1/ticker", ticker)
    get("/api/v1/tickers", tickers)
    get("/api/v1/markPrices", mark_prices)
    get("/api/v1/openInterest", open_interest)
    get("/api/v1/fundingRates", funding_rates)
    get("/api/v1/status", status)
    get("/api/v1/time", server_time)
    get("/api/v1/ping", ping)
    get("/api/v1/capital", capital)
    get("/api/v1/orders", open_orders)
    get("/api/v1/position", positions)
    get("/wapi/v1/history/fills", fills)
