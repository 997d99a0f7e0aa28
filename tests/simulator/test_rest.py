"""REST endpoints: real shapes (compared with the recorded payloads) and real error bodies."""
from __future__ import annotations

from decimal import Decimal

from cryptofeed_backpack.simulator import DEFAULT_SPECS, BackpackSimulator

from .conftest import payload


async def get(http, sim, path, **params):
    async with http.get(sim.rest_url + path, params=params, ssl=sim.ssl_context()) as r:
        text = await r.text()
        return r.status, r.headers, text, (await r.json(content_type=None) if r.content_type == "application/json" else None)


async def test_markets_have_the_recorded_shape(sim, http):
    status, headers, _, body = await get(http, sim, "/api/v1/markets")
    assert status == 200
    by_symbol = {m["symbol"]: m for m in body}
    perp_ref = payload("bpx-api-client-test__rest-market__SOL_USDC_PERP.json")
    spot_ref = payload("ccxt-static__rest-markets-info.json")[0]
    assert set(by_symbol["BTC_USDC_PERP"]) == set(perp_ref)
    assert set(by_symbol["BTC_USDC_PERP"]["filters"]["price"]) == set(perp_ref["filters"]["price"])
    assert set(by_symbol["SOL_USDC"]) == set(spot_ref) | {"visible"}
    assert by_symbol["BTC_USDC_PERP"]["fundingInterval"] == 3600000  # an integer on the wire
    assert by_symbol["AAPL.US_USDC_PERP"]["rwaMarketType"] == "STOCK"
    assert by_symbol["FTT_USDC"]["orderBookState"] == "Closed"
    assert "FTT_USDC" not in sim.symbols
    assert headers["cache-control"].startswith("public")
    status, _, _, perps = await get(http, sim, "/api/v1/markets", marketType="PERP")
    assert {m["marketType"] for m in perps} == {"PERP"} and len(perps) == 2


async def test_market_and_unknown_symbol(sim, http):
    status, _, _, body = await get(http, sim, "/api/v1/market", symbol="AAPL.US_USDC_PERP")
    assert status == 200 and body["symbol"] == "AAPL.US_USDC_PERP"
    status, _, _, body = await get(http, sim, "/api/v1/market", symbol="NOPE_USDC")
    assert (status, body) == (400, {"code": "INVALID_CLIENT_REQUEST", "message": "Invalid market symbol"})


async def test_depth_shape_order_and_limits(sim, http):
    status, _, _, body = await get(http, sim, "/api/v1/depth", symbol="BTC_USDC_PERP")
    assert status == 200
    assert set(body) == set(payload("ccxt-comment__rest-depth.json"))
    assert isinstance(body["lastUpdateId"], str) and int(body["lastUpdateId"]) > 0
    assert isinstance(body["timestamp"], int) and body["timestamp"] > 10**15  # microseconds
    bids = [Decimal(p) for p, _ in body["bids"]]
    asks = [Decimal(p) for p, _ in body["asks"]]
    assert bids == sorted(bids) and asks == sorted(asks)  # both ascending
    assert bids[-1] < asks[0]  # best bid is the last element
    assert len(bids) > 300 and len(asks) > 300  # deep by default (limit 1000)
    status, _, _, body = await get(http, sim, "/api/v1/depth", symbol="BTC_USDC_PERP", limit="5")
    assert len(body["bids"]) == 5 and len(body["asks"]) == 5
    book = sim.book("BTC_USDC_PERP")
    assert Decimal(body["bids"][-1][0]) <= max(book.bids)


async def test_depth_served_from_the_engine_matches_its_decimal_book(http):
    """/depth renders the engine's integer book directly; it must say exactly what the authoritative
    Decimal book (sim.book) says, in the REST text forms, for every kind of tick and step."""
    symbols = [s.symbol for s in DEFAULT_SPECS if s.is_open] + ["ZZZ_USDC_PERP"]  # the last one gets a generic spec
    async with BackpackSimulator(symbols=symbols, seed=11, rate=300, paused=True) as sim:
        await sim.step(3000)  # the books move away from their seeded shape: deletions, new levels, trades
        for symbol in symbols:
            book = sim.book(symbol)
            spec = sim.specs[symbol]
            for limit in ("5", "1000"):
                _, _, _, body = await get(http, sim, "/api/v1/depth", symbol=symbol, limit=limit)
                n = int(limit)
                asks = sorted(book.asks.items())[:n]
                bids = sorted(book.bids.items())[-n:]
                assert body["lastUpdateId"] == str(book.last_update_id)
                assert [[Decimal(p), Decimal(q)] for p, q in body["asks"]] == [[p, q] for p, q in asks]
                assert [[Decimal(p), Decimal(q)] for p, q in body["bids"]] == [[p, q] for p, q in bids]
                # REST prices unpadded ("86700", not "86700.0"); quantities with the step's decimals, as on WS
                assert all(p == _unpadded(p) for p, _ in body["asks"] + body["bids"])
                assert all(q == spec.qty_str(spec.qty_steps(Decimal(q))) for _, q in body["asks"] + body["bids"])


def _unpadded(text: str) -> str:
    return text.rstrip("0").rstrip(".") if "." in text else text


