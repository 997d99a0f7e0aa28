"""What a failed REST call becomes: a typed error that names the cause and the fix, with proxy
credentials and key material scrubbed from any text that came from elsewhere (docs/rest.md)."""
from __future__ import annotations

import asyncio
import re
from typing import Optional
from urllib.parse import unquote, urlsplit

import aiohttp
import aiohttp_socks
import msgspec
import python_socks

from ..constants import STATUS_PAGE
from ..errors import (BackpackConnectionError, BackpackRateLimitError, BackpackRegionRestrictedError, BackpackRestError,
                      BackpackServerError)

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


class Scrubber:
    """Removes proxy credentials and every form of the private key from foreign text."""

    def __init__(self, route, auth=None):
        replacements: list[tuple[str, str]] = []
        if route.url:
            parts = urlsplit(route.url)
            replacements.append((route.url, route.redacted or "***"))
            for secret in (parts.password, parts.username):
                if secret:
                    replacements += [(secret, "***"), (unquote(secret), "***")]
        if auth is not None:
            replacements += [(s, "***") for s in auth.secret_forms()]
        # whole tokens only, so a short user name does not shred unrelated words
        self._patterns = [(re.compile(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])"), shown) for s, shown in replacements]

    def __call__(self, text: str) -> str:
        for pattern, shown in self._patterns:
            text = pattern.sub(shown, text)
        return text


def status_error(status: int, body: bytes, reason: str, where: str, route, policy, scrub: Scrubber) -> BackpackRestError:
    code, message = parse_error_body(body)
    message = scrub(message or reason or "no body")
    if status in (451, 403):
        if route.url:
            fix = f"Backpack refused the request as sent through {route.describe()}; use a proxy that exits in a permitted region"
        else:
            fix = ("Backpack refuses this location; route REST through a proxy in a permitted region, "
                   "e.g. BackpackConfig(proxies={'url': 'socks5://host:1080'})")
        return BackpackRegionRestrictedError.from_reply(status, code, message, url=where, fix=fix)
    if status == 429:
        return BackpackRateLimitError.from_reply(
            status, code, message, url=where,
            fix=f"lower rest.requests_per_minute ({policy.requests_per_minute}) or rest.history_requests_per_minute "
            f"({policy.history_requests_per_minute}); Backpack allows 2000/min and 30/min on history endpoints",
        )
    if status >= 500:
        return BackpackServerError.from_reply(status, code, message, url=where,
                                   fix=f"the exchange (or a proxy in front of it) failed; retry later, check {STATUS_PAGE}")
    return BackpackRestError.from_reply(status, code, message, url=where)


def connection_error(exc: BaseException, where: str, host: str, route, timeout_s: float, scrub: Scrubber) -> BackpackConnectionError:
    if isinstance(exc, asyncio.TimeoutError):
        cause = f"no response within {timeout_s}s"
    else:
        cause = scrub(f"{type(exc).__name__}: {exc}")
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
    return BackpackConnectionError(f"cannot reach {host}{via} ({where}): {cause}", fix=fix, retryable=True)


def short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= 200 else text[:197] + "..."
