"""FeedHandler + BackpackFeed + its WebSocket client (picows, or websockets where parametrized) over real TLS on
loopback against the simulator."""
from __future__ import annotations

from decimal import Decimal as D

import pytest
from cryptofeed.defines import (CANDLES, FUNDING, INDEX, L1_BOOK, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST, TICKER,
                                TRADES)
from cryptofeed.types import Candle, Funding, Index, L1Book, Liquidation, OpenInterest, Ticker, Trade

from cryptofeed_backpack.config import WS_CLIENTS
from cryptofeed_backpack.simulator import BackpackSimulator
from tests.integration.feed_harness import client_config, feed_book, quiesce, running_feed, wait_until, websocket_clients

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYMS = ["BTC_USDC_PERP", "SOL_USDC", "AAPL.US_USDC_PERP", "kPEPE_USDC_PERP"]
STD = ["BTC-USDC-PERP", "SOL-USDC", "AAPL.US-USDC-PERP", "kPEPE-USDC-PERP"]


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_every_public_channel_arrives_as_cryptofeed_objects(clean_symbols, ws_client):
    channels = [TRADES, L2_BOOK, TICKER, L1_BOOK, CANDLES, FUNDING, INDEX, OPEN_INTEREST, LIQUIDATIONS]
    async with BackpackSimulator(symbols=SYMS, seed=3, rate=400, open_interest_interval=0.5) as sim:
        async with running_feed(sim, STD, channels, config=client_config(sim, ws_client), candle_closed_only=False,
                                candle_interval="1s") as (feed, rec):
            ok = await wait_until(lambda: all(rec.items[c] for c in channels), timeout=30)
            missing = [c for c in channels if not rec.items[c]]
            assert ok, f"channels that never arrived: {missing}"
            assert websocket_clients(feed) == {ws_client}
    types = {TRADES: Trade, TICKER: Ticker, L1_BOOK: L1Book, CANDLES: Candle, FUNDING: Funding, INDEX: Index,
             OPEN_INTEREST: OpenInterest, LIQUIDATIONS: Liquidation}
    for channel, kind in types.items():
        obj, receipt = rec.items[channel][0]
        assert isinstance(obj, kind), channel
        assert obj.exchange == "BACKPACK" and obj.symbol in STD
        assert abs(obj.timestamp - receipt) < 120, (channel, obj.timestamp, receipt)  # seconds, not µs or ms
    trade = rec.items[TRADES][0][0]
    assert type(trade.price) is D and type(trade.amount) is D and trade.side in ("buy", "sell")
    funding = rec.items[FUNDING][0][0]
    assert type(funding.mark_price) is D and funding.next_funding_time > funding.timestamp
    symbols_seen = {o.symbol for o, _ in rec.items[TRADES]}
    assert {"AAPL.US-USDC-PERP", "kPEPE-USDC-PERP"} <= symbols_seen  # dotted and lower-case symbols round-trip
    first_book = rec.items[L2_BOOK][0][0]
    assert first_book["delta"] is None  # a snapshot comes first
    assert all(type(p) is D and type(q) is D for p, q in first_book["bids"].items())


async def test_book_equals_the_exchange_book_at_quiescent_checkpoints(clean_symbols):
    async with BackpackSimulator(symbols=SYMS, seed=11, rate=800) as sim:
        async with running_feed(sim, STD, [L2_BOOK]) as (feed, rec):
            for _ in range(3):
                assert await wait_until(lambda: len(rec.items[L2_BOOK]) > 50)
                assert await quiesce(sim, feed, SYMS), "the feed never reached the simulator's last update id"
                for sym in SYMS:
                    truth = sim.book(sym)
                    bids, asks = feed_book(feed, sym)
                    assert bids == truth.bids and asks == truth.asks, sym
                    assert len(bids) > 100  # deep book, not just the touch
                rec.items[L2_BOOK].clear()
                sim.resume()
            assert feed.metrics.counters["book_gaps"] == 0


async def test_gap_resyncs_and_never_applies_a_delta_across_it(clean_symbols):
    sym, std = "BTC_USDC_PERP", "BTC-USDC-PERP"
    async with BackpackSimulator(symbols=[sym], seed=5, rate=300) as sim:
        async with running_feed(sim, [std], [L2_BOOK]) as (feed, rec):
            assert await wait_until(lambda: feed.book_state(sym) is not None and feed.book_state(sym).synced)
            assert await wait_until(lambda: len(rec.items[L2_BOOK]) > 20)
            sim.faults.drop_next_depth(sym)
            assert await wait_until(lambda: feed.metrics.counters["book_gaps"] >= 1)
            assert await wait_until(lambda: feed.book_state(sym).synced)
            assert await wait_until(lambda: len(rec.items[L2_BOOK]) > 60)
            assert await quiesce(sim, feed, [sym])
            truth = sim.book(sym)
            assert feed_book(feed, sym) == (truth.bids, truth.asks)

    events = [o for o, _ in rec.items[L2_BOOK]]
    snapshots = [i for i, e in enumerate(events) if e["delta"] is None]
    assert len(snapshots) == 2, "one snapshot at start, one after the gap"
    # every emission between and after the snapshots continues the sequence; the resync snapshot
    # jumps forward over the dropped update
    for before, after in zip(events, events[1:]):
        assert after["seq"] > before["seq"]
    assert feed.metrics.counters["book_snapshots"] >= 2


async def test_max_depth_limits_what_callbacks_see(clean_symbols):
    sym, std = "SOL_USDC", "SOL-USDC"
    async with BackpackSimulator(symbols=[sym], seed=2, rate=300) as sim:
        async with running_feed(sim, [std], [L2_BOOK], max_depth=5) as (feed, rec):
            assert await wait_until(lambda: len(rec.items[L2_BOOK]) > 30)
            assert await quiesce(sim, feed, [sym])
            await wait_until(lambda: False, timeout=0.2)
            last = rec.items[L2_BOOK][-1][0]
            truth = sim.book(sym)
    assert len(last["bids"]) == 5 and len(last["asks"]) == 5
    assert last["bids"] == dict(sorted(truth.bids.items(), reverse=True)[:5])
    assert last["asks"] == dict(sorted(truth.asks.items())[:5])
    for event, _ in rec.items[L2_BOOK][1:]:
        assert event["delta"] is not None and len(event["bids"]) <= 5
