"""Public market-data REST endpoints in the real reply shapes (docs/simulator.md, docs/rest.md)."""
from __future__ import annotations

import time
from decimal import Decimal
from itertools import islice
from typing import Optional

from aiohttp import web

from ..constants import CANDLE_INTERVALS
from . import klines
from .markets import market_object
from .publisher import _dec_str, next_funding_ms
from .rest_http import api_error, json_reply, limit_of, market_of, page_of, parse_failure, sim_of

DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
TICKER_INTERVALS = ("1d", "1w")
MARKET_TYPES = ("SPOT", "PERP", "IPERP", "DATED", "PREDICTION", "RFQ")


async def markets(request: web.Request) -> web.Response:
    sim = sim_of(request)
    wanted = request.query.getall("marketType", [])
    for value in wanted:
        if value not in MARKET_TYPES:
            return parse_failure("marketType", "MarketType")
    body = [market_object(s) for s in sim.specs.values() if not wanted or s.market_type in wanted]
    return json_reply(body, headers={"cache-control": "public, s-maxage=300, stale-while-revalidate=600"})


async def market(request: web.Request) -> web.Response:
    spec, err = market_of(request)
    return err or json_reply(market_object(spec))


async def depth(request: web.Request) -> web.Response:
    raw_limit = request.query.get("limit")
    limit = 1000
    if raw_limit is not None:
        if not raw_limit.isdigit() or int(raw_limit) not in DEPTH_LIMITS:
            return parse_failure("limit", "DepthLimit")
        limit = int(raw_limit)
    spec, err = market_of(request, closed_status=404)
    if err:
        return err
    sim = sim_of(request)
    m = sim.engine_market(spec.symbol)
    asks, bids, last_id = _engine_depth(m, limit) if m is not None else _replayed_depth(sim, spec, limit)
    body = {"asks": asks, "bids": bids, "lastUpdateId": str(last_id), "timestamp": time.time_ns() // 1000}
    return json_reply(body)


def _engine_depth(m, limit: int) -> tuple[list, list, int]:
    """Rows straight from the engine's integer ticks and steps. Going through Decimals (sim.book)
    cost most of a 1000-level reply, and a cold start asks for one per market (docs/performance.md)."""
    asks, bids = m.asks, m.bids
    # both ascending: the best bid is the LAST element (PROTOCOL §1.2)
    return _rows(m.spec, asks, sorted(asks)[:limit]), _rows(m.spec, bids, sorted(bids)[-limit:]), m.update_id


def _rows(spec, side: dict, prices: list) -> list:
    # REST prices are not padded like WS ones ("86700" vs "86700.0"), PROTOCOL §1.2; quantities are
    # written as on WS (spec.qty_str)
    pd, qd = spec.price_decimals, spec.qty_decimals
    if pd and qd:  # "%d.%02d" % divmod(v, 100) is fmt_scaled(v, 2) in one C call per value
        ps, qs, pf, qf = 10 ** pd, 10 ** qd, f"%d.%0{pd}d", f"%d.%0{qd}d"
        return [[(pf % divmod(p, ps)).rstrip("0").rstrip("."), qf % divmod(side[p], qs)] for p in prices]
    return [[_dec_str(spec.price_dec(p)), spec.qty_str(side[p])] for p in prices]


def _replayed_depth(sim, spec, limit: int) -> tuple[list, list, int]:
    book = sim.book(spec.symbol)
    asks = sorted(book.asks.items())[:limit]
    bids = sorted(book.bids.items(), reverse=True)[:limit]
    bids.reverse()
    return ([[_dec_str(p), spec.qty_str(spec.qty_steps(q))] for p, q in asks],
            [[_dec_str(p), spec.qty_str(spec.qty_steps(q))] for p, q in bids], book.last_update_id)


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
    spec, err = market_of(request)
    if err:
        return err
    limit, err = limit_of(request, 100, 1000)
    if err:
        return err
    m = sim_of(request).markets.get(spec.symbol)
    recent = list(islice(reversed(m.trades), limit)) if m else []  # newest first, as ccxt's recording
    return json_reply(_trade_rows(m, recent) if m else [])


async def trades_history(request: web.Request) -> web.Response:
    spec, err = market_of(request)
    if err:
        return err
    limit, offset, err = page_of(request, 1000)
    if err:
        return err
    refused = _over_history_budget(sim_of(request))
    if refused is not None:
        return refused
    m = sim_of(request).markets.get(spec.symbol)
    if m is None:
        return json_reply([])
    rows = list(islice(reversed(m.trades), offset, offset + limit))
    return json_reply(_trade_rows(m, rows))


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
    spec, err = market_of(request)
    if err:
        return err
    m = sim_of(request).markets.get(spec.symbol)
    return json_reply(_ticker(m)) if m else web.Response(status=204)


async def tickers(request: web.Request) -> web.Response:
    interval = request.query.get("interval")
    if interval is not None and interval not in TICKER_INTERVALS:
        return parse_failure("interval", "TickerInterval")
    return json_reply([_ticker(m) for m in sim_of(request).markets.values()])


async def kline_history(request: web.Request) -> web.Response:
    interval = request.query.get("interval")
    if interval is None or interval not in CANDLE_INTERVALS:
        return parse_failure("interval", "KlineInterval")
    start_raw, end_raw = request.query.get("startTime"), request.query.get("endTime")
    if start_raw is None or not start_raw.lstrip("-").isdigit():
        return parse_failure("startTime", "i64", "field `startTime` is required" if start_raw is None else "invalid digit found in string")
    if end_raw is not None and not end_raw.lstrip("-").isdigit():
        return parse_failure("endTime", "i64", "invalid digit found in string")
    spec, err = market_of(request)
    if err:
        return err
    refused = _over_history_budget(sim_of(request))
    if refused is not None:
        return refused
    m = sim_of(request).markets.get(spec.symbol)
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
    return json_reply(body)


async def mark_prices(request: web.Request) -> web.Response:
    sim = sim_of(request)
    symbol = request.query.get("symbol")
    if symbol is not None and symbol not in sim.markets:
        return api_error(400, "INVALID_CLIENT_REQUEST", "Symbol not found")
    body = []
    for sym, m in sim.markets.items():
        if symbol and sym != symbol:
            continue
        mark, index, funding = sim.publisher.mark_values(m)
        row = {"markPrice": _dec_str(mark), "symbol": sym}
        if m.spec.is_perp:  # the funding fields exist on perps only (docs/protocol.md §1.6)
            row.update(fundingRate=_dec_str(funding), indexPrice=_dec_str(index), nextFundingTimestamp=next_funding_ms())
        body.append(dict(sorted(row.items())))  # keys in the recorded (alphabetical) order
    return json_reply(body)


async def open_interest(request: web.Request) -> web.Response:
    sim = sim_of(request)
    symbol = request.query.get("symbol")
    if symbol is not None and symbol not in sim.specs:
        return api_error(400, "INVALID_CLIENT_REQUEST", "Invalid market symbol")
    now_ms = int(time.time() * 1000)
    body = [{"openInterest": m.spec.qty_str(m.open_interest), "symbol": sym, "timestamp": now_ms}
            for sym, m in sim.markets.items() if m.spec.is_perp and (symbol is None or sym == symbol)]
    return json_reply(body)


async def funding_rates(request: web.Request) -> web.Response:
    spec, err = market_of(request)
    if err:
        return err
    limit, offset, err = page_of(request, 10000)
    if err:
        return err
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
    return json_reply(rows, headers=headers)
