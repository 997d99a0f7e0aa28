"""Instructions per frame, this project against cryptofeed's Binance handler: a measure that noise
cannot move.

On a shared VM the timed handler bench (handlers.py) moves by ±15 % between runs, which hides
changes of a few per cent. Here each handler runs the same frames as handlers.py under valgrind's
cachegrind, once with ``--frames`` frames and once with none; the difference over the frame count
is the CPU instructions one frame costs, the same from run to run. Instructions are not time
(cache misses and branch mispredictions are not in them), so read these beside handlers.py, not
instead of it. Needs valgrind (``apt-get install valgrind``); without it the script says so and exits 0.

    .venv/bin/python bench/instructions.py [--frames 2000] [--kinds trade,depth_1_level] [--json out.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve()
KINDS = ("trade", "bookTicker", "kline", "depth 1 level", "depth 20 levels")
WARM = 1000  # frames run before counting starts: prices interned, trade ids known, code warm


def child(impl: str, kind: str, count: int, frames: int) -> None:
    """Run ``count`` frames of ``kind`` through one handler after a warm-up (under valgrind). The
    cases are built for ``frames`` whatever ``count`` is, so both runs do the same work but the frames."""
    sys.path.insert(0, str(HERE.parent))
    import handlers
    from _peers import Binance, Native

    data = handlers.build_cases(WARM + frames, seed=1)
    bids, asks = data["snapshot"]
    case = data["cases"][kind]
    handler = {"native": Native, "binance": Binance}[impl]()
    handler.seed(bids, asks)
    frames = case["bn"] if impl == "binance" else case["bp"]
    handler.run(frames[:WARM])
    gc.collect()
    gc.freeze()  # the seeded books are never scanned again: a full collection would count them
    handler.run(frames[WARM:WARM + count])


def instructions(impl: str, kind: str, count: int, frames: int) -> int:
    env = dict(os.environ, PYTHONHASHSEED="0")  # the same dict layouts in every run
    result = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                             sys.executable, str(HERE), "--child", impl, kind, str(count), "--frames", str(frames)],
                            capture_output=True, text=True, env=env, timeout=1800)
    refs = [line for line in result.stderr.splitlines() if "I   refs" in line or "I refs" in line]
    if result.returncode or not refs:
        raise SystemExit(f"{impl} {kind}: valgrind failed (exit {result.returncode}): {result.stderr[-2000:]}")
    return int(refs[-1].split()[-1].replace(",", ""))


def measure(kinds, frames: int) -> dict:
    jobs = [(impl, kind, n) for kind in kinds for impl in ("native", "binance") for n in (0, frames)]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        totals = dict(zip(jobs, pool.map(lambda job: instructions(*job, frames), jobs)))
    return {kind: {impl: (totals[(impl, kind, frames)] - totals[(impl, kind, 0)]) / frames for impl in ("native", "binance")}
            for kind in kinds}


def render(results: dict) -> str:
    lines = ["| frame (instructions per frame) | this project | cryptofeed Binance | Binance / this |", "|---|---|---|---|"]
    for kind, r in results.items():
        lines.append(f"| {kind} | {r['native']:,.0f} | {r['binance']:,.0f} | {r['binance'] / r['native']:.2f}x |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--kinds", default=",".join(k.replace(" ", "_") for k in KINDS),
                        help="comma-separated, spaces as underscores")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", nargs=3, metavar=("IMPL", "KIND", "COUNT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        impl, kind, count = args.child
        child(impl, kind, int(count), args.frames)
        return
    if shutil.which("valgrind") is None:
        print("instructions.py: valgrind is not installed (apt-get install valgrind); skipped")
        return
    kinds = [k.replace("_", " ") for k in args.kinds.split(",")]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise SystemExit(f"--kinds: unknown {unknown}; choose from {', '.join(k.replace(' ', '_') for k in KINDS)}")
    results = measure(kinds, args.frames)
    print(f"instructions per frame under cachegrind, {args.frames} frames after {WARM} warm-up frames, "
          f"same content as handlers.py (python {sys.version.split()[0]})")
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
