"""In-process handler cost per frame kind, raw text to callback, side by side in one run.

For each frame kind the same content goes through this project's BackpackFeed.message_handler,
ccxt.pro's backpack handle_message (Backpack frames), cryptofeed 2.5's Binance handler
(equivalent Binance frames, equal book) and a floor (one msgspec decode + Decimal + book set).
Frames go in blocks, rotating through the handlers block by block, so machine noise hits all of
them alike; the figure is the median over all blocks of the mean µs per frame in a block. After every repeat each book is compared with
a reference built from the same levels; a mismatch aborts the run.

    .venv/bin/python bench/handlers.py [--frames 20000] [--repeats 7] [--kinds trade,depth_1_level] [--json out.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _frames as F  # noqa: E402
from _peers import Binance, Ccxt, Floor, Native  # noqa: E402
from cryptofeed.defines import L1_BOOK, TICKER  # noqa: E402

BOOK_LEVELS = 1000
KINDS = ("trade", "bookTicker", "kline", "depth 1 level", "depth 20 levels")
# The targets (µs per frame on this machine); printed beside the figures.
TARGETS = {"trade": 2.0, "bookTicker": 2.0, "kline": 4.0, "depth 1 level": 3.0, "depth 20 levels": 12.0}


def kinds_argument(text: str) -> tuple[str, ...]:
    """``--kinds`` of handlers.py and instructions.py: comma-separated, underscores for spaces (``trade,depth_1_level``)."""
    kinds = tuple(k.strip().replace("_", " ") for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        raise argparse.ArgumentTypeError(f"unknown {unknown or 'empty'}; choose from "
                                         f"{', '.join(k.replace(' ', '_') for k in KINDS)}")
    return kinds


def build_cases(n: int, seed: int = 1) -> dict:
    rng = random.Random(seed)
    bids, asks = F.book_levels(BOOK_LEVELS, rng)
    cases = {}
    for kind, make in (("trade", F.bp_trades), ("bookTicker", F.bp_book_tickers), ("kline", F.bp_klines)):
        bp = make(n, rng)
        cases[kind] = {"bp": bp, "bn": F.bn_from_bp(kind, bp), "floor_kind": kind, "updates": None}
    for kind, per in (("depth 1 level", 1), ("depth 20 levels", 20)):
        updates = F.depth_updates(n, per, BOOK_LEVELS, rng)
        bp = F.bp_depth(updates)
        cases[kind] = {"bp": bp, "bn": F.bn_from_bp("depth", bp), "floor_kind": "depth", "updates": updates,
                       "reference": F.reference_book(bids, asks, updates)}
    return {"snapshot": (bids, asks), "cases": cases}


def _check_book(name: str, kind: str, got, reference) -> None:
    if got != reference:
        missing = len(set(reference[0]) ^ set(got[0])) + len(set(reference[1]) ^ set(got[1]))
        raise SystemExit(f"{name}: {kind}: book differs from the reference ({missing} price keys differ)")


def measure(frames: int, repeats: int, seed: int = 1, kinds=KINDS, block: int = 500) -> dict:
    """{kind: {handler: median µs/frame}}. Each repeat re-seeds every book and feeds the frames in
    blocks of ``block``, rotating through the handlers block by block, so a burst of load from
    elsewhere on the machine lands on all of them alike; the figure is the median over all blocks.
    Books are verified against the reference after every repeat."""
    data = build_cases(frames, seed)
    bids, asks = data["snapshot"]
    native, ccxt, binance, floor = Native(), Ccxt(), Binance(), Floor()
    native_ticker_l1 = Native(channels=(TICKER, L1_BOOK))
    impls = {"native": native, "native TICKER+L1_BOOK": native_ticker_l1, "ccxt": ccxt, "binance": binance, "floor": floor}
    results: dict = {}
    for kind in kinds:
        case = data["cases"][kind]
        keys = ["native", "ccxt", "binance", "floor"] + (["native TICKER+L1_BOOK"] if kind == "bookTicker" else [])
        samples = {k: [] for k in keys}
        for _ in range(repeats):
            for key in keys:
                impls[key].seed(bids, asks)
            gc.collect()
            for i, start in enumerate(range(0, frames, block)):
                for j in range(len(keys)):
                    key = keys[(i + j) % len(keys)]
                    impl = impls[key]
                    if key == "floor":
                        dt = floor.run(case["bp"][start:start + block], case["floor_kind"])
                    else:
                        dt = impl.run((case["bn"] if key == "binance" else case["bp"])[start:start + block])
                    samples[key].append(dt / len(case["bp"][start:start + block]) * 1e6)
            if case["updates"] is not None:
                for key in keys:
                    _check_book(key, kind, impls[key].book(), case["reference"])
        results[kind] = {k: statistics.median(v) for k, v in samples.items()}
    ccxt.close()
    if native.dropped() or native_ticker_l1.dropped():
        raise SystemExit(f"native handler dropped frames: {native.feed.metrics.counters}")
    return results


def render(results: dict) -> str:
    lines = ["| frame (µs/frame, median) | this project | cryptofeed Binance | ccxt.pro backpack | floor "
             "| Binance / this | ccxt / this | this / floor | target |",
             "|---|---|---|---|---|---|---|---|---|"]
    for kind, r in results.items():
        n = r["native"]
        lines.append(f"| {kind} | {n:.2f} | {r['binance']:.2f} | {r['ccxt']:.2f} | {r['floor']:.2f} "
                     f"| {r['binance'] / n:.2f}x | {r['ccxt'] / n:.1f}x | {n / r['floor']:.2f}x | {TARGETS[kind]} |")
        if "native TICKER+L1_BOOK" in r:
            lines.append(f"| bookTicker -> TICKER + L1_BOOK (two callbacks) | {r['native TICKER+L1_BOOK']:.2f} | | | | | | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--kinds", type=kinds_argument, default=KINDS,
                        help="frame kinds to time, comma-separated, underscores for spaces (default: all five)")
    args = parser.parse_args()
    results = measure(args.frames, args.repeats, kinds=args.kinds)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (figures scale with it; read the ratios)")
    print(f"handler cost, {args.frames} frames x {args.repeats} repeats per handler (interleaved in blocks of 500), book {BOOK_LEVELS} "
          f"levels a side, books verified against the reference after every repeat (python {sys.version.split()[0]})")
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
