"""Stream Backpack trades and the L2 book through cryptofeed's FeedHandler.

    python examples/backpack_demo.py            # against the embedded local simulator (offline)
    python examples/backpack_demo.py --live     # against the real exchange

Private channels: set BACKPACK_API_KEY and BACKPACK_PRIVATE_KEY and add ORDER_INFO/FILLS/POSITIONS
(see docs/auth.md).
"""
import argparse
import asyncio

import cryptofeed_backpack  # noqa: F401  (registers BACKPACK)
from cryptofeed import FeedHandler
from cryptofeed.defines import L2_BOOK, TRADES
from cryptofeed_backpack import BackpackConfig, BackpackFeed


async def on_trade(trade, receipt_timestamp):
    print(f"trade {trade.symbol} {trade.side} {trade.amount} @ {trade.price} (t={trade.timestamp:.6f})")


async def on_book(book, receipt_timestamp):
    # cryptofeed passes the same mutable OrderBook every time: read (or copy) it now
    best_bid = book.book.bids.index(0) if len(book.book.bids) else None
    best_ask = book.book.asks.index(0) if len(book.book.asks) else None
    kind = "snapshot" if book.delta is None else "delta"
    print(f"book  {book.symbol} {kind} seq={book.sequence_number} bid={best_bid} ask={best_ask}")


async def main(live: bool, seconds: float) -> None:
    if live:
        config, stack = BackpackConfig(), None
    else:
        from cryptofeed_backpack.simulator import BackpackSimulator

        stack = BackpackSimulator(symbols=["BTC_USDC_PERP", "SOL_USDC"], seed=1, rate=50)
        sim = await stack.__aenter__()
        config = sim.config()
    try:
        await BackpackFeed.load_symbols(config)  # async: never blocks this loop
        fh = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        fh.add_feed(BackpackFeed(config=config, symbols=["BTC-USDC-PERP", "SOL-USDC"], channels=[TRADES, L2_BOOK],
                                 callbacks={TRADES: on_trade, L2_BOOK: on_book}))
        fh.run(start_loop=False, install_signal_handlers=False)
        await asyncio.sleep(seconds)
        await fh.stop_async()
    finally:
        if stack is not None:
            await stack.__aexit__(None, None, None)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.live, args.seconds))
