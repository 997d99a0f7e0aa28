"""Fault injection against the full stack: the feed survives bad frames, duplicates, reordering,
dropped sockets and REST errors, and its book still equals the exchange's."""
from __future__ import annotations

import pytest
from cryptofeed.defines import L2_BOOK, TRADES

from cryptofeed_backpack.config import WS_CLIENTS
from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.symbols import load_symbols
from tests.integration.feed_harness import client_config, feed_book, quiesce, running_feed, wait_until, websocket_clients

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYM, STD = "BTC_USDC_PERP", "BTC-USDC-PERP"


async def test_malformed_and_unknown_frames_are_dropped_and_the_connection_stays_up(clean_symbols):
    async with BackpackSimulator(symbols=[SYM], seed=1, rate=200) as sim:
        async with running_feed(sim, [STD], [TRADES, L2_BOOK]) as (feed, rec):
            assert await wait_until(lambda: rec.items[TRADES])
            connects = feed.metrics.counters["ws_connects"]
            assert sim.faults.send_malformed() >= 1
            assert sim.faults.send_unknown_event() >= 1
            assert await wait_until(lambda: feed.metrics.counters["dropped_messages"] >= 2)
            before = len(rec.items[TRADES])
            assert await wait_until(lambda: len(rec.items[TRADES]) > before + 5)
            assert feed.metrics.counters["ws_connects"] == connects  # no reconnect was needed
            assert feed.metrics.counters["dropped_undecodable"] >= 1


async def test_duplicated_and_reordered_deltas_keep_the_book_exact(clean_symbols):
    async with BackpackSimulator(symbols=[SYM], seed=9, rate=400) as sim:
        async with running_feed(sim, [STD], [L2_BOOK]) as (feed, rec):
            assert await wait_until(lambda: feed.book_state(SYM) is not None and feed.book_state(SYM).synced)
            sim.faults.duplicate_next_depth(SYM, count=20)
            sim.faults.reorder_next_depth(SYM, count=20)
            assert await wait_until(lambda: feed.metrics.counters["book_stale_deltas"] >= 5)
            assert await quiesce(sim, feed, [SYM])
            truth = sim.book(SYM)
            assert feed_book(feed, SYM) == (truth.bids, truth.asks)
            assert feed.metrics.counters["book_gaps"] == 0


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_dropped_socket_reconnects_resubscribes_and_resyncs(clean_symbols, ws_client):
    async with BackpackSimulator(symbols=[SYM], seed=4, rate=300) as sim:
        async with running_feed(sim, [STD], [TRADES, L2_BOOK], config=client_config(sim, ws_client)) as (feed, rec):
            assert await wait_until(lambda: feed.book_state(SYM) is not None and feed.book_state(SYM).synced)
            sim.faults.close_after(10)
            assert await wait_until(lambda: feed.metrics.counters["ws_connects"] >= 2, timeout=20)
            assert feed.metrics.counters["reconnects"] >= 1  # an abrupt end is a failed attempt, backed off
            assert websocket_clients(feed) <= {ws_client}
            trades_before = len(rec.items[TRADES])
            assert await wait_until(lambda: len(rec.items[TRADES]) > trades_before + 3)
            assert await wait_until(lambda: feed.book_state(SYM).synced)
            assert await quiesce(sim, feed, [SYM])
            truth = sim.book(SYM)
            assert feed_book(feed, SYM) == (truth.bids, truth.asks)
    snapshots = [e for e, _ in rec.items[L2_BOOK] if e["delta"] is None]
    assert len(snapshots) >= 2  # the book was re-seeded after the reconnect


async def test_snapshot_survives_rest_errors(clean_symbols):
    async with BackpackSimulator(symbols=[SYM], seed=6, rate=200) as sim:
        config = sim.config(rest={"backoff_base_s": 0.01, "backoff_cap_s": 0.05})
        await load_symbols(config, refresh=True)
        # the next REST calls are the feed's depth snapshots
        sim.faults.rest_errors(503, count=2, retry_after=0.05)
        sim.faults.rest_errors(500, count=1)
        async with running_feed(sim, [STD], [L2_BOOK], config=config, preload=False) as (feed, rec):
            assert await wait_until(lambda: feed.book_state(SYM) is not None and feed.book_state(SYM).synced)
            assert await quiesce(sim, feed, [SYM])
            truth = sim.book(SYM)
            assert feed_book(feed, SYM) == (truth.bids, truth.asks)
            assert feed.metrics.counters["rest_retries"] >= 1
