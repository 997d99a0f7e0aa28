"""The other public channels: TICKER and L1_BOOK (bookTicker), CANDLES (kline), FUNDING and INDEX
(one markPrice stream serves both), OPEN_INTEREST and LIQUIDATIONS.

Liquidations subscribe to ``liquidation.<symbol>`` and fall back to the bare ``liquidation`` stream
when the server answers 4006 to it (the two documented forms, docs/protocol.md §3.2).
"""
from __future__ import annotations

import logging
import time
from typing import Awaitable, Optional

from cryptofeed.defines import CANDLES, FUNDING, INDEX, L1_BOOK, LIQUIDATIONS, OPEN_INTEREST, TICKER

from ..constants import STREAM_FOR_CHANNEL
from ..wire import market, session
from ..wire.market import BookTickerMsg, KlineMsg, LiquidationMsg, MarkPriceMsg, OpenInterestMsg

LOG = logging.getLogger("feedhandler")

#: a 4006 this soon after the liquidation SUBSCRIBE is taken as refusing the symbol form
LIQUIDATION_PROBE_S = 5.0


class MarketChannels:
    def __init__(self, feed, wanted: dict[str, set[str]]):
        self.feed = feed
        self.want_ticker = TICKER in wanted
        self.want_l1 = L1_BOOK in wanted
        self.want_funding = FUNDING in wanted
        self.want_index = INDEX in wanted
        self.liquidation_symbols = frozenset(wanted.get(LIQUIDATIONS, ()))
        self.liquidation_bare = False
        self._liquidation_probe_at: Optional[float] = None

    # ---- liquidation subscription ------------------------------------------------------------

    def liquidation_streams(self) -> list[str]:
        kind = STREAM_FOR_CHANNEL[LIQUIDATIONS]
        if not self.liquidation_symbols:
            return []
        if self.liquidation_bare:
            return [kind.name(None)]
        return [kind.name(s) for s in sorted(self.liquidation_symbols)]

    async def subscribe_liquidations(self, conn) -> None:
        streams = self.liquidation_streams()
        if streams:
            # sent alone, so a 4006 (the symbol form unknown on this server) can be attributed to it
            self._liquidation_probe_at = None if self.liquidation_bare else time.monotonic()
            await conn.write(session.subscribe_frame(streams))

    async def on_invalid_stream(self) -> bool:
        """A 4006: True when it refused ``liquidation.<symbol>`` and the bare stream was subscribed instead."""
        probe = self._liquidation_probe_at
        if self.liquidation_bare or probe is None or time.monotonic() - probe >= LIQUIDATION_PROBE_S:
            return False
        self.liquidation_bare = True
        self._liquidation_probe_at = None
        LOG.info("%s: liquidation.<symbol> refused (4006); subscribing to the bare 'liquidation' stream", self.feed.id)
        for conn in self.feed.open_websockets():
            await conn.write(session.subscribe_frame(self.liquidation_streams()))
        return True

    # ---- frames ------------------------------------------------------------------------------
    # Each handler returns the delivery to await, or None when the frame delivers nothing (the
    # contract of BackpackFeed.message_handler).

    def on_book_ticker(self, msg: BookTickerMsg, symbol: str, timestamp: float) -> Optional[Awaitable]:
        if self.want_ticker and self.want_l1:
            return self._ticker_and_l1(msg, symbol, timestamp)
        if self.want_ticker:
            return self.feed.deliver(TICKER, market.ticker(msg, symbol), timestamp)
        if self.want_l1:
            return self.feed.deliver(L1_BOOK, market.l1_book(msg, symbol), timestamp)
        return None

    async def _ticker_and_l1(self, msg: BookTickerMsg, symbol: str, timestamp: float) -> None:
        await self.feed.deliver(TICKER, market.ticker(msg, symbol), timestamp)
        await self.feed.deliver(L1_BOOK, market.l1_book(msg, symbol), timestamp)

    def on_kline(self, msg: KlineMsg, symbol: str, timestamp: float) -> Optional[Awaitable]:
        feed = self.feed
        if feed.candle_closed_only and not msg.closed:
            return None  # unread: KlineMsg defers its checks to candle() for this reason
        try:
            candle = market.candle(msg, symbol, feed.candle_interval)
        except ValueError as exc:  # a bad value: the same outcome as a frame that fails to decode
            feed.drop("undecodable", "kline", repr(msg), exc)
            return None
        return feed.deliver(CANDLES, candle, timestamp)

    async def on_mark_price(self, msg: MarkPriceMsg, symbol: str, timestamp: float) -> None:
        if self.want_funding:
            await self.feed.deliver(FUNDING, market.funding(msg, symbol), timestamp)
        if self.want_index:
            index = market.index(msg, symbol)
            if index is not None:
                await self.feed.deliver(INDEX, index, timestamp)

    def on_open_interest(self, msg: OpenInterestMsg, symbol: str, timestamp: float) -> Awaitable:
        return self.feed.deliver(OPEN_INTEREST, market.open_interest(msg, symbol), timestamp)

    def on_liquidation(self, msg: LiquidationMsg, symbol: str, timestamp: float) -> Optional[Awaitable]:
        # the bare stream carries every market: keep only the ones asked for
        if msg.symbol not in self.liquidation_symbols:
            return None
        return self.feed.deliver(LIQUIDATIONS, market.liquidation(msg, symbol), timestamp)
