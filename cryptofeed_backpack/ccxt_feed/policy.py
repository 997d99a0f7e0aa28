"""ccxt failures -> this package's typed errors, and how long to wait before the next try.

The wait follows the REST policy every other part of the package uses (``BackpackConfig.rest`` and
``rest.backoff_delay``: capped exponential with full jitter); the two Backpack-specific floors are
documented in docs/ccxt.md ("Errors and backoff").
"""
from __future__ import annotations

import random
import re
from typing import Optional

from ..config import RestPolicy
from ..errors import (BackpackConnectionError, BackpackError, BackpackRateLimitError, BackpackRegionRestrictedError,
                      BackpackRestError, BackpackServerError)
from ..rest import backoff_delay

_HTTP_STATUS = re.compile(r"\b(4\d\d|5\d\d)\b")
RATE_LIMIT_FLOOR_S = 2.0  # Backpack counts requests per minute (its support FAQ, docs/rest.md): retrying sooner only burns budget
_RNG = random.Random()


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
        return BackpackRateLimitError(429, "TOO_MANY_REQUESTS", text, fix="backing off; subscribe fewer symbols per process or raise ccxt.poll_interval_s")
    if status in (451, 403) or "FORBIDDEN" in text:
        return BackpackRegionRestrictedError(status, "FORBIDDEN", text, fix="the exchange refuses this location: set BackpackConfig.proxies to an allowed region, or rest_url/ws_url to an alternate endpoint")
    if isinstance(exc, ccxt_module.DDoSProtection):
        return BackpackRateLimitError(status, None, text, fix="backing off; the exchange or its CDN throttled this client")
    if isinstance(exc, (ccxt_module.BadSymbol, ccxt_module.BadRequest)):
        return BackpackRestError(status, None, text, fix="check the symbol is an open Backpack market")
    if isinstance(exc, ccxt_module.ExchangeNotAvailable) or (status is not None and status >= 500):
        return BackpackServerError(status, None, text, fix="retrying with backoff; check rest_url/ws_url if it persists")
    return BackpackConnectionError(f"{type(exc).__name__}: {text} (retrying with backoff; check rest_url, ws_url, ca_file and proxies)")


def backoff_s(attempt: int, error: BackpackError, policy: RestPolicy, rng: Optional[random.Random] = None) -> float:
    """The REST policy's full-jitter backoff. A rate limit waits at least RATE_LIMIT_FLOOR_S (never past
    the cap); a region refusal will not clear soon, so it waits the whole cap."""
    cap = policy.backoff_cap_s
    if isinstance(error, BackpackRegionRestrictedError):
        return cap
    delay = backoff_delay(attempt, policy.backoff_base_s, cap, rng or _RNG)
    if isinstance(error, BackpackRateLimitError):
        retry_after = getattr(error, "retry_after", None)
        floor = retry_after if retry_after is not None else RATE_LIMIT_FLOOR_S
        return min(cap, max(delay, floor))
    return delay
