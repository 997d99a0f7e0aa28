"""Conformance: real recorded payloads (ccxt's live samples in ../shared/backpack/payloads), read in
place, through ccxt's own parsers into CcxtBackpackFeed's cryptofeed objects. Without the ../shared
checkout these tests skip; tests/unit/test_ccxt_feed.py runs the same paths on our fixtures."""
from __future__ import annotations

from decimal import Decimal

import pytest

pytest.importorskip("ccxt")

from cryptofeed.defines import BUY, L2_BOOK, TRADES  # noqa: E402

from cryptofeed_backpack.ccxt_feed import CcxtBackpackFeed, resolve_market  # noqa: E402
from cryptofeed_backpack.symbols import seed_symbols  # noqa: E402
from tests.payloads import load, real_markets  # noqa: E402

# Nothing listens on port 9: any accidental network call fails loudly.
OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9", "proxies": {"direct": True}}


async def collecting_feed(channel, **kwargs):
    markets = real_markets()
    seed_symbols(markets)
    got = []

    async def cb(obj, receipt):
        got.append(obj)

    feed = CcxtBackpackFeed(config=dict(OFFLINE), symbols=["ETH-USDC-PERP"], channels=[channel], callbacks={channel: cb},
                            **kwargs)
    feed.exchange.set_markets(feed.exchange.parse_markets(markets))
    return feed, resolve_market("ETH-USDC-PERP", "ETH_USDC_PERP", feed.exchange.markets_by_id), got


async def test_recorded_ws_trade_becomes_decimal_trade(clean_symbols):
    feed, ref, got = await collecting_feed(TRADES)
    data = load("ccxt-comment__ws-trade__ETH_USDC_PERP.json")["data"]
    await feed._emit_trades(ref, [feed.exchange.parse_ws_trade(data, feed.exchange.market(ref.unified))])
    (t,) = got
    assert t.symbol == "ETH-USDC-PERP" and t.side == BUY and t.id == "10782547"
    assert (t.price, t.amount) == (Decimal("3870.25"), Decimal("0.0008")) and type(t.price) is Decimal
    assert t.timestamp == pytest.approx(1754601477.744)


async def test_recorded_rest_depth_becomes_decimal_book(clean_symbols):
    feed, ref, got = await collecting_feed(L2_BOOK, max_depth=1)
    response = load("ccxt-comment__rest-depth.json")
    book = feed.exchange.parse_order_book(response, ref.unified, 1753102447307)
    book["nonce"] = int(response["lastUpdateId"])
    await feed._emit_book(ref, book)
    (ob,) = got
    assert ob.sequence_number == 1504999670 and ob.delta is None
    # Backpack lists bids ascending; ccxt sorts best first; max_depth=1 keeps the best level only
    assert ob.book.bids.to_dict() == {Decimal("12.9"): Decimal("1.00000")}
    assert ob.book.asks.to_dict() == {Decimal("118318.3"): Decimal("0.00633")}
