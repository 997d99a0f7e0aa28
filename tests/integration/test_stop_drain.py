"""Stopping a FeedHandler loses nothing a callback was given (cryptofeed_backpack/delivery.py).

cryptofeed's ``Feed.shutdown`` hands each backend its stop sentinel before it closes the
connections. A frame still in its callbacks at that moment (an earlier callback awaiting I/O, say)
reached the backend after the sentinel, and the backend's writer, which stops at the sentinel,
never wrote it; the ccxt feed cancelled its watch loops in the middle of their callbacks. Both
feeds now end their deliveries first and only then let cryptofeed stop the backends.
"""
from __future__ import annotations

import asyncio

import pytest
from cryptofeed import FeedHandler
from cryptofeed.backends.backend import BackendCallback, BackendQueue
from cryptofeed.defines import L2_BOOK, TRADES

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.symbols import load_symbols
from tests.integration.feed_harness import wait_until

pytestmark = pytest.mark.integration

MARKETS = ["SOL_USDC", "BTC_USDC_PERP"]


class ListBackend(BackendQueue, BackendCallback):
    """A cryptofeed backend (its own queue and writer task, as Redis's or Postgres's) that stores
    into a list: what reaches the list is what a real backend would have written."""

    default_key = "trades"

    def __init__(self):
        self.numeric_type = str
        self.none_to = None
        self.running = True
        self.stored: list[dict] = []

    async def writer(self):
        while self.running:
            async with self.read_queue() as updates:
                self.stored.extend(updates)


def native_feed(config, callbacks):
    return BackpackFeed(config=config, symbols=["SOL-USDC", "BTC-USDC-PERP"], channels=[TRADES], callbacks=callbacks)


def ccxt_feed(config, callbacks):
    from cryptofeed_backpack.ccxt_feed import CcxtBackpackFeed

    return CcxtBackpackFeed(config=config, symbols=["SOL-USDC", "BTC-USDC-PERP"], channels=[TRADES], callbacks=callbacks)


@pytest.mark.parametrize("make_feed, ws_client", [(native_feed, "picows"), (native_feed, "websockets"),
                                                  (ccxt_feed, None)], ids=["native-picows", "native-websockets", "ccxt"])
async def test_stop_writes_every_trade_a_callback_was_given(clean_symbols, make_feed, ws_client):
    if make_feed is ccxt_feed:
        pytest.importorskip("ccxt")
    given: list[str] = []

    async def slow_first(trade, receipt):
        # stands for a user callback that writes somewhere first: it holds each frame for a while,
        # so the stop lands while a trade is between this callback and the backend
        given.append(trade.id)
        await asyncio.sleep(0.02)

    backend = ListBackend()
    async with BackpackSimulator(symbols=MARKETS, seed=5, rate=200) as sim:
        config = sim.config(connection={"ws_client": ws_client}) if ws_client else sim.config()
        await load_symbols(config, refresh=True)
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        handler.add_feed(make_feed(config, {TRADES: [slow_first, backend]}))
        handler.run(start_loop=False, install_signal_handlers=False)
        assert await wait_until(lambda: len(given) >= 20, timeout=30)
        await handler.stop_async()
        await asyncio.wait_for(backend.worker, timeout=10)

    assert len(given) >= 20
    assert [r["id"] for r in backend.stored] == given


class BookList(ListBackend):
    """The book counterpart of ListBackend: stores the sequence number of each book it is given."""

    async def __call__(self, book, receipt):
        await self.write(book.sequence_number)


@pytest.mark.parametrize("make_feed, ws_client, channel", [
    (native_feed, "picows", TRADES), (native_feed, "websockets", TRADES), (ccxt_feed, None, TRADES),
    (native_feed, "picows", L2_BOOK)], ids=["native-picows-trades", "native-websockets-trades", "ccxt-trades",
                                            "native-book-snapshot"])
async def test_a_stop_started_by_a_callback_completes_and_keeps_what_was_given(clean_symbols, caplog, make_feed,
                                                                               ws_client, channel):
    """``await fh.stop_async()`` inside a callback: the stop must not wait for the delivery that awaits it
    (that would hold every stop for connection.stop_drain_s and then cancel the stop itself). For L2_BOOK the first
    delivery is the REST snapshot, emitted by a background task under the delivery guard."""
    if make_feed is ccxt_feed:
        pytest.importorskip("ccxt")
    given, stopped = [], asyncio.Event()
    backend = ListBackend() if channel == TRADES else BookList()
    handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})

    async def stop_when_enough(obj, receipt):
        given.append(obj.id if channel == TRADES else obj.sequence_number)
        if len(given) == (5 if channel == TRADES else 1):
            await handler.stop_async()
            stopped.set()

    async with BackpackSimulator(symbols=MARKETS, seed=6, rate=200) as sim:
        config = sim.config(connection={"ws_client": ws_client}) if ws_client else sim.config()
        await load_symbols(config, refresh=True)
        feed = make_feed(config, {channel: [stop_when_enough, backend]}) if channel == TRADES else \
            BackpackFeed(config=config, symbols=["SOL-USDC"], channels=[L2_BOOK],
                         callbacks={L2_BOOK: [stop_when_enough, backend]})
        handler.add_feed(feed)
        handler.run(start_loop=False, install_signal_handlers=False)
        assert await wait_until(stopped.is_set, timeout=30)
        await asyncio.wait_for(backend.worker, timeout=10)

    assert "cut short" not in caplog.text
    assert len(given) == (5 if channel == TRADES else 1)  # nothing was delivered after the stop
    # Every record before the one whose callback stopped the feed is in the backend. That one reaches the
    # backend's callback only after the stop it started has stopped the backend, as in cryptofeed.
    stored = [r["id"] for r in backend.stored] if channel == TRADES else backend.stored
    assert stored == given[:-1]


async def test_a_callback_that_outlasts_stop_drain_s_is_cut_short_with_a_warning(clean_symbols, caplog):
    started, outcome = asyncio.Event(), []
    backend = ListBackend()

    async def stuck(trade, receipt):
        started.set()
        try:
            await asyncio.sleep(3600)  # a callback blocked on something that will not answer
        except asyncio.CancelledError:
            outcome.append("cut short")
            raise

    async with BackpackSimulator(symbols=MARKETS, seed=7, rate=200) as sim:
        config = sim.config(connection={"stop_drain_s": 0.2})
        await load_symbols(config, refresh=True)
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        handler.add_feed(native_feed(config, {TRADES: [stuck, backend]}))
        handler.run(start_loop=False, install_signal_handlers=False)
        assert await wait_until(started.is_set, timeout=30)
        # the stop returns: it waited 0.2 s, not the hour
        await asyncio.wait_for(handler.stop_async(), 30)
        await asyncio.wait_for(backend.worker, timeout=10)

    assert outcome == ["cut short"] and backend.stored == []
    assert "a callback was still running 0.2s into the stop: cut short" in caplog.text
