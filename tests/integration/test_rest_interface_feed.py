"""cryptofeed's REST interface on BackpackFeed itself, against the simulator."""
import asyncio
from decimal import Decimal as D

import pytest
from cryptofeed.types import OrderBook, Ticker, Trade

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.symbols import load_symbols

pytestmark = [pytest.mark.integration]


async def test_feed_answers_cryptofeed_rest_methods(clean_symbols):
    async with BackpackSimulator(symbols=["BTC_USDC_PERP"], seed=2, rate=100) as sim:
        config = sim.config()
        await load_symbols(config, refresh=True)
        feed = BackpackFeed(config=config)
        try:
            sim.pause()
            book = await feed.l2_book("BTC-USDC-PERP")
            truth = sim.book("BTC_USDC_PERP")
            assert isinstance(book, OrderBook) and book.sequence_number == truth.last_update_id
            assert book.book.bids.to_dict() == truth.bids and book.book.asks.to_dict() == truth.asks
            ticker = await feed.ticker("BTC-USDC-PERP")
            assert isinstance(ticker, Ticker) and ticker.bid == max(truth.bids) and ticker.ask == min(truth.asks)
            sim.resume()
            await asyncio.sleep(0.5)  # let the engine trade
            pages = [page async for page in feed.trades("BTC-USDC-PERP")]
            trades = [t for page in pages for t in page]
            assert trades and all(isinstance(t, Trade) and type(t.price) is D for t in trades)
        finally:
            await feed.shutdown()
