"""BackpackRestClient against a scripted aiohttp server on 127.0.0.1 (plain HTTP, instant fake time).

The server answers from a queue of canned responses and records what it received, so each test
checks both directions: what the client sent (signing, retries) and what it raised.
"""
from __future__ import annotations

from decimal import Decimal

import asyncio
import logging
import random

import pytest
from aiohttp import web

from cryptofeed_backpack import auth
from cryptofeed_backpack.config import BackpackConfig
from cryptofeed_backpack.errors import (
    BackpackAuthError,
    BackpackConnectionError,
    BackpackRateLimitError,
    BackpackRegionRestrictedError,
    BackpackRestError,
    BackpackServerError,
    CircuitOpenError,
)
from cryptofeed_backpack.observability import Metrics
from cryptofeed_backpack.transport.rest import BackpackRestClient
from cryptofeed_backpack.wire.market_rest import DepthSnapshot, Status
from tests.fixtures import raw

SEED = bytes(range(1, 33))
API_KEY = auth.b64(auth.public_key_from_seed(SEED))
SECRET_B64 = auth.b64(SEED)


class FakeTime:
    def __init__(self):
        self.now = 5000.0
        self.sleeps: list[float] = []

    def clock(self):
        return self.now

    async def sleep(self, s):
        self.sleeps.append(s)
        self.now += s
        await asyncio.sleep(0)


class MaxRandom(random.Random):
    def uniform(self, a, b):
        return b


class ScriptedServer:
    def __init__(self):
        self.script: list[tuple[int, bytes, dict]] = []
        self.default = (200, raw("rest_status__ok.json"), {"Content-Type": "application/json"})  # /api/v1/status
        self.requests: list[dict] = []
        self.url = ""

    def then(self, status: int, body: bytes | str = b"", **headers) -> "ScriptedServer":
        self.script.append((status, body.encode() if isinstance(body, str) else body, headers))
        return self

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(
            {"method": request.method, "path": request.path, "query": dict(request.query), "headers": dict(request.headers), "body": await request.read()}
        )
        status, body, headers = self.script.pop(0) if self.script else self.default
        return web.Response(status=status, body=body, headers=headers)


@pytest.fixture
async def server():
    srv = ScriptedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    srv.url = f"http://127.0.0.1:{port}"
    yield srv
    await runner.cleanup()


@pytest.fixture
def fake_time():
    return FakeTime()


def make_client(server, fake_time, metrics=None, **overrides):
    rest = {"max_retries": 3, "backoff_base_s": 0.5, "backoff_cap_s": 2.0, "breaker_failures": 2, "breaker_cooldown_s": 30.0}
    rest.update(overrides.pop("rest", {}))
    cfg = BackpackConfig.build({"rest_url": server.url, "rest": rest, "proxies": {"direct": True}, **overrides})
    return BackpackRestClient(cfg, metrics=metrics or Metrics(), clock=fake_time.clock, sleep=fake_time.sleep, rng=MaxRandom())


async def test_typed_method_decodes_into_a_wire_struct(server, fake_time):
    server.then(200, '{"asks":[["1.5","2"]],"bids":[],"lastUpdateId":"7","timestamp":1753102447307501}')
    async with make_client(server, fake_time) as client:
        data = await client.depth("SOL_USDC", 1000)
    assert data == DepthSnapshot(asks=[(Decimal("1.5"), Decimal("2"))], bids=[], lastUpdateId=7, timestamp=1753102447307501)
    assert server.requests[0]["path"] == "/api/v1/depth"
    assert server.requests[0]["query"] == {"symbol": "SOL_USDC", "limit": "1000"}
    assert fake_time.sleeps == []


async def test_request_returns_raw_bytes_and_time_is_text(server, fake_time):
    server.then(200, b"1790133798064", **{"Content-Type": "text/plain"})
    server.then(200, b"[1,2]")
    async with make_client(server, fake_time) as client:
        assert await client.server_time_ms() == 1790133798064
        assert await client.request("GET", "/api/v1/markets") == b"[1,2]"


