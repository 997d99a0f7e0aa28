"""Cold start of the L2 book against the simulator: every book's snapshot is fetched right after the
subscription (docs/protocol.md §4), so a market that never moves is synced too, and the snapshot
requests share a few kept-alive connections instead of opening one each (``snapshot_concurrency``;
docs/performance.md)."""
from __future__ import annotations

import pytest
from cryptofeed.defines import L2_BOOK

from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.symbols import load_symbols
from tests.integration.feed_harness import feed_book, quiesce, running_feed, wait_until

pytestmark = [pytest.mark.integration]

SYMS = [f"Q{i:02d}_USDC_PERP" for i in range(40)]  # generic markets (simulator/markets.py)
STD = [s.replace("_", "-") for s in SYMS]


async def test_books_of_quiet_markets_sync_from_their_snapshot_alone(clean_symbols):
    # paused: the engine makes no event, so no market ever sends a depth delta
    async with BackpackSimulator(symbols=SYMS, seed=5, rate=400, paused=True) as sim:
        async with running_feed(sim, STD, [L2_BOOK]) as (feed, rec):
            assert await wait_until(lambda: len(feed.book_channel.books) == len(SYMS)
                                    and all(b.synced for b in feed.book_channel.books.values()), timeout=30)
            assert {o["symbol"] for o, _ in rec.items[L2_BOOK]} == set(STD)
            assert all(o["delta"] is None for o, _ in rec.items[L2_BOOK])  # snapshots only
            for sym in SYMS:
                truth = sim.book(sym)
                bids, asks = feed_book(feed, sym)
                assert bids == truth.bids and asks == truth.asks, sym
                assert feed.book_state(sym).last_id == truth.last_update_id
            assert feed.metrics.counters["book_snapshots"] == len(SYMS)
            # the deltas that follow the snapshots continue them without a gap
            sim.resume()
            assert await wait_until(lambda: len(rec.items[L2_BOOK]) > len(SYMS) + 100, timeout=30)
            assert await quiesce(sim, feed, SYMS), "the feed never reached the simulator's last update id"
            for sym in SYMS:
                truth = sim.book(sym)
                assert feed_book(feed, sym) == (truth.bids, truth.asks), sym
            assert feed.metrics.counters["book_gaps"] == 0


@pytest.mark.parametrize("cap", [16, 5])  # the default, and a setting
async def test_snapshot_requests_share_at_most_the_concurrency_cap_of_connections(clean_symbols, cap):
    async with BackpackSimulator(symbols=SYMS, seed=6, rate=400, paused=True) as sim:
        config = sim.config() if cap == 16 else sim.config(snapshot_concurrency=cap)
        assert config.snapshot_concurrency == cap
        await load_symbols(config, refresh=True)  # through a client of its own: counted before the feed starts
        before = sim.stats.rest_connections
        async with running_feed(sim, STD, [L2_BOOK], config=config, preload=False) as (feed, rec):
            assert await wait_until(lambda: len(feed.book_channel.books) == len(SYMS)
                                    and all(b.synced for b in feed.book_channel.books.values()), timeout=30)
            connections = sim.stats.rest_connections - before
    assert feed.metrics.counters["rest_requests"] == len(SYMS)  # one snapshot each
    assert feed.metrics.counters["rest_429"] == 0
    # 40 requests in flight at once would open 40 connections; the cap keeps them to `cap`
    assert 1 <= connections <= cap, connections
