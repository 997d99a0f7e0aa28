"""CcxtBackpackFeed options from the design, set in the config the way a user writes config.yaml:
``ccxt.snapshot_interval``, ``ccxt.websocket: false``, ``api_key``/``api_secret``, and the plain
values the health report reads (connection state, per-stream frame times, book snapshot times)."""
from __future__ import annotations

import time

import pytest

pytest.importorskip("ccxt")

from cryptofeed.defines import L2_BOOK, TRADES  # noqa: E402
from cryptofeed.types import Trade  # noqa: E402

from cryptofeed_backpack import auth  # noqa: E402
from cryptofeed_backpack.simulator import BackpackSimulator  # noqa: E402
from cryptofeed_backpack.symbols import load_symbols  # noqa: E402
from tests.integration.test_ccxt_feed import Recorder, checkpoint, latest_book, run_handler, wait_until  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERP, STD_PERP = "BTC_USDC_PERP", "BTC-USDC-PERP"
SEED = bytes(range(7, 39))
API_KEY = auth.b64(auth.public_key_from_seed(SEED))


def section(sim, **extra) -> dict:
    """The ``backpack:`` section of a config.yaml pointing at the simulator."""
    return {"backpack": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "ca_file": str(sim.ca_file),
                         "proxies": {"direct": True}, **extra}, "log": {"disabled": True}}


async def start(sim, rec, config: dict, **kwargs):
    await load_symbols(sim.config(), refresh=True)  # async, so the simulator in this loop can answer
    return await run_handler(sim, rec, preload=False, config=config, **kwargs)


async def test_snapshot_interval_re_snapshots_the_book_and_it_stays_exact(clean_symbols):
    async with BackpackSimulator(symbols=[PERP], seed=3, rate=300) as sim:
        rec = Recorder()
        handler, feed = await start(sim, rec, section(sim, ccxt={"snapshot_interval": 0.5}),
                                          symbols=[STD_PERP], channels=[L2_BOOK])
        try:
            assert await wait_until(lambda: feed.book_status()[STD_PERP]["snapshot_at"] is not None)
            first = feed.book_status()[STD_PERP]["snapshot_at"]
            assert await wait_until(lambda: feed.metrics.counters["ccxt_book_resnapshots"] >= 2
                                    and feed.book_status()[STD_PERP]["snapshot_at"] > first)
            assert await wait_until(lambda: feed.book_status()[STD_PERP]["synced"])
            assert await checkpoint(sim, rec, PERP, STD_PERP)
            status = feed.book_status()[STD_PERP]
        finally:
            await handler.stop_async()
        truth, ours = sim.book(PERP), latest_book(rec, STD_PERP)
    assert ours["bids"] == truth.bids and ours["asks"] == truth.asks
    # The engine is paused at the checkpoint, and every 0.5 s the feed drops ccxt's book, to be fetched
    # again on the next delta, which a paused market does not send: unsynced is then the truth. A
    # book the feed reports as synced must be at the exchange's update id.
    assert not status["synced"] or status["last_update_id"] == truth.last_update_id
    assert ours["seq"] == truth.last_update_id
    assert feed.backpack_config.ccxt.snapshot_interval == 0.5


async def test_websocket_false_in_the_config_polls_rest_only(clean_symbols):
    async with BackpackSimulator(symbols=[PERP], seed=4, rate=200) as sim:
        rec = Recorder()
        handler, feed = await start(sim, rec, section(sim, ccxt={"websocket": False, "poll_interval_s": 0.1}),
                                          symbols=[STD_PERP], channels=[TRADES, L2_BOOK])
        try:
            assert await wait_until(lambda: len(rec.items[TRADES]) >= 3 and len(rec.items[L2_BOOK]) >= 3)
            state = feed.connection_state()
            connections = sim.connections
        finally:
            await handler.stop_async()
    assert feed.rest_only and state["mode"] == "rest_only" and state["open_connections"] == 0
    assert connections == 0  # not one websocket was opened
    assert feed.expected_streams() == [] and feed.last_frame_by_stream() == {}
    assert all(isinstance(t, Trade) for t in rec.items[TRADES])


async def test_api_key_and_secret_from_the_config_sign_ccxt_requests(clean_symbols):
    async with BackpackSimulator(symbols=[PERP], seed=5, paused=True) as sim:
        sim.add_account(API_KEY)
        rec = Recorder()
        handler, feed = await start(sim, rec, section(sim, api_key=API_KEY, api_secret=auth.b64(SEED)),
                                          symbols=[STD_PERP], channels=[TRADES])
        try:
            balance = await feed.exchange.fetch_balance()  # a signed request (balanceQuery) verified by the simulator
        finally:
            await handler.stop_async()
    assert feed.backpack_config.auth.api_key == API_KEY
    assert balance["USDC"]["free"] == 100000
    assert auth.b64(SEED) not in repr(feed.backpack_config)


async def test_health_values_connection_frames_and_snapshots(clean_symbols):
    async with BackpackSimulator(symbols=[PERP], seed=6, rate=300) as sim:
        rec = Recorder()
        handler, feed = await run_handler(sim, rec, symbols=[STD_PERP], channels=[TRADES, L2_BOOK])
        try:
            assert await wait_until(lambda: set(feed.last_frame_by_stream()) == set(feed.expected_streams())
                                    and feed.book_status()[STD_PERP]["synced"])
            state, frames, books = feed.connection_state(), feed.last_frame_by_stream(), feed.book_status()
        finally:
            await handler.stop_async()
        after = feed.connection_state()
    assert state["mode"] == "websocket" and state["open_connections"] == 1 and state["running"]
    assert sorted(feed.expected_streams()) == [f"depth.{PERP}", f"trade.{PERP}"]
    assert all(abs(t - time.time()) < 60 for t in frames.values())
    assert books[STD_PERP]["snapshot_at"] is not None and books[STD_PERP]["last_update_id"] > 0
    assert feed.failures() == {}
    assert after["open_connections"] == 0 and not after["running"]
