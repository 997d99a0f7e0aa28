"""Conformance: every real public payload in ../shared/backpack/payloads goes through the feed's
message_handler (feed built by name through FeedHandler, symbols seeded from real market objects)
and must come out as the right cryptofeed object with exact Decimal values and float-second
timestamps. The payloads are read in place; without the ../shared checkout these tests skip.
tests/unit/test_feed_frames.py covers the same paths on the project's own fixtures."""
from __future__ import annotations

import asyncio
import gc
import json
from decimal import Decimal as D

import pytest
from cryptofeed import FeedHandler
from cryptofeed.defines import (ASK, BID, BUY, CANDLES, FILLED, FUNDING, INDEX, L1_BOOK, L2_BOOK, LIQUIDATIONS,
                                OPEN_INTEREST, SELL, TICKER, TRADES)

import cryptofeed_backpack  # noqa: F401  (registers BACKPACK)
from cryptofeed_backpack.wire.market import market_frame_decoder
from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT
from cryptofeed_backpack.symbols import seed_symbols
from tests import payloads

ALL_PUBLIC = [TRADES, L2_BOOK, TICKER, L1_BOOK, FUNDING, INDEX, OPEN_INTEREST, LIQUIDATIONS, CANDLES]
SYMBOLS = ["ETH-USDC", "ETH-USDC-PERP", "BTC-USDC-PERP", "SOL-USDC", "SOL-USD", "SOL-USDC-PERP"]


def seed_real_markets():
    markets = payloads.real_markets()
    spot, perp = markets[0], markets[1]
    # Captures exist for these streams' symbols but not their market objects: same real shape, renamed.
    markets += [payloads.market_like(perp, "BTC_USDC_PERP", "BTC"), payloads.market_like(spot, "SOL_USDC", "SOL"),
                payloads.market_like(spot, "SOL_USD", "SOL", quote="USD")]
    seed_symbols(markets)


