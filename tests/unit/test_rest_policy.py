"""Pure parts of the REST client: backoff, Retry-After, request budget, circuit breaker, error bodies."""
from __future__ import annotations

import asyncio
import email.utils
import random

import pytest

from cryptofeed_backpack.errors import CircuitOpenError
from cryptofeed_backpack.transport.policy import (
    CircuitBreaker,
    RequestBudget,
    backoff_delay,
    is_history_path,
    parse_retry_after,
)
from cryptofeed_backpack.transport.rest_errors import parse_error_body
from tests.fixtures import raw


class FakeTime:
    """A clock whose sleep advances it instantly, recording every requested delay."""

    def __init__(self, start: float = 1000.0):
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class MaxRandom(random.Random):
    """uniform() returns the upper bound: exposes the un-jittered ceiling of each delay."""

    def uniform(self, a, b):
        return b


def test_backoff_grows_exponentially_then_caps():
    rng = MaxRandom()
    delays = [backoff_delay(n, 0.25, 8.0, rng) for n in range(8)]
    assert delays == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_full_jitter_stays_within_zero_and_ceiling():
    rng = random.Random(7)
    for attempt in range(12):
        ceiling = min(3.0, 0.1 * 2**attempt)
        samples = [backoff_delay(attempt, 0.1, 3.0, rng) for _ in range(200)]
        assert all(0.0 <= s <= ceiling for s in samples)
        # full jitter spreads over the whole range, not just near the ceiling
        assert min(samples) < ceiling * 0.2 and max(samples) > ceiling * 0.8


def test_backoff_huge_attempt_does_not_overflow():
    assert backoff_delay(10_000, 0.5, 4.0, MaxRandom()) == 4.0


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("3", 0.0) == 3.0
    assert parse_retry_after(" 1.5 ", 0.0) == 1.5
    assert parse_retry_after(None, 0.0) is None
    assert parse_retry_after("soon", 0.0) is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after(date, now) == pytest.approx(12.0, abs=1.0)
    assert parse_retry_after("-5", 0.0) == 0.0


def test_history_paths():
    assert is_history_path("/api/v1/trades/history")
    assert is_history_path("/api/v1/klines")
    assert is_history_path("/api/v1/fundingRates")
    assert is_history_path("/wapi/v1/history/fills")
    assert not is_history_path("/api/v1/trades")
    assert not is_history_path("/api/v1/depth")


@pytest.mark.parametrize("name, code, message", [
    ("rest_error__invalid_market_symbol.json", "INVALID_CLIENT_REQUEST", "Invalid market symbol"),
    ("rest_error__symbol_not_found.json", "INVALID_CLIENT_REQUEST", "Symbol not found"),
    ("rest_error__closed_market_not_found.json", "RESOURCE_NOT_FOUND", "Not Found"),
    ("rest_error__invalid_price.json", "INVALID_PRICE", "Price is too far from the last active price"),
    ("rest_error__plain_text_bad_limit.txt", None,
     'failed to parse parameter `limit`: failed to parse "DepthLimit": Expect a valid enumeration value.'),
    ("rest_error__plain_text_unknown_path.txt", None, "not found"),
])
def test_error_bodies_json_and_plain_text(name, code, message):
    assert parse_error_body(raw(name)) == (code, message)


def test_error_body_other_shapes():
    assert parse_error_body(b"[1,2]") == (None, "[1,2]")
    assert parse_error_body(b"x" * 5000)[1] == "x" * 300


async def test_budget_admits_limit_then_waits_for_the_window():
    t = FakeTime()
    budget = RequestBudget(3, t.clock, t.sleep)
    for _ in range(3):
        assert await budget.acquire() == 0.0
    assert t.sleeps == []
    waited = await budget.acquire()
    assert waited == pytest.approx(60.0)
    assert t.sleeps == [pytest.approx(60.0)]


async def test_budget_is_a_sliding_window():
    t = FakeTime()
    budget = RequestBudget(2, t.clock, t.sleep)
    await budget.acquire()  # t=0
    t.now += 40
    await budget.acquire()  # t=40
    waited = await budget.acquire()  # must wait until t=60 when the first leaves the window
    assert waited == pytest.approx(20.0)
    waited = await budget.acquire()  # then until t=100 for the second
    assert waited == pytest.approx(40.0)


async def test_budget_never_exceeds_rate_in_any_minute():
    t = FakeTime(0.0)
    budget = RequestBudget(5, t.clock, t.sleep)
    stamps = []
    for _ in range(23):
        await budget.acquire()
        stamps.append(t.now)
    for i, s in enumerate(stamps):
        in_window = [x for x in stamps if s <= x < s + 60]
        assert len(in_window) <= 5, (i, in_window)


def test_breaker_full_cycle_closed_open_half_open_closed():
    t = FakeTime(0.0)
    b = CircuitBreaker(threshold=3, cooldown_s=30.0, clock=t.clock)
    for _ in range(2):
        b.before_call()
        b.record_failure()
    assert b.state == "closed"
    b.before_call()
    b.record_failure()
    assert b.state == "open"
    with pytest.raises(CircuitOpenError) as info:
        b.before_call()
    assert info.value.failures == 3
    assert info.value.retry_in == pytest.approx(30.0)
    t.now += 29.9
    with pytest.raises(CircuitOpenError):
        b.before_call()
    t.now += 0.1
    b.before_call()  # the trial
    assert b.state == "half_open"
    with pytest.raises(CircuitOpenError):  # only one trial at a time
        b.before_call()
    b.record_success()
    assert b.state == "closed" and b.failures == 0
    b.before_call()


def test_breaker_half_open_failure_reopens_for_a_full_cooldown():
    t = FakeTime(0.0)
    b = CircuitBreaker(threshold=1, cooldown_s=10.0, clock=t.clock)
    b.before_call()
    b.record_failure()
    assert b.state == "open"
    t.now += 10
    b.before_call()
    assert b.state == "half_open"
    b.record_failure()
    assert b.state == "open"
    t.now += 9
    with pytest.raises(CircuitOpenError) as info:
        b.before_call()
    assert info.value.retry_in == pytest.approx(1.0)


def test_breaker_success_resets_consecutive_count():
    t = FakeTime(0.0)
    b = CircuitBreaker(threshold=2, cooldown_s=10.0, clock=t.clock)
    b.record_failure()
    b.record_success()
    b.record_failure()
    assert b.state == "closed"
    b.record_failure()
    assert b.state == "open"


def test_breaker_abandoned_trial_frees_the_slot():
    t = FakeTime(0.0)
    b = CircuitBreaker(threshold=1, cooldown_s=1.0, clock=t.clock)
    b.record_failure()
    t.now += 1
    b.before_call()
    b.record_abandoned()
    b.before_call()  # another caller may be the trial now
    assert b.state == "half_open"
