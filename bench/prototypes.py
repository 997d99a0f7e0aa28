"""What the prototype hot paths (bench/_prototype_feed.py) would give, against today's handler and
the floor, on the same frames in one run (interleaved repeats, medians, books verified against the
reference after every repeat).

    .venv/bin/python bench/prototypes.py [--frames 20000] [--repeats 7]
"""
from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import Floor, Native  # noqa: E402
from _prototype_feed import PrototypeFeed  # noqa: E402
from handlers import TARGETS, _check_book, build_cases  # noqa: E402

KINDS = ("trade", "bookTicker", "kline", "depth 1 level", "depth 20 levels")


def measure(frames: int, repeats: int, kinds=KINDS, block: int = 500) -> dict:
    data = build_cases(frames)
    bids, asks = data["snapshot"]
    impls = {
        "today": Native(),
        "+ price cache": Native(feed_class=PrototypeFeed, price_cache=True),
        "+ price cache + single-pass decode": Native(feed_class=PrototypeFeed, price_cache=True, single_pass=True),
        "+ one-pass book apply + single-pass decode": Native(feed_class=PrototypeFeed, one_pass=True, single_pass=True),
    }
    floor = Floor()
    results = {}
    for kind in kinds:
        case = data["cases"][kind]
        keys = [*impls, "floor"]
        samples = {k: [] for k in keys}
        for _ in range(repeats):
            for key in keys:
                (floor if key == "floor" else impls[key]).seed(bids, asks)
            gc.collect()
            # Blocks rotate through the variants, as in handlers.py, so load bursts hit all alike.
            for i, start in enumerate(range(0, frames, block)):
                chunk = case["bp"][start:start + block]
                for j in range(len(keys)):
                    key = keys[(i + j) % len(keys)]
                    dt = floor.run(chunk, case["floor_kind"]) if key == "floor" else impls[key].run(chunk)
                    samples[key].append(dt / len(chunk) * 1e6)
            if case["updates"] is not None:
                for key in keys:
                    _check_book(key, kind, (floor if key == "floor" else impls[key]).book(), case["reference"])
        results[kind] = {k: statistics.median(v) for k, v in samples.items()}
    for name, impl in impls.items():
        if impl.dropped():
            raise SystemExit(f"{name} dropped frames: {impl.feed.metrics.counters}")
    return results


def render(results: dict) -> str:
    names = [k for k in next(iter(results.values())) if k != "floor"]
    head = " | ".join(names)
    lines = [f"| frame (µs/frame, median) | {head} | floor | best vs today | best / floor | target |",
             "|---" * (len(names) + 5) + "|"]
    for kind, r in results.items():
        best = min(r[n] for n in names)
        cells = " | ".join(f"{r[n]:.2f}" for n in names)
        lines.append(f"| {kind} | {cells} | {r['floor']:.2f} | {r['today'] / best:.2f}x | {best / r['floor']:.2f}x | {TARGETS[kind]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    results = measure(args.frames, args.repeats)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"prototype hot paths, {args.frames} frames x {args.repeats} repeats (interleaved in blocks of 500), 1000-level book, books verified")
    print(render(results))


if __name__ == "__main__":
    main()
