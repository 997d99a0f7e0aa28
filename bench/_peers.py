"""The four handlers the bench compares, each behind one small interface.

``seed(bids, asks)`` resets the book to a snapshot (not timed), ``run(frames)`` pushes raw frame
texts through the handler as its own connection would and returns the seconds taken, ``book()``
returns the resulting book as Decimal dicts so it can be checked against the reference.

- native:  BackpackFeed.message_handler (this project), no-op async callbacks.
- binance: cryptofeed 2.5's Binance.message_handler on the equivalent Binance frames.
- ccxt:    ccxt.pro backpack: json.loads (what ccxt's ws client does) + exchange.handle_message.
- floor:   one msgspec decode into typed Structs with Decimal fields, plus the book set.
"""
from __future__ import annotations

import asyncio
import json
import time
from decimal import Decimal
from typing import Optional

import msgspec
from cryptofeed.defines import CANDLES, L1_BOOK, L2_BOOK, TICKER, TRADES
from cryptofeed.symbols import Symbols
from cryptofeed.types import OrderBook

from _frames import BN_STD, BP_STD, BP_SYMBOL, START_ID, bn_exchange_info

CHANNELS = (TRADES, L2_BOOK, TICKER, CANDLES)
_LOOP = asyncio.new_event_loop()


async def _noop(obj, receipt):
    pass


def _callbacks(channels):
    return {c: _noop for c in channels}


def bp_market_objects(symbols) -> list[dict]:
    """/api/v1/markets elements in the simulator's recorded shape."""
    from cryptofeed_backpack.simulator.markets import market_object, select_specs

    return [market_object(s) for s in select_specs(list(symbols))]


def _run_async(handler, frames) -> float:
    async def loop():
        start = time.perf_counter()
        for f in frames:
            await handler(f, None, 1.0)
        return time.perf_counter() - start
    return _LOOP.run_until_complete(loop())


class Native:
    name = "this project"

    def __init__(self, channels=CHANNELS, feed_class=None, **feed_kwargs):
        from cryptofeed_backpack import BackpackFeed
        from cryptofeed_backpack.symbols import seed_symbols

        seed_symbols(bp_market_objects([BP_SYMBOL]))
        self.feed = (feed_class or BackpackFeed)(config={"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"},
                                                 symbols=[BP_STD], channels=list(channels), callbacks=_callbacks(channels),
                                                 **feed_kwargs)

    def seed(self, bids, asks) -> None:
        from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT

        # a repeat replays the same trade ids: forget the last id delivered, or every repeat after the
        # first would time the duplicate-drop path instead of the delivery path
        self.feed.trade_channel.markets.clear()
        book = self.feed.book_channel.book_for(BP_SYMBOL, BP_STD)
        book.reset()
        body = json.dumps({"asks": asks, "bids": bids, "lastUpdateId": str(START_ID)})
        book.on_snapshot(DEPTH_SNAPSHOT.decode(body))

    def run(self, frames) -> float:
        return _run_async(self.feed.message_handler, frames)

    def book(self):
        b = self.feed.book_state(BP_SYMBOL)
        return dict(b.bids), dict(b.asks)

    def dropped(self) -> int:
        return self.feed.metrics.counters.get("dropped_messages", 0)


class Binance:
    name = "cryptofeed Binance"

    def __init__(self):
        from cryptofeed.exchanges import Binance as BinanceFeed

        syms, info = BinanceFeed._parse_symbol_data(bn_exchange_info())
        Symbols.set(BinanceFeed.id, syms, info)
        self.feed = BinanceFeed(symbols=[BN_STD], channels=list(CHANNELS), callbacks=_callbacks(CHANNELS))

    def seed(self, bids, asks) -> None:
        # What Binance._snapshot leaves behind, without the HTTP request.
        self.feed._l2_book[BN_STD] = OrderBook(self.feed.id, BN_STD, max_depth=self.feed.max_depth,
                                               bids={Decimal(p): Decimal(q) for p, q in bids},
                                               asks={Decimal(p): Decimal(q) for p, q in asks})
        self.feed.last_update_id[BN_STD] = START_ID

    def run(self, frames) -> float:
        return _run_async(self.feed.message_handler, frames)

    def book(self):
        ob = self.feed._l2_book[BN_STD].book
        return dict(ob.bids.to_dict()), dict(ob.asks.to_dict())


