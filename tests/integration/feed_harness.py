"""Run BackpackFeed inside cryptofeed's FeedHandler, in the test's event loop, against the simulator."""
from __future__ import annotations

import asyncio
import contextlib
import time
from collections import defaultdict

from cryptofeed import FeedHandler

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.symbols import load_symbols
from cryptofeed_backpack.transport.ws import BackpackWSConn
from cryptofeed_backpack.transport.ws_picows import PicowsConn

# the class of each BackpackConfig.connection.ws_client
CLIENT_CLASSES = {"picows": PicowsConn, "websockets": BackpackWSConn}


class Recorder:
    """Callbacks that keep what they receive. Books are copied: cryptofeed hands every callback the same
    mutable OrderBook object."""

    def __init__(self):
        self.items: dict[str, list] = defaultdict(list)

    def callback(self, channel: str):
        async def cb(obj, receipt):
            if hasattr(obj, "book") and hasattr(obj, "delta"):
                obj = {"symbol": obj.symbol, "delta": obj.delta, "seq": obj.sequence_number,
                       "bids": obj.book.bids.to_dict(), "asks": obj.book.asks.to_dict(), "timestamp": obj.timestamp}
            self.items[channel].append((obj, receipt))
        return cb

    def callbacks(self, channels):
        return {c: self.callback(c) for c in channels}


@contextlib.asynccontextmanager
async def running_feed(sim, symbols, channels, recorder=None, config=None, preload=True, **kwargs):
    config = config or sim.config()
    if preload:
        await load_symbols(config, refresh=True)  # async, so the simulator in this loop can answer
    recorder = recorder or Recorder()
    handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
    feed = BackpackFeed(config=config, symbols=symbols, channels=channels, callbacks=recorder.callbacks(channels), **kwargs)
    handler.add_feed(feed)
    handler.run(start_loop=False, install_signal_handlers=False)
    try:
        yield feed, recorder
    finally:
        await handler.stop_async()


def client_config(sim, ws_client: str, connection: dict | None = None, **overrides):
    """The simulator's config on the WebSocket client ``ws_client`` (with more ``connection`` options)."""
    return sim.config(connection={**(connection or {}), "ws_client": ws_client}, **overrides)


def websocket_clients(feed) -> set[str]:
    """The client names of the feed's open WebSocket connections."""
    return {name for conn in feed.open_websockets() for name, cls in CLIENT_CLASSES.items() if type(conn) is cls}


async def wait_until(predicate, timeout: float = 15.0, interval: float = 0.02) -> bool:
    """Poll until predicate() is true; returns False when the bound runs out (the assert that follows fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(interval)
    return predicate()


async def quiesce(sim, feed, symbols: list[str]) -> bool:
    """Stop the engine, flush the sockets and wait until the feed has applied the last update id."""
    sim.pause()
    await sim.drain()
    return await wait_until(lambda: all(
        feed.book_state(s) is not None and feed.book_state(s).last_id == sim.book(s).last_update_id for s in symbols))


def feed_book(feed, exchange_symbol):
    book = feed.book_state(exchange_symbol)
    return book.bids.to_dict(), book.asks.to_dict()
