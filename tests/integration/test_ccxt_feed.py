"""FeedHandler + CcxtBackpackFeed + real ccxt.pro over loopback TLS against the simulator."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest

pytest.importorskip("ccxt")

from cryptofeed import FeedHandler  # noqa: E402
from cryptofeed.defines import CANDLES, FUNDING, L2_BOOK, TICKER, TRADES  # noqa: E402
from cryptofeed.types import Candle, Funding, Ticker, Trade  # noqa: E402

from cryptofeed_backpack import registry  # noqa: E402
from cryptofeed_backpack.ccxt_feed import CcxtBackpackFeed  # noqa: E402
from cryptofeed_backpack.config import BackpackConfig  # noqa: E402
from cryptofeed_backpack.errors import BackpackRateLimitError, BackpackRegionRestrictedError  # noqa: E402
from cryptofeed_backpack.simulator import BackpackSimulator  # noqa: E402
from cryptofeed_backpack.symbols import load_symbols  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PERP, SPOT = "BTC_USDC_PERP", "SOL_USDC"
STD_PERP, STD_SPOT = "BTC-USDC-PERP", "SOL-USDC"


class Recorder:
    """Keeps what callbacks receive; books are copied because cryptofeed reuses one OrderBook object."""

    def __init__(self):
        self.items = defaultdict(list)

    def callbacks(self, channels):
        def make(channel):
            async def cb(obj, receipt):
                if channel == L2_BOOK:
                    obj = {"symbol": obj.symbol, "seq": obj.sequence_number, "delta": obj.delta,
                           "bids": obj.book.bids.to_dict(), "asks": obj.book.asks.to_dict()}
                self.items[channel].append(obj)
            return cb
        return {c: make(c) for c in channels}


async def wait_until(predicate, bound_s: float = 15.0) -> bool:
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()


async def run_handler(sim, recorder, preload=True, **feed_kwargs):
    config = feed_kwargs.pop("config", None) or sim.config()
    if preload:
        await load_symbols(config, refresh=True)  # async, so the simulator in this loop can answer
    channels = feed_kwargs.get("channels") or list(feed_kwargs["subscription"])
    feed = CcxtBackpackFeed(config=config, callbacks=recorder.callbacks(channels), **feed_kwargs)
    handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    handler.add_feed(feed)
    handler.run(start_loop=False, install_signal_handlers=False)
    return handler, feed


def latest_book(recorder, symbol):
    books = [b for b in recorder.items[L2_BOOK] if b["symbol"] == symbol]
    return books[-1] if books else None


async def checkpoint(sim, recorder, exchange_symbol, std_symbol) -> bool:
    """Stop the engine, flush the sockets, wait for the feed to emit the book at the last update id."""
    sim.pause()
    await sim.drain()
    target = sim.book(exchange_symbol).last_update_id
    return await wait_until(lambda: (latest_book(recorder, std_symbol) or {}).get("seq") == target)


async def test_channels_arrive_as_decimal_cryptofeed_objects(clean_symbols):
    async with BackpackSimulator(symbols=[PERP, SPOT], seed=7, rate=400) as sim:
        rec = Recorder()
        sub = {TRADES: [STD_PERP, STD_SPOT], TICKER: [STD_PERP, STD_SPOT], CANDLES: [STD_SPOT], FUNDING: [STD_PERP]}
        handler, feed = await run_handler(sim, rec, subscription=sub, candle_interval="1s", candle_closed_only=True,
                                          poll_interval_s=0.2)
        try:
            assert await wait_until(lambda: all(len(rec.items[c]) >= 2 for c in sub)
                                    and {t.symbol for t in rec.items[TRADES]} == {STD_PERP, STD_SPOT})
        finally:
            await handler.stop_async()
        assert feed.exchange.session is None  # shutdown closed ccxt's sessions
    trades = rec.items[TRADES]
    assert all(isinstance(t, Trade) and t.exchange == "BACKPACK" for t in trades)
    assert all(isinstance(t.price, Decimal) and isinstance(t.amount, Decimal) and t.price > 0 and t.amount > 0 for t in trades)
    assert all(isinstance(t.timestamp, float) and abs(t.timestamp - time.time()) < 120 for t in trades)
    for sym in (STD_PERP, STD_SPOT):
        ids = [int(t.id) for t in trades if t.symbol == sym]
        assert ids == sorted(set(ids))  # each trade once, in order
    tickers = rec.items[TICKER]
    assert all(isinstance(t, Ticker) and isinstance(t.bid, Decimal) and isinstance(t.ask, Decimal) and t.bid < t.ask
               for t in tickers)
    candles = rec.items[CANDLES]
    assert all(isinstance(c, Candle) and c.closed and c.stop - c.start == 1.0 and c.low <= c.open <= c.high for c in candles)
    assert all(isinstance(x, Decimal) for c in candles for x in (c.open, c.high, c.low, c.close, c.volume))
    funding = rec.items[FUNDING]
    assert all(isinstance(f, Funding) and f.symbol == STD_PERP and isinstance(f.rate, Decimal)
               and isinstance(f.mark_price, Decimal) and f.mark_price > 0 for f in funding)


async def test_book_equals_simulator_book_at_paused_checkpoints(clean_symbols):
    async with BackpackSimulator(symbols=[PERP], seed=11, rate=600) as sim:
        rec = Recorder()
        handler, feed = await run_handler(sim, rec, symbols=[STD_PERP], channels=[L2_BOOK])
        try:
            for _ in range(2):
                assert await wait_until(lambda: len(rec.items[L2_BOOK]) >= 20)
                assert await checkpoint(sim, rec, PERP, STD_PERP)
                truth, ours = sim.book(PERP), latest_book(rec, STD_PERP)
                assert ours["bids"] == truth.bids and ours["asks"] == truth.asks
                top = sorted(truth.bids, reverse=True)[:5]
                assert list(ours["bids"])[:5] == top
                assert all(isinstance(p, Decimal) and isinstance(q, Decimal) for p, q in ours["bids"].items())
                rec.items[L2_BOOK].clear()
                sim.resume()
            # a skipped depth update is detected and the book re-snapshotted, then equal again
            sim.faults.drop_next_depth(PERP)
            await wait_until(lambda: feed.exchange.gaps >= 1)
            assert feed.exchange.gaps >= 1
            assert await checkpoint(sim, rec, PERP, STD_PERP)
            truth, ours = sim.book(PERP), latest_book(rec, STD_PERP)
            assert ours["bids"] == truth.bids and ours["asks"] == truth.asks
        finally:
            await handler.stop_async()


async def test_max_depth_top_levels_equal_simulator(clean_symbols):
    async with BackpackSimulator(symbols=[SPOT], seed=4, rate=300) as sim:
        rec = Recorder()
        handler, _ = await run_handler(sim, rec, symbols=[STD_SPOT], channels=[L2_BOOK], max_depth=3)
        try:
            assert await wait_until(lambda: len(rec.items[L2_BOOK]) >= 5)
            assert await checkpoint(sim, rec, SPOT, STD_SPOT)
        finally:
            await handler.stop_async()
        truth, ours = sim.book(SPOT), latest_book(rec, STD_SPOT)
        assert ours["bids"] == {p: truth.bids[p] for p in sorted(truth.bids, reverse=True)[:3]}
        assert ours["asks"] == {p: truth.asks[p] for p in sorted(truth.asks)[:3]}


async def test_rate_limit_and_region_errors_back_off_then_recover(clean_symbols, caplog):
    async with BackpackSimulator(symbols=[SPOT], seed=2, rate=300) as sim:
        config = sim.config(rest={"backoff_base_s": 0.05, "backoff_cap_s": 0.5})
        await load_symbols(config, refresh=True)
        rec = Recorder()
        sim.faults.rest_errors(429, count=1)
        sim.faults.rest_errors(451, count=1)
        # rest_only polls /trades: the markets load and polls meet the injected errors first
        handler, feed = await run_handler(sim, rec, preload=False, config=config, symbols=[STD_SPOT], channels=[TRADES],
                                          rest_only=True, poll_interval_s=0.1)
        try:
            assert await wait_until(lambda: len(rec.items[TRADES]) >= 1)
            errors = feed.metrics.snapshot()["counters"]
        finally:
            await handler.stop_async()
    assert errors.get("ccxt_errors_BackpackRateLimitError") == 1
    assert errors.get("ccxt_errors_BackpackRegionRestrictedError") == 1
    assert isinstance(feed.last_error, (BackpackRateLimitError, BackpackRegionRestrictedError))
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "HTTP 429" in messages and "HTTP 451" in messages and "proxies" in messages
    assert all(isinstance(t, Trade) and isinstance(t.price, Decimal) for t in rec.items[TRADES])


async def test_flag_false_makes_feedhandler_build_the_ccxt_feed(clean_symbols):
    async with BackpackSimulator(symbols=[SPOT], seed=1) as sim:
        config = sim.config()
        await load_symbols(config, refresh=True)
        try:
            assert registry.register(native=False) is CcxtBackpackFeed
            section = {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "ca_file": str(sim.ca_file)}
            handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False, "backpack": section})
            handler.add_feed("BACKPACK", symbols=[STD_SPOT], channels=[TRADES])
            feed = handler.feeds[0]
            assert type(feed) is CcxtBackpackFeed
            assert feed.exchange.urls["api"]["public"] == sim.rest_url and feed.backpack_config.ca_file == sim.ca_file
        finally:
            registry.register()
    from cryptofeed.exchanges import EXCHANGE_MAP

    assert EXCHANGE_MAP["BACKPACK"] is registry.BackpackFeedSelector


def test_environment_flag_selects_ccxt_feed_in_a_fresh_process():
    script = (
        "import cryptofeed_backpack\n"
        "from cryptofeed.exchanges import EXCHANGE_MAP\n"
        "from cryptofeed_backpack.symbols import seed_symbols\n"
        "from tests.payloads import real_markets\n"
        "seed_symbols(real_markets())\n"
        "from cryptofeed import FeedHandler\n"
        "fh = FeedHandler(config={'log': {'disabled': True}})\n"
        "fh.add_feed('BACKPACK', symbols=['ETH-USDC'], channels=['trades'])\n"
        "print(EXCHANGE_MAP['BACKPACK'].__name__, type(fh.feeds[0]).__name__)\n"
    )
    env = {**os.environ, registry.NATIVE_FLAG: "false", "PYTHONPATH": str(ROOT)}
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        env.pop(var, None)
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    # the map holds the selector; the flag is read when add_feed builds the feed
    assert out.stdout.split() == ["BackpackFeedSelector", "CcxtBackpackFeed"]


async def test_websocket_failures_fall_back_to_rest_polling(clean_symbols):
    async with BackpackSimulator(symbols=[PERP], seed=9, rate=300) as sim:
        # nothing listens on port 9: every websocket attempt fails; REST still reaches the simulator
        config = BackpackConfig.build(sim.config(rest={"backoff_base_s": 0.05, "backoff_cap_s": 0.2}), ws_url="wss://127.0.0.1:9")
        rec = Recorder()
        handler, feed = await run_handler(sim, rec, config=config, symbols=[STD_PERP], channels=[TRADES, L2_BOOK, TICKER],
                                          rest_fallback_after=2, poll_interval_s=0.1)
        try:
            assert await wait_until(lambda: all(rec.items[c] for c in (TRADES, L2_BOOK, TICKER)))
            sim.pause()
            await sim.drain()
            target = sim.book(PERP).last_update_id
            assert await wait_until(lambda: latest_book(rec, STD_PERP)["seq"] == target)
            truth = sim.book(PERP)
            top = (max(truth.bids), min(truth.asks))
            assert await wait_until(lambda: (rec.items[TICKER][-1].bid, rec.items[TICKER][-1].ask) == top)
        finally:
            await handler.stop_async()
        ours = latest_book(rec, STD_PERP)
    assert feed.metrics.snapshot()["counters"]["ccxt_errors_BackpackConnectionError"] >= 2
    # the REST snapshot is capped at snapshot_limit levels a side; the simulator book is shallower
    assert ours["bids"] == truth.bids and ours["asks"] == truth.asks
    assert all(isinstance(t, Trade) and isinstance(t.price, Decimal) for t in rec.items[TRADES])
    assert all(isinstance(t.bid, Decimal) and isinstance(t.ask, Decimal) for t in rec.items[TICKER])