def make_feed(clean, candle_interval="1m", **kwargs):
    seed_real_markets()
    fh = FeedHandler(config={"log": {"disabled": True},
                             "backpack": {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"}})
    got: dict[str, list] = {c: [] for c in ALL_PUBLIC}

    def recorder(channel):
        async def cb(obj, receipt):
            got[channel].append(obj)
        return cb

    fh.add_feed("BACKPACK", symbols=SYMBOLS, channels=ALL_PUBLIC, candle_interval=candle_interval,
                callbacks={c: recorder(c) for c in ALL_PUBLIC}, **kwargs)
    return fh.feeds[0], got


def envelope(name: str, stream_type: str) -> bytes:
    """Bare data captures get the {stream, data} envelope the wire puts around them."""
    data = payloads.load(name)
    if "stream" in data:
        return payloads.raw(name)
    if stream_type == "kline":
        stream = f"kline.1m.{data['s']}"
    else:
        stream = f"{stream_type}.{data['s']}"
    return json.dumps({"stream": stream, "data": data}).encode()


def run(feed, frame, receipt=1700000000.5):
    asyncio.run(feed.message_handler(frame, None, receipt))


@pytest.fixture
def feed(clean_symbols):
    return make_feed(clean_symbols)


def test_feed_is_built_by_name_through_feedhandler(feed):
    f, _ = feed
    assert type(f).__name__ == "BackpackFeed" and f.id == "BACKPACK"
    assert "trade.ETH_USDC_PERP" in f.public_streams()
    assert "kline.1m.SOL_USD" in f.public_streams()


@pytest.mark.parametrize("name, symbol, side, amount, price, trade_id, ts", [
    ("ccxt-comment__ws-trade__ETH_USDC_PERP.json", "ETH-USDC-PERP", BUY, "0.0008", "3870.25", "10782547", 1754601477.744),
    ("docs-example__ws-trade__SOL_USDC.json", "SOL-USDC", SELL, "0.122", "18.68", "12345", 1694688638.089),
])
def test_trades(feed, name, symbol, side, amount, price, trade_id, ts):
    f, got = feed
    run(f, envelope(name, "trade"))
    (t,) = got[TRADES]
    assert (t.exchange, t.symbol, t.side, t.id) == ("BACKPACK", symbol, side, trade_id)
    assert type(t.amount) is D and t.amount == D(amount)
    assert type(t.price) is D and t.price == D(price)
    assert t.timestamp == pytest.approx(ts, abs=1e-6)


@pytest.mark.parametrize("name, symbol, bid, bid_size, ask, ask_size, ts", [
    ("ccxt-comment__ws-bookTicker__ETH_USDC.json", "ETH-USDC", "3667.49", "0.0020", "3667.50", "0.4087", 1754517402.449064),
    ("docs-example__ws-bookTicker__SOL_USDC.json", "SOL-USDC", "18.67", "2.000", "18.70", "1.000", 1694687965.940999),
])
def test_ticker_and_l1_from_book_ticker(feed, name, symbol, bid, bid_size, ask, ask_size, ts):
    f, got = feed
    run(f, envelope(name, "bookTicker"))
    (tick,), (l1,) = got[TICKER], got[L1_BOOK]
    assert tick.symbol == l1.symbol == symbol
    assert (tick.bid, tick.ask) == (D(bid), D(ask)) and type(tick.bid) is D
    assert (l1.bid_price, l1.bid_size, l1.ask_price, l1.ask_size) == (D(bid), D(bid_size), D(ask), D(ask_size))
    assert all(type(v) is D for v in (l1.bid_price, l1.bid_size, l1.ask_price, l1.ask_size))
    assert tick.timestamp == pytest.approx(ts, abs=1e-6) and l1.timestamp == pytest.approx(ts, abs=1e-6)


def test_book_ticker_with_an_empty_side(feed):
    f, got = feed
    frame = {"stream": "bookTicker.SOL_USDC",
             "data": {**payloads.load("docs-example__ws-bookTicker__SOL_USDC.json"), "a": None, "A": None}}
    run(f, json.dumps(frame))
    (tick,), (l1,) = got[TICKER], got[L1_BOOK]
    assert tick.ask is None and l1.ask_size is None and l1.bid_price == D("18.67")


def test_kline_open_candle_with_closed_only_off(clean_symbols):
    f, got = make_feed(clean_symbols, candle_interval="2h", candle_closed_only=False)
    run(f, payloads.raw("ccxt-comment__ws-kline-2h__ETH_USDC.json"))
    (c,) = got[CANDLES]
    assert (c.symbol, c.interval, c.closed, c.trades) == ("ETH-USDC", "2h", False, 255)
    assert c.start == 1754517600.0 and c.stop == 1754524800.0  # 2025-08-06T22:00 / 2025-08-07T00:00 UTC
    assert (c.open, c.high, c.low, c.close, c.volume) == (D("3670.15"), D("3681.37"), D("3667.65"), D("3680.52"), D("62.2621"))
    assert all(type(v) is D for v in (c.open, c.high, c.low, c.close, c.volume))
    assert c.timestamp == pytest.approx(1754519557.526056, abs=1e-6)


def test_kline_open_candle_is_skipped_when_closed_only(clean_symbols):
    f, got = make_feed(clean_symbols, candle_interval="2h")
    run(f, payloads.raw("ccxt-comment__ws-kline-2h__ETH_USDC.json"))
    assert got[CANDLES] == []
    closed = payloads.load("ccxt-comment__ws-kline-2h__ETH_USDC.json")
    closed["data"]["X"] = True
    run(f, json.dumps(closed))
    assert len(got[CANDLES]) == 1 and got[CANDLES][0].closed is True


def test_docs_kline(feed):
    f, got = feed
    frame = json.loads(envelope("docs-example__ws-kline__SOL_USD.json", "kline"))
    frame["data"]["X"] = True  # the docs example is an open candle; closed_only is the default
    run(f, json.dumps(frame))
    (c,) = got[CANDLES]
    assert c.symbol == "SOL-USD" and c.start == 1726056000.0 and c.stop == 1726056060.0
    assert c.close == D("19.25") and c.trades == 93828


@pytest.mark.parametrize("name, symbol, mark, rate, index, next_funding, ts", [
    ("docs-example__ws-markPrice__SOL_USDC.json", "SOL-USDC", "18.70", "1.70", "19.70", 1694687965.941, 1694687965.940999),
    ("bpx-api-client-test__ws-markPrice-data__SOL_USDC_PERP.json", "SOL-USDC-PERP", "173.35998175",
     "-0.0000039641039274236048482914", "173.44031179", 1747296000.0, 1747291031.910025),
])
def test_funding_and_index_from_one_mark_price_frame(feed, name, symbol, mark, rate, index, next_funding, ts):
    f, got = feed
    run(f, envelope(name, "markPrice"))
    (fu,), (ix,) = got[FUNDING], got[INDEX]
    assert fu.symbol == ix.symbol == symbol
    assert fu.mark_price == D(mark) and fu.rate == D(rate) and type(fu.rate) is D
    assert fu.next_funding_time == pytest.approx(next_funding, abs=1e-6)
    assert fu.timestamp == pytest.approx(ts, abs=1e-6)
    assert ix.price == D(index) and type(ix.price) is D and ix.timestamp == pytest.approx(ts, abs=1e-6)


def test_open_interest(feed):
    f, got = feed
    run(f, envelope("docs-example__ws-openInterest__SOL_USDC_PERP.json", "openInterest"))
    (oi,) = got[OPEN_INTEREST]
    assert oi.symbol == "SOL-USDC-PERP" and oi.open_interest == D("100") and type(oi.open_interest) is D
    assert oi.timestamp == pytest.approx(1694687965.941, abs=1e-6)


@pytest.mark.parametrize("stream", ["liquidation.SOL_USDC", "liquidation"])
def test_liquidation_in_both_stream_forms(feed, stream):
    f, got = feed
    data = payloads.load("docs-example__ws-liquidation__SOL_USDC.json")
    run(f, json.dumps({"stream": stream, "data": data}))
    (liq,) = got[LIQUIDATIONS]
    assert (liq.symbol, liq.side, liq.status) == ("SOL-USDC", BUY, FILLED)
    assert liq.quantity == D("10") and liq.price == D("18.70") and type(liq.price) is D
    # E, not the docs' placeholder T=567
    assert liq.timestamp == pytest.approx(1694688638.091, abs=1e-6)


def seed_book(f, exchange_symbol, last_update_id):
    """Sync the book from the docs' REST depth example, its lastUpdateId set to bridge the delta."""
    body = payloads.load("docs-example__rest-depth.json")
    body["lastUpdateId"] = str(last_update_id)
    std = f.exchange_symbol_mapping[exchange_symbol]
    f.book_channel.book_for(exchange_symbol, std).on_snapshot(DEPTH_SNAPSHOT.decode(json.dumps(body)))


def test_depth_delta_applies_on_a_synced_book(feed):
    f, got = feed
    seed_book(f, "SOL_USDC", 94978270)
    run(f, envelope("docs-example__ws-depth__SOL_USDC.json", "depth"))
    (book,) = got[L2_BOOK]
    assert book.symbol == "SOL-USDC" and book.sequence_number == 94978271
    assert book.delta == {BID: [(D("18.67"), D("0.832")), (D("18.68"), D("0.000"))], ASK: [(D("18.70"), D("0.000"))]}
    bids = book.book.bids.to_dict()
    assert bids == {D("20.5"): D("499.555"), D("20.12"): D("255.123"), D("18.67"): D("0.832")}
    assert book.timestamp == pytest.approx(1694687965.940999, abs=1e-6)


def test_depth_capture_with_a_zero_quantity_removes_the_level(feed):
    f, got = feed
    frame = payloads.load("ccxt-comment__ws-depth-data__BTC_USDC_PERP.json")
    body = {"asks": [["117360.0", "0.5"]], "bids": [["117350.0", "1.0"], ["117357.0", "0.2"]],
            "lastUpdateId": str(frame["U"] - 1), "timestamp": 1759338824895000}
    f.book_channel.book_for("BTC_USDC_PERP", "BTC-USDC-PERP").on_snapshot(DEPTH_SNAPSHOT.decode(json.dumps(body)))
    run(f, json.dumps({"stream": "depth.BTC_USDC_PERP", "data": frame}))
    (book,) = got[L2_BOOK]
    assert book.book.bids.to_dict() == {D("117350.0"): D("1.0")}
    assert book.sequence_number == 1662976171


def test_empty_depth_capture_advances_the_sequence(feed):
    f, got = feed
    seed_book(f, "ETH_USDC", 1345937435)
    run(f, payloads.raw("ccxt-comment__ws-depth-empty__ETH_USDC.json"))
    (book,) = got[L2_BOOK]
    assert book.sequence_number == 1345937436 and book.delta == {BID: [], ASK: []}


def test_error_frame_is_counted_and_dropped_without_raising(feed, caplog):
    f, got = feed
    run(f, payloads.raw("ccxt-comment__ws-error-4006.json"))
    run(f, payloads.raw("ccxt-comment__ws-error-4006.json"))
    assert f.metrics.counters["ws_error_4006"] == 2
    assert f.metrics.counters["dropped_messages"] == 2
    assert sum("4006" in r.getMessage() for r in caplog.records) == 1  # logged once
    assert all(not v for v in got.values())


@pytest.mark.parametrize("frame, reason", [
    (b"{not json", "dropped_undecodable"),
    (b'{"stream":"trade.ETH_USDC","data":{"e":"trade","s":"ETH_USDC"}}', "dropped_undecodable"),
    (b'{"stream":"surprise.ETH_USDC","data":{"e":"surprise","s":"ETH_USDC"}}', "dropped_unknown_stream"),
    (b'{"stream":"trade.NOPE_USDC","data":{"e":"trade","E":1,"s":"NOPE_USDC","p":"1","q":"1","b":"1","a":"2","t":1,"T":1,"m":true}}',
     "dropped_unknown_symbol"),
])
def test_bad_frames_are_dropped_and_counted(feed, frame, reason):
    f, got = feed
    run(f, frame)
    assert f.metrics.counters[reason] == 1
    assert all(not v for v in got.values())


@pytest.mark.parametrize("book_ticker_sizes", [True, False])
@pytest.mark.parametrize("name, stream_type", [
    ("docs-example__ws-trade__SOL_USDC.json", "trade"),
    ("ccxt-comment__ws-trade__ETH_USDC_PERP.json", "trade"),
    ("docs-example__ws-bookTicker__SOL_USDC.json", "bookTicker"),
    ("ccxt-comment__ws-depth-data__BTC_USDC_PERP.json", "depth"),
    ("docs-example__ws-depth__SOL_USDC.json", "depth"),
    ("ccxt-comment__ws-kline-2h__ETH_USDC.json", "kline"),
    ("docs-example__ws-markPrice__SOL_USDC.json", "markPrice"),
    ("docs-example__ws-openInterest__SOL_USDC_PERP.json", "openInterest"),
    ("docs-example__ws-liquidation__SOL_USDC.json", "liquidation"),
])
def test_a_decoded_market_frame_is_nothing_for_the_cycle_collector(name, stream_type, book_ticker_sizes):
    """The hot Structs are gc=False (docs/performance.md, fourth pass): what a real frame decodes into is
    never tracked, so the collector does no work per frame. msgspec untracks a Struct of scalars by
    itself; the depth frame, with its lists, and the frame around it are the ones gc=False keeps out."""
    captured = payloads.load(name)
    frame = market_frame_decoder(book_ticker_sizes).decode(envelope(name, stream_type))
    assert frame.data.symbol == captured.get("data", captured)["s"]
    assert not gc.is_tracked(frame) and not gc.is_tracked(frame.data)
