"""The one retry policy of the package: request budgets, the circuit breaker, capped full-jitter
backoff and Retry-After. Used by the REST client, the book resync and the ccxt fallback, so every
retry loop waits the same way (docs/rest.md). Clock, sleep and the random source are injectable.
"""
from __future__ import annotations

import email.utils
import random
from collections import deque
from typing import Any, Callable, Optional

from ..constants import HISTORY, Rest
from ..errors import BackpackRateLimitError, BackpackRegionRestrictedError, CircuitOpenError

WINDOW_S = 60.0
_HISTORY_PATHS = frozenset(p.path for p in Rest.all() if p.rate_class == HISTORY)


def is_history_path(path: str) -> bool:
    """Backpack limits these 'historical' endpoints to 30 requests/min (docs/protocol.md §1.5, §1.9)."""
    return path in _HISTORY_PATHS


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
                raise CircuitOpenError.after(self.failures, remaining)
            self.state = "half_open"
        if self._trial_running:  # half_open admits a single trial call
            raise CircuitOpenError.after(self.failures, 0.0)
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


def retry_delay(attempt: int, error: Optional[BaseException], base_s: float, cap_s: float,
                rng: Optional[random.Random] = None) -> float:
    """The wait before retry ``attempt`` (from 0) after ``error``: full jitter, capped.

    Rate limits (429) wait the server's Retry-After when given, else at least 2 s (or the cap);
    a region refusal (451/403) will not clear soon, so it waits the whole cap.
    """
    rng = rng or _RNG
    if isinstance(error, BackpackRegionRestrictedError):
        return cap_s
    if isinstance(error, BackpackRateLimitError):
        if error.retry_after is not None:
            return error.retry_after
        return min(cap_s, min(2.0, cap_s) + backoff_delay(attempt, base_s, cap_s, rng))
    return backoff_delay(attempt, base_s, cap_s, rng)


_RNG = random.Random()


class Backoff:
    """The delays of one retry loop under ``policy`` (a ``RestPolicy``), counting its attempts."""

    def __init__(self, policy, rng: Optional[random.Random] = None):
        self.base_s = policy.backoff_base_s
        self.cap_s = policy.backoff_cap_s
        self._rng = rng or _RNG
        self.attempt = 0

    def next_delay(self, error: Optional[BaseException] = None) -> float:
        attempt, self.attempt = self.attempt, self.attempt + 1
        return retry_delay(attempt, error, self.base_s, self.cap_s, self._rng)

    def reset(self) -> None:
        self.attempt = 0
