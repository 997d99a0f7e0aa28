"""Seeded fault schedules against the full stack, checked against the simulator's ground truth."""
from __future__ import annotations

import pytest

from tests.integration.fault_harness import ALL_FAULTS, DELTA_FAULTS, fault_run, plan_faults
from tests.integration.feed_harness import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

MARKETS = ["SOL_USDC", "BTC_USDC_PERP", "ETH_USDC_PERP"]


async def test_books_equal_the_exchange_at_every_checkpoint_under_delta_faults(clean_symbols):
    async with fault_run(MARKETS[:2], seed=11, rate=300) as run:
        plan = plan_faults(seed=11, kinds=DELTA_FAULTS, count=80, duration_s=20, symbols=run.symbols)
        await run.play(plan, checkpoint_every_s=10, settle_s=3)
        counts = run.sim.faults.counts()
        gaps = run.feed.metrics.counters["book_gaps"]
    assert len(run.checkpoints) >= 2
    assert run.checkpoints == [{s: None for s in run.symbols}] * len(run.checkpoints)
    assert {"depth_dropped", "depth_duplicated", "depth_levels_reordered", "depth_swapped", "rest_error"} <= set(counts)
    assert gaps >= counts["depth_dropped"] // 3  # drops were seen as gaps, not silently absorbed
    assert run.errors.records == []


async def test_every_published_trade_reaches_the_callback_once_in_order_under_every_fault(clean_symbols):
    async with fault_run(MARKETS, seed=5, rate=300) as run:
        plan = plan_faults(seed=5, kinds=ALL_FAULTS, count=200, duration_s=60, symbols=run.symbols)
        await run.play(plan, checkpoint_every_s=30)
        kinds_seen = set(run.sim.faults.counts())
    assert len(kinds_seen) >= 8
    audits = run.trade_audit()
    assert {s: a.exact for s, a in audits.items()} == {s: True for s in run.symbols}, audits
    assert run.book_mismatches() == 0, run.checkpoints
    assert run.errors.records == []


async def test_checkpoint_waits_out_a_reconnect_that_lands_while_the_engine_is_paused(clean_symbols):
    async with fault_run(MARKETS[:1], seed=3, rate=200) as run:
        connects = run.feed.metrics.counters["ws_connects"]
        assert run.sim.faults.half_open(4.0) == 1  # the simulator drops the socket after 4 s
        result = await run.checkpoint(settle_s=0.5, timeout=30)
        assert run.feed.metrics.counters["ws_connects"] == connects + 1
    assert result == {MARKETS[0]: None}


async def test_an_outage_longer_than_cryptofeeds_retries_is_survived_without_losing_a_trade(clean_symbols):
    """cryptofeed's own handler would give up after ``retries`` failed connects (here 1); the feed keeps
    trying under its capped backoff and, once the exchange is back, fills the outage's trades from REST."""
    async with fault_run(MARKETS[:2], seed=9, rate=200, retries=1) as run:
        feed = run.feed
        connects = feed.metrics.counters["ws_connects"]
        assert run.sim.faults.outage(8.0) >= 1
        assert await wait_until(lambda: feed.metrics.counters["ws_connects"] > connects, timeout=60)
        failed_attempts = feed.metrics.counters["reconnects"]
        await run.checkpoint(settle_s=2, resume=False)  # paused: the audit sees the whole tape
    assert failed_attempts >= 3  # several refused connects during the outage, none of them final
    assert run.sim.faults.counts()["outage"] == 1
    audits = run.trade_audit()
    assert {s: (a.exact, a.backfilled > 0) for s, a in audits.items()} == {s: (True, True) for s in run.symbols}, audits
    assert run.book_mismatches() == 0 and run.errors.records == []
