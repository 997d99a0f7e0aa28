"""CcxtBackpackFeed under a long stream: at least 20,000 websocket frames through real ccxt.pro, the
newest aiohttp, loopback TLS and the simulator, with no stall, no lost trade and an exact book."""
from __future__ import annotations

import asyncio
import time

import pytest

pytest.importorskip("ccxt")

from cryptofeed import FeedHandler  # noqa: E402
from cryptofeed.defines import L2_BOOK, TRADES  # noqa: E402

from cryptofeed_backpack.ccxt_feed import CcxtBackpackFeed  # noqa: E402
from cryptofeed_backpack.simulator import BackpackSimulator  # noqa: E402
from cryptofeed_backpack.symbols import load_symbols  # noqa: E402
from tests.integration.feed_harness import wait_until  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERP, STD_PERP = "BTC_USDC_PERP", "BTC-USDC-PERP"
FRAMES = 20_000
STALL_S = 10.0  # no new frame for this long while the simulator publishes = a stall


async def frames_reach(feed, target: int) -> tuple[bool, int]:
    """Wait while frames keep arriving; give up only when they stop (a stall), not after a fixed time."""
    last_count, last_progress = -1, time.monotonic()
    while True:
        count = feed.metrics.counters["ws_messages"]
        if count >= target:
            return True, count
        if count != last_count:
            last_count, last_progress = count, time.monotonic()
        elif time.monotonic() - last_progress > STALL_S:
            return False, count
        await asyncio.sleep(0.05)


async def test_twenty_thousand_frames_flow_through_the_ccxt_feed_without_a_stall(clean_symbols):
    trades, books = [], {"count": 0, "last": None}

    async def on_trade(trade, receipt):
        trades.append(int(trade.id))

    async def on_book(book, receipt):
        books["count"] += 1
        books["last"] = book  # cryptofeed reuses the object: read it at the checkpoint only

    async with BackpackSimulator(symbols=[PERP], seed=5, rate=4000) as sim:
        config = sim.config()
        await load_symbols(config, refresh=True)
        feed = CcxtBackpackFeed(config=config, symbols=[STD_PERP], channels=[TRADES, L2_BOOK],
                                callbacks={TRADES: on_trade, L2_BOOK: on_book})
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        handler.add_feed(feed)
        handler.run(start_loop=False, install_signal_handlers=False)
        try:
            reached, count = await frames_reach(feed, FRAMES)
            assert reached, f"frames stopped at {count} (sim sent {sim.stats.frames_sent})"
            sim.pause()
            await sim.drain()
            truth = sim.book(PERP)
            assert await wait_until(lambda: books["last"] is not None and books["last"].sequence_number == truth.last_update_id)
            book = books["last"]
            bids, asks = book.book.bids.to_dict(), book.book.asks.to_dict()
            last_trade = sim.markets[PERP].trades[-1].id
        finally:
            await handler.stop_async()
    assert feed.metrics.counters["ws_messages"] >= FRAMES
    assert book.sequence_number == truth.last_update_id
    assert bids == truth.bids and asks == truth.asks
    assert trades == list(range(trades[0], last_trade + 1))  # every trade once, in order, none lost
    assert feed.exchange.gaps == 0
    streams = feed.last_frame_by_stream()
    assert set(streams) == {f"trade.{PERP}", f"depth.{PERP}"} == set(feed.expected_streams())
