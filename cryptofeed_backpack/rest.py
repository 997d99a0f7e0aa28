"""BackpackRestClient: the one async HTTP client of the package (docs/rest.md).

Per call: circuit breaker check -> request budget -> (re)sign -> send -> map the status.
Timeouts, connection errors, 5xx and 429 are retried with capped exponential backoff and full
jitter (429 honours Retry-After); 451/403 and other 4xx are not retried. Clock, sleep and the
random source are injectable so tests of pacing and backoff never wait for real.
"""
from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import re
import time
from collections import deque
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import unquote, urlsplit

import aiohttp
import aiohttp_socks
import msgspec
import python_socks

from . import auth, capture
from .errors import (
    BackpackAuthError,
    BackpackConnectionError,
    BackpackRateLimitError,
    BackpackRegionRestrictedError,
    BackpackRestError,
    BackpackServerError,
    CircuitOpenError,
)
from .metrics import Metrics
from .proxy import make_connector, rest_proxy_settings

LOG = logging.getLogger("cryptofeed_backpack.rest")

HISTORY_PATHS = ("/api/v1/trades/history", "/api/v1/klines", "/api/v1/fundingRates")
HISTORY_PREFIXES = ("/wapi/v1/history/",)
WINDOW_S = 60.0
_ERROR_TEXT_LIMIT = 300

# everything that means "no answer from the exchange": retried, then BackpackConnectionError.
# aiohttp_socks' errors derive from plain Exception, not from aiohttp's or OSError.
TRANSPORT_ERRORS = (
    aiohttp.ClientError,
    asyncio.TimeoutError,
    OSError,
    aiohttp_socks.ProxyError,
    aiohttp_socks.ProxyConnectionError,
    aiohttp_socks.ProxyTimeoutError,
    python_socks.ProxyError,
    python_socks.ProxyConnectionError,
    python_socks.ProxyTimeoutError,
)

Params = Mapping[str, Any] | Sequence[tuple[str, Any]] | None


def is_history_path(path: str) -> bool:
    """Backpack limits these 'historical' endpoints to 30 requests/min (PROTOCOL.md §1.5, §1.9)."""
    return path in HISTORY_PATHS or path.startswith(HISTORY_PREFIXES)


class RequestBudget:
    """At most ``per_minute`` requests in any 60 s window; ``acquire`` waits for a free slot.

    A sliding window rather than a token bucket with a full-minute burst: a bucket that starts
    full can let through twice its rate inside one minute, which is exactly what earns a 429.
    """

    def __init__(self, per_minute: int, clock: Callable[[], float], sleep: Callable[[float], Any]):
        self.per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()

    def _wait_needed(self) -> float:
        now = self._clock()
        while self._sent and now - self._sent[0] >= WINDOW_S:
            self._sent.popleft()
        if len(self._sent) < self.per_minute:
            return 0.0
        return self._sent[0] + WINDOW_S - now

    async def acquire(self) -> float:
        """Take a slot; returns the seconds spent waiting."""
        waited = 0.0
        while (wait := self._wait_needed()) > 0:
            waited += wait
            await self._sleep(wait)
        self._sent.append(self._clock())
        return waited


class CircuitBreaker:
    """closed -> open after ``threshold`` consecutive failed calls -> half_open after ``cooldown_s``
    (exactly one trial call) -> closed on success, open again on failure."""

    def __init__(self, threshold: int, cooldown_s: float, clock: Callable[[], float]):
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self._clock = clock
        self.state = "closed"
        self.failures = 0
        self._opened_at = 0.0
        self._trial_running = False

    def before_call(self) -> None:
        if self.state == "closed":
            return
        if self.state == "open":
            remaining = self._opened_at + self.cooldown_s - self._clock()
            if remaining > 0:
                raise CircuitOpenError(self.failures, remaining)
            self.state = "half_open"
        if self._trial_running:  # half_open admits a single trial call
            raise CircuitOpenError(self.failures, 0.0)
        self._trial_running = True

    def record_success(self) -> None:
        self.state, self.failures, self._trial_running = "closed", 0, False

    def record_failure(self) -> None:
        self.failures += 1
        self._trial_running = False
        if self.state == "half_open" or self.failures >= self.threshold:
            self.state = "open"
            self._opened_at = self._clock()

    def record_abandoned(self) -> None:
        """A call was cancelled: it proved nothing, so let another call be the trial."""
        self._trial_running = False


def backoff_delay(attempt: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**attempt)] (attempt counts from 0)."""
    return rng.uniform(0.0, min(cap_s, base_s * (2 ** min(attempt, 62))))


def parse_retry_after(value: Optional[str], now_epoch: float) -> Optional[float]:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date); None when absent/invalid."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_epoch)


def parse_error_body(body: bytes) -> tuple[Optional[str], str]:
    """Backpack's ``{"code","message"}`` JSON, or the plain text that parse errors come as."""
    text = body.decode("utf-8", "replace").strip()
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        data = None
    if isinstance(data, dict) and ("code" in data or "message" in data):
        code = data.get("code")
        return (str(code) if code is not None else None), str(data.get("message") or "")
    return None, text[:_ERROR_TEXT_LIMIT]


