"""BackpackRestClient and BackpackRestMixin against the local Backpack simulator over loopback TLS.

Every REST error class is produced by the simulator's fault injection (or its real validation),
and the REST interface is checked to return correct, typed cryptofeed objects.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from tests.unit.test_rest_api import Host
from cryptofeed.defines import BUY, LIMIT, LONG, OPEN, SELL
from cryptofeed.types import Candle, Fill, Funding, OpenInterest, OrderBook, OrderInfo, Position, Ticker, Trade

from cryptofeed_backpack import auth
from cryptofeed_backpack.errors import (
    BackpackConnectionError,
    BackpackRateLimitError,
    BackpackRegionRestrictedError,
    BackpackRestError,
    BackpackServerError,
    CircuitOpenError,
)
from cryptofeed_backpack.transport.rest import BackpackRestClient
from cryptofeed_backpack.simulator import BackpackSimulator

pytestmark = pytest.mark.integration

SEED = bytes(range(1, 33))
API_KEY = auth.b64(auth.public_key_from_seed(SEED))
CREDS = {"api_key": API_KEY, "private_key": auth.b64(SEED)}


class Sleeps:
    def __init__(self):
        self.calls: list[float] = []

    async def sleep(self, s):
        self.calls.append(s)
        await asyncio.sleep(0)


@pytest.fixture
async def sim():
    async with BackpackSimulator(paused=True) as s:
        await s.step(300)
        yield s


def client(sim, sleeps=None, **overrides):
    rest = {"max_retries": 2, "backoff_base_s": 0.1, "backoff_cap_s": 0.4, **overrides.pop("rest", {})}
    cfg = sim.config(proxies={"direct": True}, rest=rest, **overrides)
    return BackpackRestClient(cfg, sleep=(sleeps or Sleeps()).sleep)


# ---- error classes through fault injection ----------------------------------------------------


async def test_429_with_retry_after_is_honoured(sim):
    sleeps = Sleeps()
    sim.faults.rest_errors(429, count=1, retry_after=1.0)
    async with client(sim, sleeps) as c:
        assert (await c.status()).status == "Ok"
        assert c.metrics.counters["rest_429"] == 1
    assert sleeps.calls == [1.0]


async def test_429_exhausted_raises_rate_limit_error(sim):
    sim.faults.rest_errors(429, count=3, retry_after=2.0)
    sleeps = Sleeps()
    async with client(sim, sleeps) as c:
        with pytest.raises(BackpackRateLimitError) as info:
            await c.status()
    assert info.value.status == 429 and info.value.code == "TOO_MANY_REQUESTS" and info.value.retry_after == 2.0
    assert sleeps.calls == [2.0, 2.0]


async def test_simulator_rate_limit_without_retry_after_backs_off():
    async with BackpackSimulator(paused=True, rest_rate_limit=2) as s:
        sleeps = Sleeps()
        async with client(s, sleeps) as c:
            await c.status()
            await c.status()
            with pytest.raises(BackpackRateLimitError) as info:
                await c.status()
        assert info.value.retry_after is None
        assert len(sleeps.calls) == 2 and all(0 <= d <= 0.4 for d in sleeps.calls)


@pytest.mark.parametrize("status,code", [(500, "SERVER_ERROR"), (502, None), (503, "MAINTENANCE")])
async def test_5xx_retried_then_server_error(sim, status, code):
    sim.faults.rest_errors(status, count=3)
    before = sim.stats.rest_calls
    async with client(sim) as c:
        with pytest.raises(BackpackServerError) as info:
            await c.depth("SOL_USDC", 5)
    assert info.value.status == status and info.value.code == code
    assert sim.stats.rest_calls - before == 3
    if status == 502:  # a CDN's HTML page comes through as text
        assert "502 Bad Gateway" in info.value.message


async def test_5xx_then_recovery(sim):
    sim.faults.rest_errors(503, count=2)
    async with client(sim) as c:
        depth = await c.depth("SOL_USDC", 5)
    assert len(depth.asks) == 5


@pytest.mark.parametrize("status", [451, 403])
async def test_region_restriction_not_retried(sim, status):
    sim.faults.rest_errors(status, count=5)
    before = sim.stats.rest_calls
    async with client(sim) as c:
        with pytest.raises(BackpackRegionRestrictedError) as info:
            await c.markets()
    assert sim.stats.rest_calls - before == 1
    assert info.value.status == status and info.value.code == "FORBIDDEN"
    assert "proxies={'url': 'socks5://" in str(info.value)


async def test_json_4xx_from_real_validation(sim):
    async with client(sim) as c:
        with pytest.raises(BackpackRestError) as info:
            await c.depth("NOPE_USDC", 5)
    assert (info.value.status, info.value.code, info.value.message) == (400, "INVALID_CLIENT_REQUEST", "Invalid market symbol")


async def test_plain_text_4xx_limit_parse_error(sim):
    async with client(sim) as c:
        with pytest.raises(BackpackRestError) as info:
            await c.depth("SOL_USDC", 30)
    assert info.value.status == 400 and info.value.code is None
    assert info.value.message.startswith("failed to parse parameter `limit`")


async def test_unknown_path_plain_text_404(sim):
    async with client(sim) as c:
        with pytest.raises(BackpackRestError) as info:
            await c.request("GET", "/api/v1/nope")
    assert (info.value.status, info.value.code, info.value.message) == (404, None, "not found")


async def test_breaker_opens_and_fails_fast_without_calling(sim):
    sim.faults.rest_errors(500, count=100)
    async with client(sim, rest={"max_retries": 0, "breaker_failures": 3, "breaker_cooldown_s": 600}) as c:
        for _ in range(3):
            with pytest.raises(BackpackServerError):
                await c.status()
        before = sim.stats.rest_calls
        with pytest.raises(CircuitOpenError):
            await c.status()
        assert sim.stats.rest_calls == before and c.breaker_state == "open"
        assert c.metrics.gauges["rest_breaker_open"] == 1.0


async def test_stopped_exchange_is_connection_error():
    s = BackpackSimulator(paused=True)
    await s.start()
    cfg_client = client(s)
    await s.stop()
    async with cfg_client as c:
        with pytest.raises(BackpackConnectionError) as info:
            await c.status()
    assert "cannot reach 127.0.0.1:" in str(info.value) and "fix:" in str(info.value)


async def test_signed_call_resigned_after_retry_is_accepted(sim):
    sim.add_account(API_KEY)
    sim.faults.rest_errors(503, count=1)
    async with client(sim, auth=CREDS) as c:
        capital = await c.balances()
    assert capital["USDC"].available == Decimal("100000")


async def test_bad_signature_is_a_rest_error(sim):
    sim.add_account(API_KEY)
    other = bytes(range(2, 34))
    wrong = {"api_key": auth.b64(auth.public_key_from_seed(other)), "private_key": auth.b64(other)}
    async with client(sim, auth=wrong) as c:
        with pytest.raises(BackpackRestError) as info:
            await c.balances()
    assert info.value.status == 401 and info.value.code == "UNAUTHORIZED"
    assert auth.b64(other) not in str(info.value)


async def test_server_time_and_markets(sim):
    async with client(sim) as c:
        assert isinstance(await c.server_time_ms(), int)
        perps = await c.markets("PERP")
    assert perps and all(m.marketType == "PERP" for m in perps)


# ---- cryptofeed REST interface ------------------------------------------------------------------


# the minimal cryptofeed host of the mixin; BackpackFeed itself is covered by test_rest_interface_feed
SimExchange = Host


@pytest.fixture
async def exchange(sim):
    ex = SimExchange(sim.config(proxies={"direct": True}, auth=CREDS))
    yield ex
    if ex.rest_client is not None:
        await ex.rest_client.close()


async def test_l2_book_equals_the_simulator_book(sim, exchange):
    book = await exchange.l2_book("SOL-USDC")
    truth = sim.book("SOL_USDC")
    assert isinstance(book, OrderBook) and book.sequence_number == truth.last_update_id
    assert book.book.bids.to_dict() == dict(sorted(truth.bids.items(), reverse=True)[:1000])
    assert book.book.asks.to_dict() == dict(sorted(truth.asks.items())[:1000])
    assert all(isinstance(p, Decimal) for p in book.book.bids.to_dict())
    assert isinstance(book.timestamp, float)


async def test_ticker_is_top_of_the_simulator_book(sim, exchange):
    t = await exchange.ticker("BTC-USDC-PERP")
    truth = sim.book("BTC_USDC_PERP")
    assert isinstance(t, Ticker) and t.symbol == "BTC-USDC-PERP"
    assert (t.bid, t.ask) == (max(truth.bids), min(truth.asks))


async def test_trades_recent_and_history(sim, exchange):
    (recent,) = [p async for p in exchange.trades("SOL-USDC")]
    assert recent and all(isinstance(t, Trade) and isinstance(t.price, Decimal) for t in recent)
    assert [t.timestamp for t in recent] == sorted(t.timestamp for t in recent)
    assert {t.side for t in recent} <= {BUY, SELL}
    start = recent[0].timestamp - 1
    history = [t for page in [p async for p in exchange.trades("SOL-USDC", start=start, end=recent[-1].timestamp + 1)] for t in page]
    assert {t.id for t in recent} <= {t.id for t in history}


async def test_candles(sim, exchange):
    import time

    now = time.time()
    pages = [p async for p in exchange.candles("SOL-USDC", start=now - 3600, end=now + 60, interval="1m")]
    candles = [c for p in pages for c in p]
    assert candles and all(isinstance(c, Candle) for c in candles)
    assert all(c.stop - c.start == 60 and isinstance(c.volume, Decimal) for c in candles)
    assert sum(c.trades for c in candles) > 0


async def test_funding_and_open_interest(sim, exchange):
    rows = await exchange.funding("BTC-USDC-PERP")
    assert rows and all(isinstance(f, Funding) and isinstance(f.rate, Decimal) for f in rows)
    assert [f.timestamp for f in rows] == sorted(f.timestamp for f in rows)
    oi = await exchange.open_interest("BTC-USDC-PERP")
    assert isinstance(oi, OpenInterest) and oi.symbol == "BTC-USDC-PERP" and oi.open_interest > 0


async def test_private_reads_are_typed(sim, exchange):
    sim.add_account(API_KEY)
    book = sim.book("BTC_USDC_PERP")
    resting_price = min(book.bids) - 100
    sim.place_order(API_KEY, "BTC_USDC_PERP", "Bid", resting_price, Decimal("0.01"), client_id=7)
    sim.place_order(API_KEY, "BTC_USDC_PERP", "Bid", None, Decimal("0.01"))  # market buy: a fill and a long
    balances = await exchange.balances()
    assert any(b.currency == "USDC" and isinstance(b.balance, Decimal) for b in balances)
    (order,) = await exchange.orders("BTC-USDC-PERP")
    assert isinstance(order, OrderInfo)
    assert (order.side, order.status, order.type, order.client_order_id) == (BUY, OPEN, LIMIT, "7")
    assert order.price == resting_price and order.amount == Decimal("0.01")
    (pos,) = await exchange.positions()
    assert isinstance(pos, Position) and pos.symbol == "BTC-USDC-PERP" and pos.side == LONG
    assert pos.position == Decimal("0.01")
    fills = await exchange.trade_history("BTC-USDC-PERP")
    assert fills and all(isinstance(f, Fill) and f.side == BUY for f in fills)
    assert sum(f.amount for f in fills) == Decimal("0.01")
