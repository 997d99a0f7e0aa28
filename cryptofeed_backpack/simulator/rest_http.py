"""The simulator's HTTP edge: reply helpers, the middleware (counting, rate limit, injected faults,
plain-text 404) and the query-parameter readers every REST handler shares.

Error bodies are the real ones: JSON ``{"code","message"}`` for API errors, plain text for
query-parameter parse failures and unknown paths (docs/simulator.md).
"""
from __future__ import annotations

import asyncio

import json
import time
from collections import deque
from typing import Any, Optional

from aiohttp import web

from .faults import REST_FAULT_BODIES, REST_TIMEOUT

# The app's BackpackSimulator (server.py). Handlers reach it through the app, never by importing
# server.py, which imports them: that would be an import cycle.
SIM_KEY = web.AppKey("sim", object)


def json_reply(body, status: int = 200, headers: Optional[dict] = None) -> web.Response:
    return web.Response(text=json.dumps(body, separators=(",", ":")), status=status,
                        content_type="application/json", headers=headers)


def api_error(status: int, code: str, message: str) -> web.Response:
    return json_reply({"code": code, "message": message}, status)


def parse_failure(param: str, type_name: str, detail: str = "Expect a valid enumeration value.") -> web.Response:
    # PROBE's verbatim text for limit=30; the same wording is used for the other parameters
    return web.Response(status=400, text=f'failed to parse parameter `{param}`: failed to parse "{type_name}": {detail}',
                        content_type="text/plain")


def sim_of(request: web.Request) -> Any:
    return request.app[SIM_KEY]


@web.middleware
async def edge(request: web.Request, handler):
    """Counting, rate limiting, injected faults, plain-text 404 for unknown paths."""
    sim = sim_of(request)
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return await handler(request)
    sim.stats.rest_calls += 1
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    if peer not in sim._rest_peers:
        sim._rest_peers.add(peer)
        sim.stats.rest_connections += 1
    if sim.faults.in_outage():
        ctype, body = REST_FAULT_BODIES[503]
        return web.Response(status=503, text=body, content_type=ctype)
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


def market_of(request: web.Request, *, closed_status: Optional[int] = None):
    """(market sim or spec, error response) for the ``symbol`` query parameter."""
    sim = sim_of(request)
    symbol = request.query.get("symbol")
    if symbol is None:
        return None, parse_failure("symbol", "MarketSymbol", "field `symbol` is required")
    spec = sim.specs.get(symbol)
    if spec is None:
        return None, api_error(400, "INVALID_CLIENT_REQUEST", "Invalid market symbol")
    if not spec.is_open and closed_status is not None:
        return None, api_error(404, "RESOURCE_NOT_FOUND", "Not Found")
    return spec, None


def page_of(request: web.Request, maximum: int, default: int = 100):
    """(limit, offset, error response) of a paged endpoint: ``limit`` capped at ``maximum``, ``offset`` from 0."""
    limit, err = limit_of(request, default, maximum)
    offset, err2 = limit_of(request, 0, 10**9, "offset")
    return limit, offset, err or err2


def limit_of(request: web.Request, default: int, maximum: int, name: str = "limit"):
    raw = request.query.get(name)
    if raw is None:
        return default, None
    if not raw.isdigit():
        return None, parse_failure(name, "u64", "invalid digit found in string")
    return min(int(raw), maximum), None
