"""feed/trades.py: every trade exactly once and in id order, holes filled from REST, losses reported.

The REST side is an in-memory exchange with Backpack's paging rules (newest first, ``offset``
counted back from the newest), so the channel's paging and bookkeeping are tested, not a mock's.
"""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from cryptofeed_backpack.config import BackpackConfig
from cryptofeed_backpack.delivery import DeliveryGuard
from cryptofeed_backpack.errors import BackpackServerError
from cryptofeed_backpack.feed.trades import TradeChannel, is_backfilled
from cryptofeed_backpack.observability import Metrics
from cryptofeed_backpack.wire.market import TradeMsg
from cryptofeed_backpack.wire.market_rest import RestTrade

SYM, STD = "SOL_USDC", "SOL-USDC"


def rest_trade(i: int) -> RestTrade:
    return RestTrade(id=i, price=Decimal("150") + i, quantity=Decimal("1"), timestamp=1_700_000_000_000 + i,
                     isBuyerMaker=bool(i % 2))


def live(i: int) -> TradeMsg:
    return TradeMsg(symbol=SYM, price=Decimal("150") + i, quantity=Decimal("1"), trade_id=i,
                    engine_time_us=1_700_000_000_000_000 + i, buyer_is_maker=bool(i % 2))


class Exchange:
    """Published trades and Backpack's two trade endpoints over them."""

    def __init__(self, last_id: int = 0):
        self.ids = list(range(1, last_id + 1))
        self.down = False
        self.calls: list[tuple] = []

    def publish(self, *ids: int) -> None:
        self.ids.extend(ids)

    def _newest_first(self) -> list[int]:
        return sorted(self.ids, reverse=True)

    async def trades(self, symbol, limit):
        self.calls.append(("trades", limit))
        if self.down:
            raise BackpackServerError.from_reply(503, None, "down")
        return [rest_trade(i) for i in self._newest_first()[:limit]]

    async def trades_history(self, symbol, limit, offset):
        self.calls.append(("history", limit, offset))
        if self.down:
            raise BackpackServerError.from_reply(503, None, "down")
        return [rest_trade(i) for i in self._newest_first()[offset:offset + limit]]


class Feed:
    id = "BACKPACK"

    def __init__(self, exchange: Exchange, **backfill):
        self.metrics = Metrics()
        self.backpack_config = BackpackConfig(trade_backfill=backfill, rest={"backoff_base_s": 0.001, "backoff_cap_s": 0.002})
        self.exchange = exchange
        self.delivered = []
        self.delivery_guard = DeliveryGuard()

    def backpack_rest(self):
        return self.exchange

    async def deliver(self, channel, trade, timestamp):
        self.delivered.append(trade)


async def push(channel: TradeChannel, msg: TradeMsg) -> None:
    """What BackpackFeed.message_handler does with a live trade: the channel's delivery, if any, awaited."""
    delivery = channel.on_trade(msg, STD, 1.0)
    if delivery is not None:
        await delivery


async def settle(channel: TradeChannel) -> None:
    for _ in range(200):
        tasks = [s.task for s in channel.markets.values() if s.task is not None]
        if not tasks:
            return
        await asyncio.gather(*tasks, return_exceptions=True)
    raise AssertionError("backfill never settled")


def ids(feed: Feed) -> list[int]:
    return [int(t.id) for t in feed.delivered]


async def test_in_order_trades_pass_and_duplicates_are_dropped():
    feed = Feed(Exchange())
    channel = TradeChannel(feed)
    for i in (1, 2, 2, 3, 1):
        await push(channel, live(i))
    assert ids(feed) == [1, 2, 3]
    assert feed.metrics.counters["trade_duplicates"] == 2
    assert feed.exchange.calls == []  # no hole, no REST call
    assert feed.delivered[0].price == Decimal("151") and feed.delivered[0].raw is None


async def test_a_hole_is_filled_from_rest_before_later_trades():
    exchange = Exchange(last_id=9)
    feed = Feed(exchange)
    channel = TradeChannel(feed)
    for i in (1, 2, 6):
        await push(channel, live(i))
    await push(channel, live(7))  # arrives while the hole 3..5 is being filled
    await settle(channel)
    await push(channel, live(8))
    assert ids(feed) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [is_backfilled(t) for t in feed.delivered] == [False, False, True, True, True, False, False, False]
    assert feed.delivered[2].timestamp == pytest.approx(1_700_000_000.003) and feed.delivered[2].raw["trade"]["id"] == 3
    assert feed.metrics.counters["trades_backfilled"] == 3 and feed.metrics.counters["trades_lost"] == 0


async def test_a_reconnect_fetches_what_was_published_while_down():
    exchange = Exchange(last_id=3)
    feed = Feed(exchange)
    channel = TradeChannel(feed)
    for i in (1, 2, 3):
        await push(channel, live(i))
    exchange.publish(4, 5, 6)
    channel.reset()  # the socket came back
    await push(channel, live(6))  # the first live trade overlaps the backfill
    await settle(channel)
    await push(channel, live(7))
    assert ids(feed) == [1, 2, 3, 4, 5, 6, 7]
    # 6 arrived live before the REST reply, so REST fills only 4 and 5 and 6 is the live frame
    assert [is_backfilled(t) for t in feed.delivered] == [False, False, False, True, True, False, False]
    assert feed.metrics.counters["trade_duplicates"] == 0


async def test_a_hole_deeper_than_one_page_pages_the_history_by_offset():
    exchange = Exchange(last_id=2500)
    feed = Feed(exchange)
    channel = TradeChannel(feed)
    await push(channel, live(1))
    await push(channel, live(2501))
    await settle(channel)
    assert ids(feed) == list(range(1, 2502))
    assert ("history", 1000, 1000) in exchange.calls and ("history", 1000, 2000) in exchange.calls


async def test_a_hole_older_than_the_allowed_pages_is_reported_lost_and_skipped():
    exchange = Exchange(last_id=3000)
    feed = Feed(exchange, max_pages=1)
    channel = TradeChannel(feed)
    await push(channel, live(1))
    await push(channel, live(3001))
    await settle(channel)
    delivered = ids(feed)
    assert delivered == sorted(set(delivered)) and delivered[0] == 1 and delivered[-1] == 3001
    assert delivered[1:-1] == list(range(1001, 3001))  # the two pages that could be read
    assert feed.metrics.counters["trades_lost"] == 999 and feed.metrics.counters["trade_holes_unfilled"] == 1
    assert channel.last_loss[1] == SYM and channel.last_loss[2] == 999


async def test_rest_down_past_the_timeout_reports_the_hole_and_releases_held_trades():
    exchange = Exchange(last_id=10)
    exchange.down = True
    feed = Feed(exchange, timeout_s=0.05)
    channel = TradeChannel(feed)
    await push(channel, live(1))
    await push(channel, live(5))
    await push(channel, live(6))
    await settle(channel)
    assert ids(feed) == [1, 5, 6]
    assert feed.metrics.counters["trades_lost"] == 3 and feed.metrics.counters["trade_backfill_errors"] >= 1
    exchange.down = False
    await push(channel, live(7))
    assert ids(feed) == [1, 5, 6, 7]


async def test_backfill_disabled_counts_the_hole_and_delivers_on():
    feed = Feed(Exchange(last_id=10), enabled=False)
    channel = TradeChannel(feed)
    for i in (1, 4, 5):
        await push(channel, live(i))
    assert ids(feed) == [1, 4, 5] and feed.metrics.counters["trades_lost"] == 2