async def test_5xx_retried_with_capped_backoff_then_succeeds(server, fake_time):
    server.then(503, "maintenance").then(500, "").then(502, "bad gateway").then(200, raw("rest_status__ok.json"))
    metrics = Metrics()
    async with make_client(server, fake_time, metrics) as client:
        assert await client.status() == Status(status="Ok", message=None)
    # ceilings (MaxRandom) 0.5, 1.0, then capped at 2.0
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    assert len(server.requests) == 4
    assert metrics.counters["rest_requests"] == 4
    assert metrics.counters["rest_retries"] == 3
    assert metrics.counters["rest_errors"] == 0


async def test_5xx_after_retries_raises_server_error(server, fake_time):
    for _ in range(4):
        server.then(503, '{"code":"MAINTENANCE","message":"System under maintenance"}')
    metrics = Metrics()
    async with make_client(server, fake_time, metrics) as client:
        with pytest.raises(BackpackServerError) as info:
            await client.status()
    err = info.value
    assert err.status == 503 and err.code == "MAINTENANCE" and err.message == "System under maintenance"
    assert "/api/v1/status" in str(err)
    assert len(server.requests) == 4
    assert metrics.counters["rest_errors"] == 1


async def test_429_honours_retry_after(server, fake_time):
    server.then(429, '{"code":"TOO_MANY_REQUESTS","message":"Too many requests."}', **{"Retry-After": "7"})
    server.then(200, "[]")
    metrics = Metrics()
    async with make_client(server, fake_time, metrics) as client:
        assert await client.tickers() == []
    assert fake_time.sleeps == [7.0]
    assert metrics.counters["rest_429"] == 1


async def test_429_without_retry_after_backs_off_then_raises_rate_limit(server, fake_time):
    for _ in range(4):
        server.then(429, '{"code":"TOO_MANY_REQUESTS","message":"Too many requests."}')
    async with make_client(server, fake_time) as client:
        with pytest.raises(BackpackRateLimitError) as info:
            await client.tickers()
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    assert info.value.status == 429 and info.value.code == "TOO_MANY_REQUESTS"
    assert "requests_per_minute" in str(info.value)


@pytest.mark.parametrize("status", [451, 403])
async def test_region_restriction_not_retried_and_suggests_proxy(server, fake_time, status):
    server.then(status, '{"code":"FORBIDDEN","message":"Restricted location"}')
    async with make_client(server, fake_time) as client:
        with pytest.raises(BackpackRegionRestrictedError) as info:
            await client.markets()
    assert len(server.requests) == 1 and fake_time.sleeps == []
    assert info.value.status == status and info.value.code == "FORBIDDEN"
    assert "proxies={'url': 'socks5://" in str(info.value)


async def test_4xx_json_error_not_retried(server, fake_time):
    server.then(400, raw("rest_error__invalid_market_symbol.json"))
    async with make_client(server, fake_time) as client:
        with pytest.raises(BackpackRestError) as info:
            await client.depth("NOPE_USDC")
    err = info.value
    assert type(err) is BackpackRestError
    assert (err.status, err.code, err.message) == (400, "INVALID_CLIENT_REQUEST", "Invalid market symbol")
    assert len(server.requests) == 1


async def test_4xx_plain_text_error(server, fake_time):
    text = raw("rest_error__plain_text_bad_limit.txt").decode()
    server.then(400, text, **{"Content-Type": "text/plain"})
    async with make_client(server, fake_time) as client:
        with pytest.raises(BackpackRestError) as info:
            await client.depth("SOL_USDC", limit=30)
    assert (info.value.status, info.value.code, info.value.message) == (400, None, text)
    assert server.requests[0]["query"]["limit"] == "30"


async def test_client_errors_do_not_trip_the_breaker(server, fake_time):
    for _ in range(5):
        server.then(404, '{"code":"RESOURCE_NOT_FOUND","message":"Not Found"}')
    async with make_client(server, fake_time) as client:
        for _ in range(5):
            with pytest.raises(BackpackRestError):
                await client.depth("CLOSED_USDC")
        assert client.breaker_state == "closed"