async def test_depth_errors(sim, http):
    status, _, text, _ = await get(http, sim, "/api/v1/depth", symbol="SOL_USDC", limit="30")
    assert status == 400
    assert text == 'failed to parse parameter `limit`: failed to parse "DepthLimit": Expect a valid enumeration value.'
    status, _, _, body = await get(http, sim, "/api/v1/depth", symbol="NOPE_USDC")
    assert (status, body) == (400, {"code": "INVALID_CLIENT_REQUEST", "message": "Invalid market symbol"})
    status, _, _, body = await get(http, sim, "/api/v1/depth", symbol="FTT_USDC")
    assert (status, body) == (404, {"code": "RESOURCE_NOT_FOUND", "message": "Not Found"})
    status, headers, text, _ = await get(http, sim, "/api/v1/nope")
    assert (status, text) == (404, "not found")


async def test_trades_ticker_klines(sim, http):
    sim.pause()  # the calls below compare two reads of one tape: no engine trade may land between them
    await sim.step(300, symbol="SOL_USDC")
    status, _, _, trades = await get(http, sim, "/api/v1/trades", symbol="SOL_USDC", limit="5")
    assert status == 200 and len(trades) == 5
    assert set(trades[0]) == set(payload("ccxt-comment__rest-trade-element.json"))
    assert isinstance(trades[0]["id"], int) and trades[0]["id"] == trades[1]["id"] + 1  # newest first
    _, _, _, hist = await get(http, sim, "/api/v1/trades/history", symbol="SOL_USDC", limit="2", offset="1")
    assert [t["id"] for t in hist] == [trades[1]["id"], trades[2]["id"]]
    _, _, _, ticker = await get(http, sim, "/api/v1/ticker", symbol="SOL_USDC")
    assert set(ticker) == set(payload("ccxt-static__rest-ticker__ETH_USDC.json"))
    assert isinstance(ticker["trades"], str)
    _, _, _, tickers = await get(http, sim, "/api/v1/tickers")
    assert {t["symbol"] for t in tickers} == set(sim.symbols)
    status, _, text, _ = await get(http, sim, "/api/v1/klines", symbol="SOL_USDC", interval="1m")
    assert status == 400 and "startTime" in text
    _, _, _, kl = await get(http, sim, "/api/v1/klines", symbol="SOL_USDC", interval="1m", startTime="0")
    assert kl and set(kl[0]) == set(payload("ccxt-static__rest-klines-1m__ETH_USDC__a.json")[0])
    assert len(kl[0]["start"]) == 19 and kl[0]["start"][10] == " "
    assert sum(int(k["trades"]) for k in kl) == sim.markets["SOL_USDC"].stats.count


async def test_mark_prices_open_interest_funding(sim, http):
    _, _, _, marks = await get(http, sim, "/api/v1/markPrices")
    by = {m["symbol"]: m for m in marks}
    assert set(by["BTC_USDC_PERP"]) == set(payload("ccxt-comment__rest-markprices-element__BTC_USDC_PERP.json"))
    assert set(by["SOL_USDC"]) == {"markPrice", "symbol"}  # funding fields only on perps
    assert isinstance(by["BTC_USDC_PERP"]["nextFundingTimestamp"], int)
    status, _, _, body = await get(http, sim, "/api/v1/markPrices", symbol="FTT_USDC")
    assert (status, body) == (400, {"code": "INVALID_CLIENT_REQUEST", "message": "Symbol not found"})
    _, _, _, oi = await get(http, sim, "/api/v1/openInterest")
    assert {o["symbol"] for o in oi} == {"BTC_USDC_PERP", "AAPL.US_USDC_PERP"}
    assert set(oi[0]) == set(payload("ccxt-comment__rest-openinterest__BTC_USDC_PERP.json")[0])
    status, headers, _, rates = await get(http, sim, "/api/v1/fundingRates", symbol="BTC_USDC_PERP", limit="3")
    assert status == 200 and len(rates) == 3
    assert set(rates[0]) == set(payload("ccxt-static__rest-fundingrates__ETH_USDC_PERP.json")[0])
    assert rates[0]["intervalEndTimestamp"] > rates[1]["intervalEndTimestamp"]  # newest first
    assert headers["X-PAGE-SIZE"] == "3" and int(headers["X-TOTAL"]) >= 3


async def test_system_endpoints(sim, http):
    status, headers, text, body = await get(http, sim, "/api/v1/status")
    assert body == payload("ccxt-static__rest-status.json")
    status, headers, text, _ = await get(http, sim, "/api/v1/time")
    assert headers["Content-Type"].startswith("text/plain") and text.isdigit() and len(text) == 13
    status, headers, text, _ = await get(http, sim, "/api/v1/ping")
    assert text == "pong"
    assert sim.stats.rest_calls == 3


async def test_rest_rate_limit_answers_429(http):
    async with BackpackSimulator(symbols=["SOL_USDC"], rest_rate_limit=3, paused=True) as s:
        codes = [(await get(http, s, "/api/v1/status"))[0] for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        _, headers, _, body = await get(http, s, "/api/v1/status")
        assert body == {"code": "TOO_MANY_REQUESTS", "message": "Too many requests."}
        assert "Retry-After" not in headers  # the real exchange sends none