def _query_value(value: Any) -> str:
    # the same rendering as auth.signing_string, so the signed string and the query agree
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _query(params: Params) -> Optional[list[tuple[str, str]]]:
    if not params:
        return None
    items = params.items() if isinstance(params, Mapping) else params
    return [(k, _query_value(v)) for k, v in items if v is not None]


class BackpackRestClient:
    """Async Backpack REST client. One aiohttp session per client, created inside the running loop."""

    def __init__(
        self,
        config,
        *,
        metrics: Optional[Metrics] = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = asyncio.sleep,
        rng: Optional[random.Random] = None,
    ):
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
        self._ssl = config.ssl_context()
        self._session: Optional[aiohttp.ClientSession] = None
        self._session_loop: Optional[asyncio.AbstractEventLoop] = None
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
        # trust_env stays False: proxy.py already resolved the environment with our precedence
        self._session = aiohttp.ClientSession(connector=make_connector(self._proxy, self._ssl), trust_env=False)
        self._session_loop = loop
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> "BackpackRestClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"BackpackRestClient(rest_url={self.config.rest_url!r}, route={self._proxy.route.describe()!r}, breaker={self.breaker_state!r})"

    # ---- core -----------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Params = None,
        json_body: Any = None,
        instruction: Optional[str] = None,
        history: bool = False,
    ) -> bytes:
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
        attempt = 0
        while True:
            await self._budget.acquire()
            if history:
                await self._history_budget.acquire()
            headers = self._sign(instruction, params if params is not None else json_body)
            self.metrics.inc("rest_requests")
            retry_after: Optional[float] = None
            try:
                status, body, retry_after_header, reason = await self._send_once(method, url, query, json_body, headers, policy.timeout_s)
            except TRANSPORT_ERRORS as exc:
                failure: BaseException = self._connection_error(exc, where)
            else:
                if 200 <= status < 300:
                    return body
                failure = self._status_error(status, body, reason, where)
                if isinstance(failure, BackpackRateLimitError):
                    self.metrics.inc("rest_429")
                    retry_after = parse_retry_after(retry_after_header, time.time())
                    failure.retry_after = retry_after
                if not failure.retryable:
                    raise failure
            if attempt >= policy.max_retries:
                raise failure
            delay = retry_after if retry_after is not None else backoff_delay(attempt, policy.backoff_base_s, policy.backoff_cap_s, self._rng)
            self.metrics.inc("rest_retries")
            LOG.warning("backpack REST %s failed (%s); retry %d/%d in %.2fs", where, _short(failure), attempt + 1, policy.max_retries, delay)
            await self._sleep(delay)
            attempt += 1

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

    # ---- error mapping --------------------------------------------------------------------

    def _status_error(self, status: int, body: bytes, reason: str, where: str) -> BackpackRestError:
        code, message = parse_error_body(body)
        message = self._scrub(message or reason or "no body")
        if status in (451, 403):
            route = self._proxy.route
            if route.url:
                fix = f"Backpack refused the request as sent through {route.describe()}; use a proxy that exits in a permitted region"
            else:
                fix = "Backpack refuses this location; route REST through a proxy in a permitted region, e.g. BackpackConfig(proxies={'url': 'socks5://host:1080'})"
            return BackpackRegionRestrictedError(status, code, message, url=where, fix=fix)
        if status == 429:
            return BackpackRateLimitError(
                status, code, message, url=where,
                fix=f"lower rest.requests_per_minute ({self.config.rest.requests_per_minute}) or "
                f"rest.history_requests_per_minute ({self.config.rest.history_requests_per_minute}); Backpack allows 2000/min and 30/min on history endpoints",
            )
        if status >= 500:
            return BackpackServerError(status, code, message, url=where, fix="the exchange (or a proxy in front of it) failed; retry later, check https://status.backpack.exchange")
        return BackpackRestError(status, code, message, url=where)

    def _connection_error(self, exc: BaseException, where: str) -> BackpackConnectionError:
        route = self._proxy.route
        if isinstance(exc, asyncio.TimeoutError):
            cause = f"no response within {self.config.rest.timeout_s}s"
        else:
            cause = self._scrub(f"{type(exc).__name__}: {exc}")
        proxy_status = exc.status if isinstance(exc, aiohttp.ClientHttpProxyError) else None
        rejected = proxy_status in (401, 407) or "authentication fail" in str(exc).lower()
        if route.url and rejected:
            fix = f"the proxy {route.redacted} rejected the credentials; check user:password in the proxy URL"
        elif route.url and proxy_status is not None:
            fix = f"the proxy {route.redacted} refused the tunnel (HTTP {proxy_status}); check its allowed ports/hosts (tinyproxy: ConnectPort, Allow)"
        elif route.url:
            fix = f"check that the proxy {route.redacted} is running and reachable, or change proxies"
        else:
            fix = "check the network and rest_url, or configure a proxy with proxies={'url': 'socks5://host:1080'}"
        via = f" via {route.describe()}" if route.url else ""
        return BackpackConnectionError(f"cannot reach {self._host}{via} ({where}): {cause}; fix: {fix}")

    def _scrub(self, text: str) -> str:
        """Remove proxy credentials and key material from text that came from elsewhere."""
        route = self._proxy.route
        replacements: list[tuple[str, str]] = []
        if route.url:
            parts = urlsplit(route.url)
            replacements.append((route.url, route.redacted or "***"))
            replacements += [(s, "***") for s in (parts.password, parts.username) if s]
            replacements += [(unquote(s), "***") for s in (parts.password, parts.username) if s]
        if self.config.auth is not None:
            replacements += [(s, "***") for s in self.config.auth.secret_forms()]
        for secret, shown in replacements:
            # whole tokens only, so a short user name does not shred unrelated words
            text = re.sub(rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])", shown, text)
        return text

    # ---- decoded helpers ------------------------------------------------------------------

    async def get_json(self, path: str, params: Params = None, *, instruction: Optional[str] = None, history: bool = False) -> Any:
        return msgspec.json.decode(await self.request("GET", path, params=params, instruction=instruction, history=history))

    async def get_text(self, path: str, params: Params = None, *, instruction: Optional[str] = None, history: bool = False) -> str:
        return (await self.request("GET", path, params=params, instruction=instruction, history=history)).decode("utf-8")

    # ---- public market data (PROTOCOL.md §1) ----------------------------------------------

    async def markets(self, market_type: str | Sequence[str] | None = None) -> list:
        if market_type is None:
            return await self.get_json("/api/v1/markets")
        types = [market_type] if isinstance(market_type, str) else list(market_type)
        return await self.get_json("/api/v1/markets", [("marketType", t) for t in types])

    async def market(self, symbol: str) -> dict:
        return await self.get_json("/api/v1/market", {"symbol": symbol})

    async def depth(self, symbol: str, limit: int = 1000) -> dict:
        return await self.get_json("/api/v1/depth", {"symbol": symbol, "limit": limit})

    async def trades(self, symbol: str, limit: int = 100) -> list:
        return await self.get_json("/api/v1/trades", {"symbol": symbol, "limit": limit})

    async def trades_history(self, symbol: str, limit: int = 100, offset: int = 0) -> list:
        return await self.get_json("/api/v1/trades/history", {"symbol": symbol, "limit": limit, "offset": offset})

    async def ticker(self, symbol: str) -> Any:
        # /ticker may answer 204 (no body) for a market without activity
        body = await self.request("GET", "/api/v1/ticker", params={"symbol": symbol})
        return msgspec.json.decode(body) if body.strip() else None

    async def tickers(self) -> list:
        return await self.get_json("/api/v1/tickers")

    async def klines(self, symbol: str, interval: str, start_s: int, end_s: Optional[int] = None) -> list:
        return await self.get_json("/api/v1/klines", {"symbol": symbol, "interval": interval, "startTime": int(start_s), "endTime": None if end_s is None else int(end_s)})

    async def mark_prices(self, symbol: Optional[str] = None) -> list:
        return await self.get_json("/api/v1/markPrices", {"symbol": symbol})

    async def open_interest(self, symbol: Optional[str] = None) -> list:
        return await self.get_json("/api/v1/openInterest", {"symbol": symbol})

    async def funding_rates(self, symbol: str, limit: int = 100, offset: int = 0) -> list:
        return await self.get_json("/api/v1/fundingRates", {"symbol": symbol, "limit": limit, "offset": offset})

    async def status(self) -> dict:
        return await self.get_json("/api/v1/status")

    async def server_time_ms(self) -> int:
        return int((await self.get_text("/api/v1/time")).strip())

    # ---- signed reads (PROTOCOL.md §2.2 instruction names) --------------------------------

    async def balances(self) -> dict:
        return await self.get_json("/api/v1/capital", instruction="balanceQuery")

    async def open_orders(self, symbol: Optional[str] = None) -> list:
        return await self.get_json("/api/v1/orders", {"symbol": symbol} if symbol else None, instruction="orderQueryAll")

    async def positions(self) -> list:
        return await self.get_json("/api/v1/position", instruction="positionQuery")

    async def fill_history(
        self, symbol: Optional[str] = None, limit: int = 100, offset: int = 0, *, from_ms: Optional[int] = None, to_ms: Optional[int] = None
    ) -> list:
        params = {"symbol": symbol, "limit": limit, "offset": offset, "from": from_ms, "to": to_ms}
        return await self.get_json("/wapi/v1/history/fills", params, instruction="fillHistoryQueryAll")


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
