"""REST over the simulator's trade tape (PROTOCOL.md §1.3, §1.5): recent trades, the history with
offset paging that a trade backfill walks, and k-lines built from the same tape.

Both trade endpoints answer newest first (the order of the ccxt recording of ``/api/v1/trades``);
``limit`` defaults to 100 and is capped at 1000, ``offset`` counts back from the newest trade.
"""
from __future__ import annotations

import time
from itertools import islice
from typing import Optional

from aiohttp import web

from . import klines
from .publisher import _dec_str
from .rest import _json, _limit, _market, _sim, api_error, parse_failure

TRADES_PATH = "/api/v1/trades"
TRADES_HISTORY_PATH = "/api/v1/trades/history"


def _trade_rows(m, trades) -> list:
    spec = m.spec
    return [{
        "id": t.id, "isBuyerMaker": t.buyer_is_maker, "price": spec.price_str(t.price),
        "quantity": spec.qty_str(t.qty),
        "quoteQuantity": _dec_str(spec.price_dec(t.price) * spec.qty_dec(t.qty)), "timestamp": t.ts_ms,
    } for t in trades]


def _over_history_budget(sim) -> Optional[web.Response]:
    """Backpack's FAQ: historical time-range endpoints (candles, trades) allow 30 requests/min per
    subaccount. Enforced when the simulator has a ``history_rate_limit``."""
    if sim.history_rate_limit is None:
        return None
    now, calls = time.monotonic(), sim.history_calls
    while calls and now - calls[0] > 60.0:
        calls.popleft()
    if len(calls) >= sim.history_rate_limit:
        return api_error(429, "TOO_MANY_REQUESTS", "Too many requests.")
    calls.append(now)
    return None


async def trades(request: web.Request) -> web.Response:
    spec, err = _market(request)
    if err:
        return err
    limit, err = _limit(request, 100, 1000)
    if err:
        return err
    m = _sim(request).markets.get(spec.symbol)
    recent = list(islice(reversed(m.trades), limit)) if m else []  # newest first, as ccxt's recording
    return _json(_trade_rows(m, recent) if m else [])


async def trades_history(request: web.Request) -> web.Response:
    spec, err = _market(request)
    if err:
        return err
    limit, err = _limit(request, 100, 1000)
    offset, err2 = _limit(request, 0, 10**9, "offset")
    if err or err2:
        return err or err2
    refused = _over_history_budget(_sim(request))
    if refused is not None:
        return refused
    m = _sim(request).markets.get(spec.symbol)
    if m is None:
        return _json([])
    rows = list(islice(reversed(m.trades), offset, offset + limit))
    return _json(_trade_rows(m, rows))


async def kline_history(request: web.Request) -> web.Response:
    interval = request.query.get("interval")
    if interval is None or (interval not in klines.INTERVAL_SECONDS and interval != "1month"):
        return parse_failure("interval", "KlineInterval")
    start_raw, end_raw = request.query.get("startTime"), request.query.get("endTime")
    if start_raw is None or not start_raw.lstrip("-").isdigit():
        return parse_failure("startTime", "i64", "field `startTime` is required" if start_raw is None else "invalid digit found in string")
    if end_raw is not None and not end_raw.lstrip("-").isdigit():
        return parse_failure("endTime", "i64", "invalid digit found in string")
    spec, err = _market(request)
    if err:
        return err
    refused = _over_history_budget(_sim(request))
    if refused is not None:
        return refused
    m = _sim(request).markets.get(spec.symbol)
    start_s, end_s = int(start_raw), int(end_raw) if end_raw else int(time.time()) + 1
    candles: dict[int, list] = {}
    for t in (m.trades if m else ()):
        ts = t.ts_ms / 1000
        if ts < start_s or ts >= end_s:
            continue
        b_start, b_end = klines.bucket(interval, ts)
        c = candles.get(b_start)
        if c is None:
            candles[b_start] = [b_start, b_end, t.price, t.price, t.price, t.price, 0, 0, 0]
            c = candles[b_start]
        c[3] = max(c[3], t.price)
        c[4] = min(c[4], t.price)
        c[5] = t.price
        c[6] += t.qty
        c[7] += t.qty * t.price
        c[8] += 1
    body = []
    for b_start in sorted(candles):
        s, e, o, h, lo, c, v, qv, n = candles[b_start]
        body.append({
            "close": _dec_str(spec.price_dec(c)), "end": klines.spaced(e), "high": _dec_str(spec.price_dec(h)),
            "low": _dec_str(spec.price_dec(lo)), "open": _dec_str(spec.price_dec(o)),
            "quoteVolume": _dec_str(spec.price_dec(1) * spec.qty_dec(qv)), "start": klines.spaced(s),
            "trades": str(n), "volume": _dec_str(spec.qty_dec(v)),
        })
    return _json(body)


def add_routes(app: web.Application) -> None:
    app.router.add_get(TRADES_PATH, trades)
    app.router.add_get(TRADES_HISTORY_PATH, trades_history)
    app.router.add_get("/api/v1/klines", kline_history)
