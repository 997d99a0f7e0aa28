"""The TRADES channel: ``trade.<symbol>`` frames to cryptofeed Trades."""
from __future__ import annotations

from cryptofeed.defines import TRADES

from ..wire import market
from ..wire.market import TradeMsg


class TradeChannel:
    def __init__(self, feed):
        self.feed = feed

    def reset(self) -> None:
        """On every (re)connect."""

    async def on_trade(self, msg: TradeMsg, symbol: str, timestamp: float) -> None:
        await self.feed.callback(TRADES, market.trade(msg, symbol), timestamp)
