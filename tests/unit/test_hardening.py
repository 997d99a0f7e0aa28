"""No input escapes message_handler or corrupts a book (issue: never lose, duplicate or corrupt data).

Frames are the project's fixtures, mutated: NaN, Infinity, sNaN, negative and zero values, far-ahead
ids, deep nesting, arbitrary JSON and bytes. Every rejected frame is counted by reason; a synced book
only ever holds finite, positive prices with non-negative quantities and is never crossed.
Property tests run ``HYPOTHESIS_EXAMPLES`` examples each: 300 in CI; the long form is
``HYPOTHESIS_EXAMPLES=10000 .venv/bin/python -m pytest tests/unit/test_hardening.py -k never`` (docs/operations.md).
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
from decimal import Decimal

import pytest
from cryptofeed import FeedHandler
from cryptofeed.defines import CANDLES, FUNDING, INDEX, L1_BOOK, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST, TICKER, TRADES
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cryptofeed_backpack  # noqa: F401
from cryptofeed_backpack.book_sync import BookSync, Outcome
from cryptofeed_backpack.symbols import seed_symbols
from cryptofeed_backpack.wire.market import DepthMsg
from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT, DepthSnapshot
from tests import fixtures

EXAMPLES = int(os.environ.get("HYPOTHESIS_EXAMPLES", "300"))
CHANNELS = [TRADES, L2_BOOK, TICKER, L1_BOOK, FUNDING, INDEX, OPEN_INTEREST, LIQUIDATIONS, CANDLES]
OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"}
WS_FIXTURES = sorted(p.name for p in fixtures.FIXTURES.glob("ws_*.json"))
BAD_NUMBERS = ["NaN", "nan", "sNaN", "Infinity", "-Infinity", "-1", "0", "1e999999", "-0.0"]


def build_feed():
    seed_symbols(fixtures.markets())
    fh = FeedHandler(config={"log": {"disabled": True}, "backpack": OFFLINE})
    seen: list = []

    async def record(obj, receipt):
        seen.append(obj)
    fh.add_feed("BACKPACK", symbols=["SUI-USDC", "SUI-USDC-PERP"], channels=CHANNELS,
                callbacks={c: record for c in CHANNELS}, candle_interval="1m")
    return fh.feeds[0], seen


def synced(feed):
    """Seed SUI_USDC's book from the REST fixture so deltas apply."""
    feed.book_channel.book_for("SUI_USDC", "SUI-USDC").on_snapshot(DEPTH_SNAPSHOT.decode(fixtures.raw("rest_depth__snapshot.json")))
    return feed.book_state("SUI_USDC")


def assert_book_sound(book) -> None:
    if book is None or not book.synced:
        return
    for side in (book.bids, book.asks):
        for price in side:
            qty = side[price]
            assert price.is_finite() and price > 0 and qty.is_finite() and qty >= 0
    if len(book.bids) and len(book.asks):
        assert book.bids.index(0)[0] < book.asks.index(0)[0]


async def push(feed, frames) -> None:
    for frame in frames:
        await feed.message_handler(frame, None, 1.0)
    await feed.book_channel.shutdown()
    await feed.trade_channel.shutdown()
    await asyncio.sleep(0)


def mutate(frame: dict, key: str, value) -> bytes:
    data = dict(frame["data"])
    data[key] = value
    return json.dumps({**frame, "data": data}).encode()


@pytest.fixture
def feed(clean_symbols):
    return build_feed()


FIELDS = [
    ("ws_trade__taker_buy.json", "p", "price"), ("ws_trade__taker_buy.json", "q", "amount"),
    ("ws_bookTicker__both_sides.json", "a", "price"), ("ws_bookTicker__both_sides.json", "B", "amount"),
    ("ws_kline__closed.json", "c", "price"), ("ws_kline__closed.json", "v", "amount"), ("ws_markPrice__perp.json", "p", "price"),
    ("ws_markPrice__perp.json", "f", "signed"), ("ws_openInterest__perp.json", "o", "amount"),
    ("ws_liquidation__symbol_stream.json", "q", "amount"),
]
# zero is a valid quantity and zero or negative a valid funding rate: those pairs are not "bad"
VALID_FOR = {"amount": {"0", "-0.0"}, "signed": {"0", "-0.0", "-1"}, "price": set()}
BAD_CASES = [(n, k, bad) for n, k, kind in FIELDS for bad in BAD_NUMBERS if bad not in VALID_FOR[kind]]


@pytest.mark.parametrize("name,key,bad", BAD_CASES)
def test_bad_numbers_are_rejected_and_counted(feed, name, key, bad):
    f, seen = feed
    asyncio.run(push(f, [mutate(fixtures.load(name), key, bad)]))
    assert seen == [] and f.metrics.counters["dropped_undecodable"] == 1


@pytest.mark.parametrize("bad", BAD_NUMBERS[:6])
def test_bad_depth_levels_never_reach_the_book(feed, bad):
    f, seen = feed
    book = synced(f)
    before = dict(book.bids), dict(book.asks)
    delta = fixtures.load("ws_depth__delta.json")
    asyncio.run(push(f, [mutate(delta, "b", [[bad, "1.0"]]), mutate(delta, "a", [["3.43", bad]])]))
    assert (dict(book.bids), dict(book.asks)) == before and seen == []
    assert f.metrics.counters["dropped_undecodable"] == 2


