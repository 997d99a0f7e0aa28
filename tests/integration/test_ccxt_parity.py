"""Parity: the native BackpackFeed and CcxtBackpackFeed side by side in one FeedHandler, on one
simulator session. Both must report the same trades (id, price, amount, side, timestamp), the same
candles and best bid/ask, and books equal to the simulator's at every checkpoint.

Where ccxt's own fields differ from the wire (trade time from E, candle rows stamped with the close
time and without X/n) the ccxt feed reads the wire frame instead; docs/ccxt-audit.md lists them."""
from __future__ import annotations

import pytest

pytest.importorskip("ccxt")

from cryptofeed import FeedHandler  # noqa: E402
from cryptofeed.defines import CANDLES, L2_BOOK, TICKER, TRADES  # noqa: E402

from cryptofeed_backpack import BackpackFeed  # noqa: E402
from cryptofeed_backpack.ccxt_feed import CcxtBackpackFeed  # noqa: E402
from cryptofeed_backpack.simulator import BackpackSimulator  # noqa: E402
from cryptofeed_backpack.symbols import load_symbols  # noqa: E402
from tests.integration.feed_harness import Recorder, wait_until  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SYMBOLS = {"BTC_USDC_PERP": "BTC-USDC-PERP", "SOL_USDC": "SOL-USDC"}
CHANNELS = [TRADES, L2_BOOK, TICKER, CANDLES]
CHECKPOINTS = 3


def trade_key(t):
    return (t.symbol, t.id, t.price, t.amount, t.side, t.timestamp)


def candle_key(c):
    return (c.symbol, c.start, c.stop, c.interval, c.trades, c.open, c.close, c.high, c.low, c.volume, c.closed, c.timestamp)


def last_book(recorder, symbol):
    books = [b for b, _ in recorder.items[L2_BOOK] if b["symbol"] == symbol]
    return books[-1] if books else {}


def common_window(native: list, ccxt: list, key) -> tuple[list, list]:
    """The items both feeds had the chance to see: from the later of the two first items on."""
    if not native or not ccxt:
        return [], []
    start = max(key(native[0]), key(ccxt[0]))
    return [x for x in native if key(x) >= start], [x for x in ccxt if key(x) >= start]


async def test_native_and_ccxt_feeds_agree_on_one_simulator_session(clean_symbols):
    async with BackpackSimulator(symbols=list(SYMBOLS), seed=11, rate=300) as sim:
        config = sim.config()
        await load_symbols(config, refresh=True)
        native_rec, ccxt_rec = Recorder(), Recorder()
        kwargs = dict(symbols=list(SYMBOLS.values()), channels=CHANNELS, candle_interval="1s", candle_closed_only=False)
        native = BackpackFeed(config=config, callbacks=native_rec.callbacks(CHANNELS), **kwargs)
        ccxt = CcxtBackpackFeed(config=config, callbacks=ccxt_rec.callbacks(CHANNELS), **kwargs)
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        handler.add_feed(native)
        handler.add_feed(ccxt)
        handler.run(start_loop=False, install_signal_handlers=False)
        checked = []
        try:
            for checkpoint in range(CHECKPOINTS):
                sim.resume()
                assert await wait_until(lambda: all(
                    len([t for t, _ in rec.items[TRADES] if t.symbol == s]) >= 5 * (checkpoint + 1)
                    and any(c.symbol == s for c, _ in rec.items[CANDLES])
                    # the simulator publishes bookTicker only to subscribers: a ticker received proves the
                    # subscription is live, so the top at the pause is the last one each feed was sent
                    and any(t.symbol == s for t, _ in rec.items[TICKER])
                    for rec in (native_rec, ccxt_rec) for s in SYMBOLS.values()), timeout=30)
                sim.pause()
                await sim.drain()
                for exchange_symbol, std in SYMBOLS.items():
                    truth = sim.book(exchange_symbol)
                    assert await wait_until(lambda: all(last_book(rec, std).get("seq") == truth.last_update_id
                                                        for rec in (native_rec, ccxt_rec)))
                    for rec in (native_rec, ccxt_rec):
                        book = last_book(rec, std)
                        assert (book["bids"], book["asks"]) == (truth.bids, truth.asks), (checkpoint, std)
                    top = (max(truth.bids), min(truth.asks))
                    assert await wait_until(lambda: all(
                        [(t.bid, t.ask) for t, _ in rec.items[TICKER] if t.symbol == std][-1:] == [top]
                        for rec in (native_rec, ccxt_rec))), (top, [[(t.bid, t.ask, t.timestamp) for t, _ in rec.items[TICKER] if t.symbol == std][-3:] for rec in (native_rec, ccxt_rec)])
                    checked.append((checkpoint, std))
            last_trades = {std: sim.markets[sym].trades[-1].id for sym, std in SYMBOLS.items()}
        finally:
            await handler.stop_async()
    assert len(checked) == CHECKPOINTS * len(SYMBOLS)

    for std in SYMBOLS.values():
        native_trades = [t for t, _ in native_rec.items[TRADES] if t.symbol == std]
        ccxt_trades = [t for t, _ in ccxt_rec.items[TRADES] if t.symbol == std]
        n, c = common_window(native_trades, ccxt_trades, lambda t: int(t.id))
        assert len(n) >= 10, (std, len(native_trades), len(ccxt_trades), native_trades[:1], ccxt_trades[:1])
        assert [trade_key(t) for t in n] == [trade_key(t) for t in c], std
        assert int(n[-1].id) == last_trades[std]  # both reached the simulator's last trade
        ticker_times = {rec: [t.timestamp for t, _ in rec.items[TICKER] if t.symbol == std] for rec in (native_rec, ccxt_rec)}
        assert ticker_times[native_rec][-1] == ticker_times[ccxt_rec][-1]

    native_candles = sorted((c for c, _ in native_rec.items[CANDLES]), key=lambda c: (c.symbol, c.timestamp))
    ccxt_candles = sorted((c for c, _ in ccxt_rec.items[CANDLES]), key=lambda c: (c.symbol, c.timestamp))
    for std in SYMBOLS.values():
        n, c = common_window([x for x in native_candles if x.symbol == std], [x for x in ccxt_candles if x.symbol == std],
                             lambda x: x.timestamp)
        assert n, (std, len(native_candles), len(ccxt_candles), native_candles[-1:], ccxt_candles[-1:])
        assert [candle_key(x) for x in n] == [candle_key(x) for x in c], std
        assert all(x.stop - x.start == 1.0 and x.trades is not None for x in c)  # start and n from the frame
