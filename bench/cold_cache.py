"""The handler's cost when the CPU caches are cold, as they are at every wake-up of a live feed.

End to end (bench/end_to_end.py) at 10k frames/s a wake-up brings about 10 frames, and between two
wake-ups the kernel, TLS and the event loop run over other memory. This bench feeds the end-to-end
firehose's own frames (bench/_producer.py: 91 markets, 50 % 1-level depth, 30 % bookTicker, 20 %
trade, books synced from its 1000-level snapshot) straight to ``BackpackFeed.message_handler`` in
one process, in three ways, each on fresh frames (the update ids continue, so every delta applies):

- ``streamed``: one frame after another, caches warm (what bench/handlers.py measures);
- ``batches, warm``: batches of ``--per`` frames, only the handler timed;
- ``batches, cold``: the same, with ``--flush-mb`` of memory written between batches, which evicts
  the handler's code and data from the caches as a wake-up's other work does.

The ratio cold / warm is what a wake-up costs the handler beyond its in-process figure.

    .venv/bin/python bench/cold_cache.py [--markets 91] [--frames 30000] [--per 10] [--flush-mb 16] [--repeats 3]
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _producer as P  # noqa: E402
from _peers import _callbacks, bp_market_objects  # noqa: E402
from cryptofeed.defines import L2_BOOK, TICKER, TRADES  # noqa: E402

CHANNELS = (TRADES, L2_BOOK, TICKER)
CACHE_LINE = 64


def split_frames(raw: bytes) -> list[str]:
    """The producer's batch (unmasked server frames, RFC 6455 §5.2) -> the text of each frame."""
    frames, i = [], 0
    while i < len(raw):
        n, i = raw[i + 1] & 0x7F, i + 2
        if n == 126:
            n, i = int.from_bytes(raw[i:i + 2], "big"), i + 2
        elif n == 127:
            n, i = int.from_bytes(raw[i:i + 8], "big"), i + 8
        frames.append(raw[i:i + n].decode())
        i += n
    return frames


def build(markets: int):
    from cryptofeed_backpack import BackpackFeed
    from cryptofeed_backpack.symbols import seed_symbols
    from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT

    names = P.market_names(markets)
    seed_symbols(bp_market_objects(names))
    feed = BackpackFeed(config={"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"},
                        symbols=[n.replace("_", "-") for n in names], channels=list(CHANNELS), callbacks=_callbacks(CHANNELS))
    producer = P.Producer(names, rate=0, duration=0)
    for name in names:
        feed.book_channel.book_for(name, name.replace("_", "-")).on_snapshot(DEPTH_SNAPSHOT.decode(producer.snapshot(name)))
    return feed, producer


async def timed(handler, frames: list[str], per: int, flush: bytearray | None) -> float:
    """Seconds spent in the handler alone, ``per`` frames at a time."""
    spent = 0.0
    clock = time.perf_counter
    for start in range(0, len(frames), per):
        if flush is not None:
            flush[::CACHE_LINE] = b"\1" * (len(flush) // CACHE_LINE)
        t = clock()
        for frame in frames[start:start + per]:
            await handler(frame, None, 1.0)
        spent += clock() - t
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=91)
    parser.add_argument("--frames", type=int, default=30_000, help="frames per measurement")
    parser.add_argument("--per", type=int, default=10, help="frames per batch (wake-up)")
    parser.add_argument("--flush-mb", type=int, default=16, help="memory written between cold batches")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.getLogger("feedhandler").setLevel(logging.ERROR)
    feed, producer = build(args.markets)
    flush = bytearray(args.flush_mb << 20)
    modes = {"streamed": (len(P.MIX) * args.markets, None), "batches, warm": (args.per, None), "batches, cold": (args.per, flush)}
    samples: dict[str, list[float]] = {mode: [] for mode in modes}
    loop = asyncio.new_event_loop()
    loop.run_until_complete(timed(feed.message_handler, split_frames(producer.batch(args.frames)), args.frames, None))  # warm-up
    for _ in range(args.repeats):
        for mode, (per, memory) in modes.items():  # interleaved, each on frames it has not seen
            frames = split_frames(producer.batch(args.frames))
            samples[mode].append(1e6 * loop.run_until_complete(timed(feed.message_handler, frames, per, memory)) / len(frames))
    loop.close()
    dropped = feed.metrics.counters.get("dropped_messages", 0)
    gaps = sum(book.gaps for book in feed.book_channel.books.values())
    if dropped or gaps:
        raise SystemExit(f"the frames did not all apply: {dropped} dropped, {gaps} book gaps")
    medians = {mode: statistics.median(values) for mode, values in samples.items()}
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; {args.markets} markets, the end-to-end firehose's "
          f"frames, {args.frames} per measurement x {args.repeats} repeats, batches of {args.per}, {args.flush_mb} MB written "
          f"between cold batches; every delta applied (0 dropped, 0 gaps)")
    print("| handler µs/frame (median) | streamed | batches, warm | batches, cold | cold / warm |\n|---|---|---|---|---|")
    print(f"| BackpackFeed.message_handler | {medians['streamed']:.2f} | {medians['batches, warm']:.2f} | "
          f"{medians['batches, cold']:.2f} | {medians['batches, cold'] / medians['batches, warm']:.2f}x |")


if __name__ == "__main__":
    main()