async def test_breaker_opens_fails_fast_half_opens_and_closes(server, fake_time):
    metrics = Metrics()
    client = make_client(server, fake_time, metrics, rest={"max_retries": 0})
    for _ in range(2):
        server.then(500, "boom")
    for _ in range(2):
        with pytest.raises(BackpackServerError):
            await client.status()
    assert client.breaker_state == "open"
    assert metrics.gauges["rest_breaker_open"] == 1.0
    with pytest.raises(CircuitOpenError):
        await client.status()
    assert len(server.requests) == 2  # failing fast sends nothing
    fake_time.now += 30.0
    server.then(500, "still down")
    with pytest.raises(BackpackServerError):  # the half-open trial fails: open again
        await client.status()
    assert client.breaker_state == "open"
    with pytest.raises(CircuitOpenError):
        await client.status()
    fake_time.now += 30.0
    server.then(200, raw("rest_status__ok.json"))
    assert await client.status() == Status(status="Ok", message=None)
    assert client.breaker_state == "closed"
    assert metrics.gauges["rest_breaker_open"] == 0.0
    await client.close()


async def test_history_endpoints_use_their_own_budget(server, fake_time):
    async with make_client(server, fake_time, rest={"history_requests_per_minute": 2, "requests_per_minute": 100}) as client:
        server.default = (200, b"[]", {})
        for _ in range(2):
            await client.trades_history("SOL_USDC")
        assert fake_time.sleeps == []
        await client.trades("SOL_USDC")  # not a history endpoint: no wait
        assert fake_time.sleeps == []
        await client.klines("SOL_USDC", "1m", 1757604778)
        assert fake_time.sleeps == [pytest.approx(60.0)]
        await client.request("GET", "/api/v1/anything", history=True)  # 2nd in the new window
        assert len(fake_time.sleeps) == 1
        await client.request("GET", "/api/v1/anything", history=True)  # history=True forces the budget
        assert fake_time.sleeps == [pytest.approx(60.0), pytest.approx(60.0)]
    assert server.requests[3]["query"] == {"symbol": "SOL_USDC", "interval": "1m", "startTime": "1757604778"}


async def test_overall_budget_waits_instead_of_failing(server, fake_time):
    async with make_client(server, fake_time, rest={"requests_per_minute": 3}) as client:
        for _ in range(4):
            await client.status()
    assert fake_time.sleeps == [pytest.approx(60.0)]
    assert len(server.requests) == 4


async def test_signed_request_headers_verify_and_are_resigned_per_attempt(server, fake_time):
    server.then(503, "down").then(200, '{"USDC":{"available":"1","locked":"0","staked":"0"}}')
    cfg_auth = {"api_key": API_KEY, "private_key": SECRET_B64}
    async with make_client(server, fake_time, auth=cfg_auth, window_ms=6000) as client:
        client_ts = []
        real = auth.now_ms
        counter = iter(range(1700000000000, 1700000000000 + 10 * 1000, 1000))
        auth.now_ms = lambda: next(counter)  # distinct timestamps per attempt, no real waiting
        try:
            await client.balances()
        finally:
            auth.now_ms = real
    assert len(server.requests) == 2
    for req in server.requests:
        h = req["headers"]
        assert h["X-API-Key"] == API_KEY and h["X-Window"] == "6000"
        msg = auth.signing_string("balanceQuery", {}, int(h["X-Timestamp"]), 6000)
        assert auth.verify(auth.public_key_from_seed(SEED), msg, h["X-Signature"])
        client_ts.append(h["X-Timestamp"])
    assert client_ts == ["1700000000000", "1700000001000"]
    assert server.requests[0]["headers"]["X-Signature"] != server.requests[1]["headers"]["X-Signature"]


