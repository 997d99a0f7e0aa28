"""The costs behind the 20-level depth figure (docs/performance.md): building a Decimal from text,
hashing a fresh one, and setting an existing key of a 1000-level cryptofeed book with a fresh
Decimal vs one whose hash is already computed (what wire/prices.py hands out). Medians of repeats.

    .venv/bin/python bench/decimal_costs.py [--n 200000] [--repeats 7]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _frames as F  # noqa: E402
from cryptofeed.types import OrderBook  # noqa: E402

from cryptofeed_backpack.wire.prices import PriceCache  # noqa: E402


def per_op_ns(fn, n: int, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) / n * 1e9)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    n = args.n
    texts = [F.price(F.MID_TICKS - 1 - (i % 1000)) for i in range(n)]
    texts = [t.encode().decode() for t in texts]  # distinct str objects, as a decoder makes them
    qty = Decimal("1.00000")
    ob = OrderBook("X", "BTC-USDC", bids={Decimal(F.price(F.MID_TICKS - 1 - i)): qty for i in range(1000)})
    bids = ob.book.bids
    cache = PriceCache()
    for t in texts[:1000]:
        cache[t]

    def build():
        for t in texts:
            Decimal(t)

    fresh = [Decimal(t) for t in texts]

    def hash_fresh():
        for d in [Decimal(t) for t in texts]:
            hash(d)

    def set_fresh():
        for t in texts:
            bids[Decimal(t)] = qty

    def set_cached():
        for t in texts:
            bids[cache[t]] = qty

    def lookup_cache():
        for t in texts:
            cache[t]

    build_ns = per_op_ns(build, n, args.repeats)
    rows = [
        ("Decimal(text)", build_ns),
        ("hash() of a fresh Decimal (build excluded)", per_op_ns(hash_fresh, n, args.repeats) - build_ns),
        ("book[Decimal(text)] = q, existing key (build included)", per_op_ns(set_fresh, n, args.repeats)),
        ("book[cache[text]] = q, existing key (cache lookup included)", per_op_ns(set_cached, n, args.repeats)),
        ("cache[text] lookup alone", per_op_ns(lookup_cache, n, args.repeats)),
    ]
    del fresh
    import tracemalloc

    tracemalloc.start()
    full = PriceCache()
    for i in range(full.max_size):
        full[F.price(2 * F.MID_TICKS + i).encode().decode()]
    cache_bytes = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"Decimal and book-key costs, {n} ops x {args.repeats} repeats, 1000-level cryptofeed book side")
    print("| operation | ns per op |\n|---|---|")
    for name, ns in rows:
        print(f"| {name} | {ns:.0f} |")
    print(f"a full PriceCache ({full.max_size} price texts and their Decimals): {cache_bytes / 2**20:.1f} MiB traced "
          "(the Decimals are shared with the book when the snapshot is interned too)")


if __name__ == "__main__":
    main()