def test_an_open_kline_is_dropped_unread_under_candle_closed_only(feed):
    # KlineMsg defers its checks to candle(): an update cryptofeed's default drops is never checked,
    # and never delivered either way
    f, seen = feed
    asyncio.run(push(f, [mutate(fixtures.load("ws_kline__open.json"), "c", "NaN"), fixtures.raw("ws_kline__open.json")]))
    assert seen == [] and f.metrics.counters.get("dropped_messages", 0) == 0


def test_a_bad_kline_time_a_deep_frame_and_a_raising_callback_do_not_escape(feed):
    f, seen = feed
    kline = fixtures.load("ws_kline__closed.json")
    deep = b"[" * 1500 + b"]" * 1500
    asyncio.run(push(f, [mutate(kline, "t", "yesterday"), deep, b"\xff\xfe", b"", b"null", b"{}"]))
    assert f.metrics.counters["dropped_messages"] == 6 and seen == []

    async def boom(obj, receipt):
        raise RuntimeError("a bug in the user's callback")
    f.callbacks[TRADES] = [boom]
    asyncio.run(push(f, [fixtures.raw("ws_trade__taker_buy.json")]))
    assert f.metrics.counters["dropped_handler_error"] == 1


def test_account_event_for_an_unknown_market_is_dropped(clean_symbols):
    from tests.unit.test_feed_frames import PRIVATE, RFC_PUBLIC, RFC_SECRET, make_feed

    keys = {"key_id": base64.b64encode(RFC_PUBLIC).decode(), "key_secret": base64.b64encode(RFC_SECRET).decode()}
    f, got = make_feed(PRIVATE, ["SUI-USDC"], section=keys)
    frame = fixtures.load("ws_orderUpdate__accepted_limit.json")
    asyncio.run(push(f, [mutate(frame, "s", "NOPE_USDC"), mutate(frame, "q", "NaN")]))
    assert all(v == [] for v in got.values())
    assert f.metrics.counters["dropped_unknown_symbol"] == 1 and f.metrics.counters["dropped_undecodable"] == 1


def test_far_ahead_u_does_not_freeze_the_book():
    book = BookSync("X", lambda: (None, {}, {}))
    book.on_snapshot(DepthSnapshot(asks=[(Decimal(11), Decimal(1))], bids=[(Decimal(10), Decimal(1))], lastUpdateId=100))
    far = DepthMsg(symbol="X", first_id=101, last_id=10**12, bids=[(Decimal(9), Decimal(1))])
    assert book.on_delta(far) is Outcome.REJECTED and not book.synced
    nxt = DepthMsg(symbol="X", first_id=101, last_id=101, bids=[(Decimal(10), Decimal(2))])
    assert book.on_delta(nxt) is Outcome.BUFFERED  # waits for a fresh snapshot, not frozen as "stale"


def test_a_run_of_stale_deltas_resyncs():
    book = BookSync("X", lambda: (None, {}, {}))
    book.on_snapshot(DepthSnapshot(asks=[(Decimal(11), Decimal(1))], bids=[(Decimal(10), Decimal(1))], lastUpdateId=1000))
    assert book.on_delta(DepthMsg(symbol="X", first_id=1001, last_id=1001)) is Outcome.APPLIED  # the stream continued it
    outcomes = [book.on_delta(DepthMsg(symbol="X", first_id=i, last_id=i)) for i in range(1, 60)]
    assert outcomes[:49] == [Outcome.STALE] * 49 and outcomes[49] is Outcome.GAP


def test_a_crossing_delta_resyncs():
    book = BookSync("X", lambda: (None, {}, {}))
    book.on_snapshot(DepthSnapshot(asks=[(Decimal(11), Decimal(1))], bids=[(Decimal(10), Decimal(1))], lastUpdateId=5))
    assert book.on_delta(DepthMsg(symbol="X", first_id=6, last_id=6, bids=[(Decimal(12), Decimal(1))])) is Outcome.GAP
    assert not book.synced and book.gaps == 1


# ---- properties ---------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
    max_leaves=20)
numberish = st.sampled_from(BAD_NUMBERS + ["1", "3.4200", "1e-30", "", "x"]) | st.integers() | st.floats(allow_nan=True)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@SETTINGS
@given(name=st.sampled_from(WS_FIXTURES), key=st.text(min_size=1, max_size=2), value=json_values | numberish)
def test_mutated_fixtures_never_escape_and_never_corrupt_the_book(clean_symbols, name, key, value):
    f, _ = build_feed()
    book = synced(f)
    frame = fixtures.load(name)
    if isinstance(frame.get("data"), dict):
        mutated = mutate(frame, key, value)
    else:
        mutated = json.dumps({**frame, key: value}, default=str).encode()
    asyncio.run(push(f, [mutated, fixtures.raw("ws_depth__delta.json")]))
    assert_book_sound(book)


@SETTINGS
@given(data=json_values)
def test_arbitrary_json_never_escapes(clean_symbols, data):
    f, _ = build_feed()
    book = synced(f)
    asyncio.run(push(f, [json.dumps(data).encode(), json.dumps({"stream": "depth.SUI_USDC", "data": data}).encode()]))
    assert_book_sound(book)


@SETTINGS
@given(blob=st.binary(max_size=200))
def test_arbitrary_bytes_never_escape(clean_symbols, blob):
    f, _ = build_feed()
    asyncio.run(push(f, [blob]))
    assert f.metrics.counters["dropped_messages"] >= 1 or blob.strip() == b""