async def test_signed_get_with_params_signs_the_query(server, fake_time):
    server.default = (200, b"[]", {})
    async with make_client(server, fake_time, auth={"api_key": API_KEY, "private_key": SECRET_B64}) as client:
        await client.fill_history("SOL_USDC", limit=50, offset=100)
    req = server.requests[0]
    assert req["path"] == "/wapi/v1/history/fills"
    assert req["query"] == {"symbol": "SOL_USDC", "limit": "50", "offset": "100"}
    h = req["headers"]
    msg = auth.signing_string("fillHistoryQueryAll", {"limit": 50, "offset": 100, "symbol": "SOL_USDC"}, int(h["X-Timestamp"]), 5000)
    assert msg.startswith("instruction=fillHistoryQueryAll&limit=50&offset=100&symbol=SOL_USDC&timestamp=")
    assert auth.verify(auth.public_key_from_seed(SEED), msg, h["X-Signature"])


async def test_signing_without_credentials_raises_auth_error(server, fake_time):
    async with make_client(server, fake_time) as client:
        with pytest.raises(BackpackAuthError) as info:
            await client.balances()
    assert "balanceQuery" in str(info.value) and "BACKPACK_API_KEY" in str(info.value)
    assert server.requests == []


async def test_unsigned_requests_carry_no_auth_headers(server, fake_time):
    async with make_client(server, fake_time, auth={"api_key": API_KEY, "private_key": SECRET_B64}) as client:
        await client.status()
    assert not any(k.startswith("X-") for k in server.requests[0]["headers"])


async def test_connection_refused_after_retries_names_host_and_fix(fake_time):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now

    class Dead:
        url = f"http://127.0.0.1:{port}"

    metrics = Metrics()
    async with make_client(Dead, fake_time, metrics) as client:
        with pytest.raises(BackpackConnectionError) as info:
            await client.status()
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "fix:" in text
    assert fake_time.sleeps == [0.5, 1.0, 2.0]
    assert metrics.counters["rest_requests"] == 4 and metrics.counters["rest_errors"] == 1


async def test_secrets_and_proxy_password_absent_from_errors_and_logs(fake_time, caplog):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()

    class Target:
        url = "http://127.0.0.1:9"

    caplog.set_level(logging.DEBUG)
    proxy = f"http://alice:s3cr3t-pw@127.0.0.1:{port}"
    cfg = BackpackConfig.build(
        {"rest_url": Target.url, "proxies": {"url": proxy}, "auth": {"api_key": API_KEY, "private_key": SECRET_B64}, "rest": {"max_retries": 2}}
    )
    client = BackpackRestClient(cfg, clock=fake_time.clock, sleep=fake_time.sleep)
    with pytest.raises(BackpackConnectionError) as info:
        await client.balances()
    await client.close()
    text = str(info.value) + repr(info.value) + caplog.text + repr(client) + repr(client.proxy_route)
    assert f"***@127.0.0.1:{port}" in str(info.value)
    for secret in ["s3cr3t-pw", "alice", SECRET_B64, SEED.hex()]:
        assert secret not in text
    assert "retry 1/2" in caplog.text  # the log lines exist and were checked


async def test_timeout_is_retried_then_connection_error(fake_time):
    hung = asyncio.Event()

    async def slow(request):
        await hung.wait()
        return web.Response(text="late")

    app = web.Application()
    app.router.add_get("/api/v1/status", slow)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]

    class Srv:
        url = f"http://127.0.0.1:{port}"

    try:
        async with make_client(Srv, fake_time, rest={"max_retries": 1, "timeout_s": 0.05}) as client:
            with pytest.raises(BackpackConnectionError) as info:
                await client.status()
        assert "no response within 0.05s" in str(info.value)
        assert fake_time.sleeps == [0.5]
    finally:
        hung.set()
        await runner.cleanup()


async def test_one_session_reused_and_closed(server, fake_time):
    client = make_client(server, fake_time)
    await client.status()
    first = client._session
    await client.status()
    assert client._session is first
    await client.close()
    assert first.closed
