"""Per-frame cost of BackpackFeed.message_handler for trades, book deltas and bookTicker,
and the memory of a synced 2x1000-level book. Prints figures; asserts nothing.

    .venv/bin/python bench/hot_path.py [--frames 200000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
import tracemalloc
from decimal import Decimal

from cryptofeed.defines import L1_BOOK, L2_BOOK, TICKER, TRADES
from cryptofeed.symbols import Symbols

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT
from cryptofeed_backpack.symbols import seed_symbols

MARKET = {"baseSymbol": "BTC", "quoteSymbol": "USDC", "symbol": "BTC_USDC_PERP", "marketType": "PERP",
          "orderBookState": "Open", "visible": True, "createdAt": "2025-01-21T06:34:54.691858",
          "filters": {"price": {"tickSize": "0.1", "minPrice": "0.1"}, "quantity": {"stepSize": "0.00001"}}}


def trade_frames(n):
    return [json.dumps({"stream": "trade.BTC_USDC_PERP", "data": {
        "e": "trade", "E": 1790134357267289 + i, "s": "BTC_USDC_PERP", "p": f"{86000 + i % 500}.{i % 10}",
        "q": "0.01230", "b": "111", "a": "222", "t": i, "T": 1790134357267000 + i, "m": bool(i & 1)}}) for i in range(n)]


def depth_frames(n, start_id, rng):
    frames = []
    for i in range(n):
        uid = start_id + 1 + i
        bids = [[f"{86000 - rng.randrange(1000) / 10:.1f}", f"{rng.random():.5f}" if rng.random() > 0.3 else "0.00000"]]
        asks = [[f"{86001 + rng.randrange(1000) / 10:.1f}", f"{rng.random():.5f}"]]
        frames.append(json.dumps({"stream": "depth.BTC_USDC_PERP", "data": {
            "e": "depth", "E": 1790134357267289 + i, "s": "BTC_USDC_PERP", "a": asks, "b": bids,
            "U": uid, "u": uid, "T": 1790134357267074 + i}}))
    return frames


def book_ticker_frames(n):
    return [json.dumps({"stream": "bookTicker.BTC_USDC_PERP", "data": {
        "e": "bookTicker", "E": 1790134357267285 + i, "s": "BTC_USDC_PERP", "a": "86656.0", "A": "2.01178",
        "b": "86655.9", "B": "1.94230", "u": 6730019258 + i, "T": 1790134357267074 + i}}) for i in range(n)]


def snapshot(levels, last_id):
    bids = [[f"{86000 - i / 10:.1f}", "1.00000"] for i in range(levels)][::-1]
    asks = [[f"{86001 + i / 10:.1f}", "1.00000"] for i in range(levels)]
    return DEPTH_SNAPSHOT.decode(json.dumps({"bids": bids, "asks": asks, "lastUpdateId": str(last_id), "timestamp": 1}))


async def measure(feed, frames):
    handler = feed.message_handler
    start = time.perf_counter()
    for f in frames:
        await handler(f, None, 0.0)
    return (time.perf_counter() - start) / len(frames) * 1e6


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=200_000)
    args = parser.parse_args()
    Symbols.data.pop("BACKPACK", None)
    seed_symbols([MARKET])

    async def noop(obj, receipt):
        pass

    feed = BackpackFeed(config={"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"},
                        symbols=["BTC-USDC-PERP"], channels=[TRADES, L2_BOOK, TICKER, L1_BOOK],
                        callbacks={c: noop for c in (TRADES, L2_BOOK, TICKER, L1_BOOK)})
    rng = random.Random(1)
    start_id = 1_000_000
    tracemalloc.start()
    feed.book_channel.book_for("BTC_USDC_PERP", "BTC-USDC-PERP").on_snapshot(snapshot(1000, start_id))
    book_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()

    results = {
        "trade": asyncio.run(measure(feed, trade_frames(args.frames))),
        "depth delta (2 levels, 1000-level book)": asyncio.run(measure(feed, depth_frames(args.frames, start_id, rng))),
        "bookTicker -> TICKER + L1_BOOK": asyncio.run(measure(feed, book_ticker_frames(args.frames))),
    }
    assert feed.metrics.counters.get("dropped_messages", 0) == 0 and feed.book_state("BTC_USDC_PERP").last_id == start_id + args.frames
    print(f"hot path, {args.frames} frames each, no-op callbacks (python {'.'.join(map(str, __import__('sys').version_info[:3]))}):")
    for name, us in results.items():
        print(f"  {name:<42} {us:6.2f} us/frame  ({1e6 / us:,.0f} frames/s on one core)")
    print(f"  memory of a synced 2x1000-level book: {book_bytes / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
