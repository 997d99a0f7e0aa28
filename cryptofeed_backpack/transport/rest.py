"""BackpackRestClient: the one async HTTP client of the package (docs/rest.md).

Per call: circuit breaker check -> request budget -> (re)sign -> send -> map the status.
Timeouts, connection errors, 5xx and 429 are retried with capped exponential backoff and full
jitter (429 honours Retry-After); 451/403 and other 4xx are not retried. The typed methods below
return wire Structs and are the only way the rest of the package talks REST.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import urlsplit

import aiohttp
import msgspec

from .. import auth, capture
from ..constants import PAGE_LIMIT, Rest, RestPath
from ..errors import (BackpackAuthError, BackpackConnectionError, BackpackProtocolError, BackpackRateLimitError,
                      BackpackRestError, BackpackServerError)
from ..observability.metrics import FeedMetrics as Metrics
from ..wire import account, market_rest
from .policy import Backoff, CircuitBreaker, RequestBudget, is_history_path, parse_retry_after
from .proxy import make_connector, rest_proxy_settings
from .rest_errors import TRANSPORT_ERRORS, Scrubber, connection_error, short, status_error

LOG = logging.getLogger("cryptofeed_backpack.rest")

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


def _query_value(value: Any) -> str:
    # the same rendering as auth.signing_string, so the signed string and the query agree
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _query(params: Params) -> Optional[list[tuple[str, str]]]:
    if not params:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    return [(k, _query_value(v)) for k, v in items if v is not None]


def _decode(decoder: msgspec.json.Decoder, body: bytes, where: RestPath):
    try:
        return decoder.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise BackpackProtocolError(f"{where.path} answered an unexpected shape: {exc}",
                                    fix="the exchange changed its reply; report it with the body excerpt",
                                    context={"path": where.path, "excerpt": body[:200]}) from None


class BackpackRestClient:
    """Async Backpack REST client. One aiohttp session per client, created inside the running loop."""

    def __init__(self, config, *, metrics: Optional[Metrics] = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = asyncio.sleep, rng: Optional[random.Random] = None):
        self.config = config
        self.metrics = metrics if metrics is not None else Metrics()
        self._clock = clock
        self._sleep = sleep
        self._rng = rng or random.Random()
        policy = config.rest
        self._budget = RequestBudget(policy.requests_per_minute, clock, sleep)
        self._history_budget = RequestBudget(policy.history_requests_per_minute, clock, sleep)
        self._breaker = CircuitBreaker(policy.breaker_failures, policy.breaker_cooldown_s, clock)
        self._proxy = rest_proxy_settings(config)
        self._scrub = Scrubber(self._proxy.route, config.auth)
        self._ssl = config.ssl_context()
        self._session: Optional[aiohttp.ClientSession] = None
        self._session_loop: Optional[asyncio.AbstractEventLoop] = None
        self._closed_loop: Optional[asyncio.AbstractEventLoop] = None
        self._host = urlsplit(config.rest_url).netloc

    # ---- lifecycle ------------------------------------------------------------------------

    @property
    def breaker_state(self) -> str:
        return self._breaker.state

    @property
    def proxy_route(self):
        return self._proxy.route

    def _get_session(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._session is not None and not self._session.closed and self._session_loop is loop:
            return self._session
        if self._closed_loop is loop:
            # a call still retrying after close() would open a session that nothing closes
            raise BackpackConnectionError("the REST client was closed", retryable=False,
                                          fix="create a new BackpackRestClient (a feed closes its own at shutdown)")
        # trust_env stays False: transport/proxy.py already resolved the environment with our precedence
        self._session = aiohttp.ClientSession(connector=make_connector(self._proxy, self._ssl), trust_env=False)
        self._session_loop = loop
        return self._session

    async def close(self) -> None:
        self._closed_loop = asyncio.get_running_loop()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> "BackpackRestClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def __repr__(self) -> str:
        return (f"BackpackRestClient(rest_url={self.config.rest_url!r}, route={self._proxy.route.describe()!r}, "
                f"breaker={self.breaker_state!r})")

    # ---- core -----------------------------------------------------------------------------

    async def call(self, endpoint: RestPath, params: Params = None, *, method: str = "GET", json_body: Any = None) -> bytes:
        """One logical call of ``endpoint`` (signed with its instruction when it has one); the 2xx body."""
        return await self.request(method, endpoint.path, params=params, json_body=json_body,
                                  instruction=endpoint.instruction)

    async def request(self, method: str, path: str, *, params: Params = None, json_body: Any = None,
                      instruction: Optional[str] = None, history: bool = False) -> bytes:
        """Send one logical call (with retries); return the body of the 2xx response."""
        if instruction is not None and self.config.auth is None:
            raise BackpackAuthError(
                f"{method} {path} needs a signature (instruction {instruction}) but no credentials are configured",
                fix="pass auth={'api_key': ..., 'private_key': ...} to BackpackConfig or set BACKPACK_API_KEY and BACKPACK_PRIVATE_KEY",
            )
        public_get = method == "GET" and instruction is None
        if public_get and capture.replaying():  # cryptofeed playback: the recorded reply, no network
            return await capture.replayed(self.config.rest_url, path, params)
        self._breaker.before_call()
        try:
            body = await self._send_with_retries(method, path, params, json_body, instruction, history or is_history_path(path))
        except (BackpackConnectionError, BackpackServerError, BackpackRateLimitError):
            self.metrics.inc("rest_errors")
            self._breaker.record_failure()
            self.metrics.set("rest_breaker_open", 1.0 if self._breaker.state == "open" else 0.0)
            raise
        except BackpackRestError:
            # the exchange answered: it is up, so the breaker counts this as a healthy call
            self.metrics.inc("rest_errors")
            self._breaker.record_success()
            self.metrics.set("rest_breaker_open", 0.0)
            raise
        except BaseException:
            self._breaker.record_abandoned()
            raise
        self._breaker.record_success()
        self.metrics.set("rest_breaker_open", 0.0)
        if public_get:  # into FeedHandler(raw_data_collection=...) when one is set
            await capture.record(self.config.rest_url, path, params, body)
        return body

    async def _send_with_retries(self, method, path, params, json_body, instruction, history) -> bytes:
        policy = self.config.rest
        url = self.config.rest_url + path
        query = _query(params)
        where = f"{method} {url}"
        backoff = Backoff(policy, self._rng)
        while True:
            await self._budget.acquire()
            if history:
                await self._history_budget.acquire()
            headers = self._sign(instruction, params if params is not None else json_body)
            self.metrics.inc("rest_requests")
            try:
                status, body, retry_after_header, reason = await self._send_once(method, url, query, json_body, headers, policy.timeout_s)
            except TRANSPORT_ERRORS as exc:
                failure: BaseException = connection_error(exc, where, self._host, self._proxy.route, policy.timeout_s, self._scrub)
            else:
                if 200 <= status < 300:
                    return body
                failure = status_error(status, body, reason, where, self._proxy.route, policy, self._scrub)
                if isinstance(failure, BackpackRateLimitError):
                    self.metrics.inc("rest_429")
                    failure.retry_after = parse_retry_after(retry_after_header, time.time())
                if not failure.retryable:
                    raise failure
            if backoff.attempt >= policy.max_retries:
                raise failure
            delay = backoff.next_delay(failure if isinstance(failure, BackpackRateLimitError) and failure.retry_after is not None else None)
            self.metrics.inc("rest_retries")
            LOG.warning("backpack REST %s failed (%s); retry %d/%d in %.2fs", where, short(failure), backoff.attempt, policy.max_retries, delay)
            await self._sleep(delay)

    async def _send_once(self, method, url, query, json_body, headers, timeout_s):
        session = self._get_session()
        kwargs: dict[str, Any] = {
            "params": query,
            "headers": headers,
            "timeout": aiohttp.ClientTimeout(total=timeout_s),
            "ssl": self._ssl if self._ssl is not None else True,
        }
        if json_body is not None:
            kwargs["data"] = msgspec.json.encode(json_body)
            kwargs["headers"] = {**(headers or {}), "Content-Type": "application/json; charset=utf-8"}
        if self._proxy.http_proxy is not None:
            kwargs["proxy"] = self._proxy.http_proxy
        async with session.request(method, url, **kwargs) as resp:
            body = await resp.read()
            return resp.status, body, resp.headers.get("Retry-After"), resp.reason or ""

    def _sign(self, instruction: Optional[str], params: Any) -> Optional[dict[str, str]]:
        if instruction is None:
            return None
        creds = self.config.auth
        if isinstance(params, Sequence) and params and isinstance(params[0], tuple):
            params = dict(params)
        # a fresh timestamp on every attempt: a retried request must not reuse an expiring window
        return auth.rest_headers(creds.api_key, creds.seed, instruction, params, window_ms=self.config.window_ms)

    # ---- public market data (docs/protocol.md §1) -------------------------------------------

    async def markets(self, market_type: str | Sequence[str] | None = None) -> list[market_rest.Market]:
        types = [] if market_type is None else [market_type] if isinstance(market_type, str) else list(market_type)
        body = await self.call(Rest.MARKETS, [("marketType", t) for t in types])
        return _decode(market_rest.MARKETS, body, Rest.MARKETS)

    async def market_items(self) -> list:
        """The ``/markets`` reply as plain JSON objects, so each market can be judged on its own and one
        malformed market never costs the others (symbols.parse_markets)."""
        body = await self.call(Rest.MARKETS)
        return _decode(market_rest.JSON_LIST, body, Rest.MARKETS)

    async def market(self, symbol: str) -> market_rest.Market:
        return _decode(market_rest.MARKET, await self.call(Rest.MARKET, {"symbol": symbol}), Rest.MARKET)

    async def depth(self, symbol: str, limit: int = PAGE_LIMIT) -> market_rest.DepthSnapshot:
        body = await self.call(Rest.DEPTH, {"symbol": symbol, "limit": limit})
        return _decode(market_rest.DEPTH_SNAPSHOT, body, Rest.DEPTH)

    async def trades(self, symbol: str, limit: int = 100) -> list[market_rest.RestTrade]:
        """The most recent trades, newest first."""
        body = await self.call(Rest.TRADES, {"symbol": symbol, "limit": limit})
        return _decode(market_rest.TRADES, body, Rest.TRADES)

    async def trades_history(self, symbol: str, limit: int = 100, offset: int = 0) -> list[market_rest.RestTrade]:
        """Older trades, newest first, ``offset`` trades back from the newest (a history-class call)."""
        body = await self.call(Rest.TRADES_HISTORY, {"symbol": symbol, "limit": limit, "offset": offset})
        return _decode(market_rest.TRADES, body, Rest.TRADES_HISTORY)

    async def ticker(self, symbol: str) -> Optional[market_rest.TickerStats]:
        # /ticker may answer 204 (no body) for a market without activity
        body = await self.call(Rest.TICKER, {"symbol": symbol})
        return _decode(market_rest.TICKER_STATS, body, Rest.TICKER) if body.strip() else None

    async def tickers(self) -> list[market_rest.TickerStats]:
        return _decode(market_rest.TICKERS, await self.call(Rest.TICKERS), Rest.TICKERS)

    async def klines(self, symbol: str, interval: str, start_s: int, end_s: Optional[int] = None) -> list[market_rest.Kline]:
        params = {"symbol": symbol, "interval": interval, "startTime": int(start_s), "endTime": None if end_s is None else int(end_s)}
        return _decode(market_rest.KLINES, await self.call(Rest.KLINES, params), Rest.KLINES)

    async def mark_prices(self, symbol: Optional[str] = None) -> list[market_rest.MarkPrice]:
        return _decode(market_rest.MARK_PRICES, await self.call(Rest.MARK_PRICES, {"symbol": symbol}), Rest.MARK_PRICES)

    async def open_interest(self, symbol: Optional[str] = None) -> list[market_rest.OpenInterestEntry]:
        return _decode(market_rest.OPEN_INTEREST, await self.call(Rest.OPEN_INTEREST, {"symbol": symbol}), Rest.OPEN_INTEREST)

    async def funding_rates(self, symbol: str, limit: int = 100, offset: int = 0) -> list[market_rest.FundingRate]:
        body = await self.call(Rest.FUNDING_RATES, {"symbol": symbol, "limit": limit, "offset": offset})
        return _decode(market_rest.FUNDING_RATES, body, Rest.FUNDING_RATES)

    async def status(self) -> market_rest.Status:
        return _decode(market_rest.STATUS, await self.call(Rest.STATUS), Rest.STATUS)

    async def server_time_ms(self) -> int:
        """``/api/v1/time`` answers text/plain: a bare integer of milliseconds."""
        text = (await self.call(Rest.TIME)).decode("utf-8", "replace").strip()
        try:
            return int(text)
        except ValueError:
            raise BackpackProtocolError(f"{Rest.TIME.path} answered {text[:40]!r}, not an integer of milliseconds") from None

    # ---- signed reads (instructions in constants.Rest) ---------------------------------------

    async def balances(self) -> dict[str, account.CapitalBalance]:
        return account.capital(await self.call(Rest.CAPITAL))

    async def open_orders(self, symbol: Optional[str] = None) -> list[account.RestOrder]:
        body = await self.call(Rest.ORDERS, {"symbol": symbol} if symbol else None)
        return _decode(account.ORDERS, body, Rest.ORDERS)

    async def positions(self) -> list[account.RestPosition]:
        return _decode(account.POSITIONS, await self.call(Rest.POSITION), Rest.POSITION)

    async def fill_history(self, symbol: Optional[str] = None, limit: int = 100, offset: int = 0, *,
                           from_ms: Optional[int] = None, to_ms: Optional[int] = None) -> list[account.RestFill]:
        params = {"symbol": symbol, "limit": limit, "offset": offset, "from": from_ms, "to": to_ms}
        return _decode(account.FILLS, await self.call(Rest.FILLS_HISTORY, params), Rest.FILLS_HISTORY)
