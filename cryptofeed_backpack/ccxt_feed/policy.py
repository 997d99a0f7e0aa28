"""ccxt failures -> this package's typed errors, and how long to wait before the next try.

The wait between tries is the package's one retry rule, ``transport.policy.retry_delay`` under
``BackpackConfig.rest`` (docs/ccxt.md, "Errors and backoff").
"""
from __future__ import annotations

import re

from ..errors import (BackpackConnectionError, BackpackError, BackpackRateLimitError, BackpackRegionRestrictedError,
                      BackpackRestError, BackpackServerError)

# What translate_error() can return, pre-created on backpack_feed_errors_total{error}.
TRANSLATED_ERRORS = ("BackpackRateLimitError", "BackpackRegionRestrictedError", "BackpackRestError",
                     "BackpackServerError", "BackpackConnectionError")
_HTTP_STATUS = re.compile(r"\b(4\d\d|5\d\d)\b")


def translate_error(exc: BaseException, ccxt_module) -> BackpackError:
    """A ccxt (or aiohttp) failure -> our typed error with the fix in its text."""
    if isinstance(exc, BackpackError):
        return exc
    try:
        text = str(exc)[:300]
    except Exception:  # a wrapped exception whose __str__ fails must not hide the original failure
        text = type(exc).__name__
    status = getattr(exc.args[0], "status", None) if exc.args else None  # aiohttp handshake error inside NetworkError
    if status is None:
        match = _HTTP_STATUS.search(text)
        status = int(match.group(1)) if match else None
    if isinstance(exc, ccxt_module.RateLimitExceeded) or status == 429 or "TOO_MANY_REQUESTS" in text:
        return BackpackRateLimitError.from_reply(429, "TOO_MANY_REQUESTS", text, fix="backing off; subscribe fewer symbols per process or raise ccxt.poll_interval_s")
    if status in (451, 403) or "FORBIDDEN" in text:
        return BackpackRegionRestrictedError.from_reply(status, "FORBIDDEN", text, fix="the exchange refuses this location: set BackpackConfig.proxies to an allowed region, or rest_url/ws_url to an alternate endpoint")
    if isinstance(exc, ccxt_module.DDoSProtection):
        return BackpackRateLimitError.from_reply(status, None, text, fix="backing off; the exchange or its CDN throttled this client")
    if isinstance(exc, (ccxt_module.BadSymbol, ccxt_module.BadRequest)):
        return BackpackRestError.from_reply(status, None, text, fix="check the symbol is an open Backpack market")
    if isinstance(exc, ccxt_module.ExchangeNotAvailable) or (status is not None and status >= 500):
        return BackpackServerError.from_reply(status, None, text, fix="retrying with backoff; check rest_url/ws_url if it persists")
    return BackpackConnectionError(f"{type(exc).__name__}: {text}", fix="retrying with backoff; check rest_url, ws_url, ca_file and proxies")