class Ccxt:
    name = "ccxt.pro backpack"

    def __init__(self):
        import ccxt.pro

        self.exchange = ccxt.pro.backpack({"newUpdates": True})
        self.exchange.set_markets(self.exchange.parse_markets(bp_market_objects([BP_SYMBOL])))
        self.symbol = self.exchange.market(BP_SYMBOL)["symbol"]
        # A real ccxt ws client object (never connected): handle_message resolves futures on it.
        async def make_client():
            return self.exchange.client("wss://127.0.0.1:9")
        self.client = _LOOP.run_until_complete(make_client())

    def seed(self, bids, asks) -> None:
        self.exchange.orderbooks[self.symbol] = self.exchange.order_book(
            {"bids": [[float(p), float(q)] for p, q in bids], "asks": [[float(p), float(q)] for p, q in asks], "nonce": START_ID})

    def run(self, frames) -> float:
        handle, loads, client = self.exchange.handle_message, json.loads, self.client
        start = time.perf_counter()
        for f in frames:
            handle(client, loads(f))
        return time.perf_counter() - start

    def close(self) -> None:
        _LOOP.run_until_complete(self.exchange.close())

    def book(self):
        ob = self.exchange.orderbooks[self.symbol]
        return ({Decimal(repr(p)): Decimal(repr(q)) for p, q in ob["bids"]},
                {Decimal(repr(p)): Decimal(repr(q)) for p, q in ob["asks"]})


# ---- floor -----------------------------------------------------------------------------------

class _Trade(msgspec.Struct):
    s: str
    p: Decimal
    q: Decimal
    t: int
    T: int
    m: bool


class _Ticker(msgspec.Struct):
    s: str
    a: Decimal
    A: Decimal
    b: Decimal
    B: Decimal
    T: int


class _Kline(msgspec.Struct):
    s: str
    t: str
    T: str
    o: Decimal
    c: Decimal
    h: Decimal
    l: Decimal  # noqa: E741 (the wire key)
    v: Decimal
    n: int
    X: bool


class _Depth(msgspec.Struct):
    s: str
    U: int
    u: int
    a: list[tuple[Decimal, Decimal]]
    b: list[tuple[Decimal, Decimal]]


def _frame_type(data):
    return msgspec.defstruct(f"{data.__name__}Frame", [("stream", str), ("data", data)])


FLOOR_DECODERS = {kind: msgspec.json.Decoder(_frame_type(t)) for kind, t in
                  (("trade", _Trade), ("bookTicker", _Ticker), ("kline", _Kline), ("depth", _Depth))}


class Floor:
    """The least any Decimal-keyed handler can do: decode once, set the levels."""
    name = "floor"

    def __init__(self):
        self.ob: Optional[OrderBook] = None

    def seed(self, bids, asks) -> None:
        self.ob = OrderBook("FLOOR", BP_STD, bids={Decimal(p): Decimal(q) for p, q in bids},
                            asks={Decimal(p): Decimal(q) for p, q in asks})

    def run(self, frames, kind: str) -> float:
        decode = FLOOR_DECODERS[kind].decode
        if kind != "depth":
            start = time.perf_counter()
            for f in frames:
                decode(f)
            return time.perf_counter() - start
        bids, asks = self.ob.book.bids, self.ob.book.asks
        start = time.perf_counter()
        for f in frames:
            d = decode(f).data
            for side, levels in ((bids, d.b), (asks, d.a)):
                for p, q in levels:
                    if q:
                        side[p] = q
                    elif p in side:
                        del side[p]
        return time.perf_counter() - start

    def book(self):
        return dict(self.ob.book.bids.to_dict()), dict(self.ob.book.asks.to_dict())
