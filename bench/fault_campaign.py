"""Fault campaign: a real FeedHandler with BackpackFeed (trades + L2 book on several markets) against
the simulator while hundreds of seeded faults of many kinds hit it; prints what was injected, how fast
each market recovered, and what the ground truth says about trades and books.

    .venv/bin/python bench/fault_campaign.py --minutes 3 --faults-per-minute 100 --seed 1

Bounded: injection stops after --minutes; each checkpoint (every --checkpoint-every seconds of
injection, and one at the end) lets the feed settle, pauses the engine and compares books, within
a fixed timeout. Simulator and feed share one event loop in this process. The checks and the
"backfilled" marker assumption live in tests/integration/fault_harness.py (``is_backfilled``).
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptofeed.symbols import Symbols  # noqa: E402

from cryptofeed_backpack.simulator import fault_menu  # noqa: E402
from cryptofeed_backpack.simulator.fault_menu import FAULT_MENU  # noqa: E402
from tests.integration.fault_harness import fault_run, percentile, plan_faults  # noqa: E402

DEFAULT_MARKETS = "SOL_USDC,BTC_USDC_PERP,ETH_USDC_PERP"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=3.0, help="injection time (checkpoints come on top)")
    p.add_argument("--faults-per-minute", type=float, default=100.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--markets", default=DEFAULT_MARKETS, help="comma-separated exchange symbols")
    p.add_argument("--rate", type=float, default=300.0, help="simulator engine events per second, all markets")
    p.add_argument("--kinds", default=",".join(FAULT_MENU), help=f"fault kinds (default all {len(FAULT_MENU)})")
    p.add_argument("--checkpoint-every", type=float, default=30.0, help="seconds of injection between checkpoints")
    p.add_argument("--half-open-seconds", type=float, default=fault_menu.HALF_OPEN_S,
                   help="how long a half-open socket stays dead before the simulator drops it")
    p.add_argument("--settle", type=float, default=6.0, help="seconds the feed gets to recover before a checkpoint")
    args = p.parse_args(argv)
    unknown = [k for k in args.kinds.split(",") if k not in FAULT_MENU]
    if unknown:
        p.error(f"unknown fault kinds {unknown}; choose from {', '.join(FAULT_MENU)}")
    if not 0 < args.minutes <= 120:
        p.error("--minutes must be in (0, 120]")
    return args


def fmt_s(value) -> str:
    return "-" if value is None else f"{value:.2f} s"


def report(args, run, plan, wall_s: float) -> str:
    lines = []
    kinds = Counter(f.kind for f in plan)
    touched = Counter()
    for ev in run.events:
        touched[ev.kind] += ev.touched
    lines.append(f"fault campaign: {args.minutes:g} min of injection ({wall_s / 60:.1f} min wall), seed {args.seed}, "
                 f"markets {', '.join(run.symbols)}, engine {args.rate:g} events/s")
    lines.append(f"{len(plan)} faults of {len(kinds)} kinds, {len(run.checkpoints)} quiescent checkpoints, "
                 f"half-open sockets dropped by the simulator after {fault_menu.HALF_OPEN_S:g} s")
    lines.append("")
    lines.append(f"{'fault kind':<22}{'injected':>9}{'armed/touched':>15}")
    for kind in FAULT_MENU:
        if kinds[kind]:
            lines.append(f"{kind:<22}{kinds[kind]:>9}{touched[kind]:>15}")
    lines.append("")
    lines.append("happened on the wire (simulator counters): " +
                 ", ".join(f"{k}={v}" for k, v in sorted(run.sim.faults.counts().items())))
    recovered, never = run.recoveries()
    lines.append(f"recovery (fault -> next trade and book update made after it, on its market): "
                 f"p50 {fmt_s(percentile(recovered, 0.50))}, p99 {fmt_s(percentile(recovered, 0.99))}, "
                 f"max {fmt_s(max(recovered) if recovered else None)}; {len(recovered)} recovered, {never} never")
    lines.append("")
    header = f"{'market':<20}{'published':>10}{'delivered':>10}{'backfilled':>11}{'lost':>8}{'lost %':>8}" \
             f"{'duplicates':>11}{'out of order':>13}{'unexpected':>11}"
    lines.append(header)
    total = Counter()
    for sym, a in run.trade_audit().items():
        row = dict(published=a.expected, delivered=a.delivered, backfilled=a.backfilled, lost=a.lost,
                   duplicates=a.duplicates, out_of_order=a.out_of_order, unexpected=a.unexpected)
        total.update(row)
        lines.append(_trade_row(sym, row))
    lines.append(_trade_row("total", total))
    lines.append("")
    comparisons = sum(len(cp) for cp in run.checkpoints)
    lines.append(f"book mismatches at checkpoints: {run.book_mismatches()} of {comparisons} comparisons")
    for i, cp in enumerate(run.checkpoints, 1):
        bad = {s: d for s, d in cp.items() if d is not None}
        if bad:
            lines.append(f"  checkpoint {i}: {bad}")
    lines.append(f"exceptions that escaped into cryptofeed's handler: {len(run.errors.records)}")
    for kind, n in Counter(r.split(":")[0] for r in run.errors.records).most_common(5):
        lines.append(f"  {kind}: {n}")
    counters = run.feed.metrics.counters
    lines.append("feed counters: " + ", ".join(f"{k}={v}" for k, v in sorted(counters.items()) if k != "ws_messages"))
    return "\n".join(lines)


def _trade_row(name: str, r) -> str:
    pct = 100.0 * r["lost"] / r["published"] if r["published"] else 0.0
    return (f"{name:<20}{r['published']:>10}{r['delivered']:>10}{r['backfilled']:>11}{r['lost']:>8}{pct:>7.1f}%"
            f"{r['duplicates']:>11}{r['out_of_order']:>13}{r['unexpected']:>11}")


async def campaign(args) -> str:
    markets = [m for m in args.markets.split(",") if m]
    count = max(1, round(args.minutes * args.faults_per_minute))
    fault_menu.HALF_OPEN_S = args.half_open_seconds
    Symbols.data.pop("BACKPACK", None)
    started = time.monotonic()
    async with fault_run(markets, seed=args.seed, rate=args.rate) as run:
        plan = plan_faults(args.seed, args.kinds.split(","), count, args.minutes * 60, run.symbols)
        await run.play(plan, checkpoint_every_s=args.checkpoint_every, settle_s=args.settle)
        return report(args, run, plan, time.monotonic() - started)


def main(argv=None) -> int:
    print(asyncio.run(campaign(parse_args(argv))), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
