"""Instructions per frame, this project against cryptofeed's Binance handler (and, with ``--peers``,
ccxt.pro's backpack handler): a measure that noise cannot move.

On a shared VM the timed handler bench (handlers.py) moves by ±15 % between runs, which hides
changes of a few per cent. Here each handler runs the same frames as handlers.py under valgrind's
cachegrind, once with ``--frames`` frames and once with none; the difference over the frame count
is the CPU instructions one frame costs, the same from run to run. Instructions are not time
(cache misses and branch mispredictions are not in them), so read these beside handlers.py, not
instead of it. Needs valgrind (``apt-get install valgrind``); without it the script says so and exits 0.

ccxt.pro is optional (``--peers binance,ccxt``): its import alone takes about a minute under
valgrind, and its timed figure moves more from run to run than ours or Binance's, which is when a
count that does not move is worth the wait. A figure is the difference between two runs, of 0
and of N counted frames, whose command lines have the same length and which skip the interpreter's
teardown: then it repeats to within 0.3 % wherever the package is imported from (without both, the
two runs' heaps were laid out differently and the figure moved by up to 30 %, docs/performance.md).
To measure a change, ``--against DIR`` counts another checkout (``git worktree add /tmp/base
<commit>``) beside this one, each build imported through ``PYTHONPATH`` by links of one length.

    .venv/bin/python bench/instructions.py [--frames 2000] [--kinds trade,depth_1_level] [--peers binance,ccxt] [--against DIR] [--json out.json]
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

HERE = Path(__file__).resolve()
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))

from handlers import KINDS, kinds_argument  # noqa: E402

WARM = 1000  # frames run before counting starts: prices interned, trade ids known, code warm
#: the peers this script can count beside this project (bench/_peers.py); Binance reads the equivalent Binance frames
PEERS = ("binance", "ccxt")
AGAINST = "against"  # this project's handler from the --against checkout
BUILD_ENV = "BENCH_INSTRUCTIONS_BUILD"  # set by --against: where the child must have imported the package from


def child(impl: str, kind: str, count: int, frames: int) -> None:
    """Run ``count`` frames of ``kind`` through one handler after a warm-up (under valgrind). The
    cases are built for ``frames`` whatever ``count`` is, so both runs do the same work but the frames."""
    import handlers
    from _peers import Binance, Ccxt, Native

    build = os.environ.get(BUILD_ENV)
    if build and impl in ("native", AGAINST):
        import cryptofeed_backpack

        if not Path(cryptofeed_backpack.__file__).is_relative_to(build):
            raise SystemExit(f"{impl}: cryptofeed_backpack came from {cryptofeed_backpack.__file__}, not from {build}")

    data = handlers.build_cases(WARM + frames, seed=1)
    bids, asks = data["snapshot"]
    case = data["cases"][kind]
    handler = {"native": Native, AGAINST: Native, "binance": Binance, "ccxt": Ccxt}[impl]()
    handler.seed(bids, asks)
    frames = case["bn"] if impl == "binance" else case["bp"]
    handler.run(frames[:WARM])
    gc.collect()
    gc.freeze()  # the seeded books are never scanned again: a full collection would count them
    handler.run(frames[WARM:WARM + count])
    if hasattr(handler, "close"):
        handler.close()
    # No interpreter teardown: freeing the heap at exit costs millions of instructions that change
    # with the heap's layout, and the difference between the two runs would be charged to the frames.
    os._exit(0)


def instructions(impl: str, kind: str, count: int, frames: int, builds: Optional[dict] = None) -> int:
    """``builds``: {impl: the directory its cryptofeed_backpack is imported from}, for ``--against``."""
    env = dict(os.environ, PYTHONHASHSEED="0")  # the same dict layouts in every run
    if builds:
        env["PYTHONPATH"] = env[BUILD_ENV] = str(builds.get(impl, builds["native"]))
    # The count goes at a fixed width: the two runs of a pair (0 frames and N) must have command lines of
    # one length, or their memory layouts differ and so does what obmalloc's frees cost in each, by
    # millions of instructions (docs/performance.md)
    result = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
                             sys.executable, str(HERE), "--child", impl, kind, f"{count:09d}", "--frames", str(frames)],
                            capture_output=True, text=True, env=env, timeout=1800)
    refs = [line for line in result.stderr.splitlines() if "I   refs" in line or "I refs" in line]
    if result.returncode or not refs:
        raise SystemExit(f"{impl} {kind}: valgrind failed (exit {result.returncode}): {result.stderr[-2000:]}")
    return int(refs[-1].split()[-1].replace(",", ""))


def measure(kinds, frames: int, peers=("binance",), against: Optional[Path] = None) -> dict:
    """{kind: {impl: instructions per frame}} for this project, each of ``peers`` and, given
    ``against``, this project's handler from that checkout."""
    impls = ("native", *peers, *((AGAINST,) if against is not None else ()))
    jobs = [(impl, kind, n) for kind in kinds for impl in impls for n in (0, frames)]
    with tempfile.TemporaryDirectory(prefix="bpx-builds-") as links, ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        builds = None
        if against is not None:
            # Both builds through PYTHONPATH, by links of one length, so that the two builds' processes
            # differ in nothing but the build.
            builds = {"native": Path(links, "a"), AGAINST: Path(links, "b")}
            builds["native"].symlink_to(ROOT)
            builds[AGAINST].symlink_to(against)
        totals = dict(zip(jobs, pool.map(lambda job: instructions(*job, frames, builds), jobs)))
    return {kind: {impl: (totals[(impl, kind, frames)] - totals[(impl, kind, 0)]) / frames for impl in impls}
            for kind in kinds}


_TITLES = {"binance": ("cryptofeed Binance", "Binance"), "ccxt": ("ccxt.pro backpack", "ccxt"),
           AGAINST: ("this project at --against", "--against")}


def render(results: dict) -> str:
    peers = [impl for impl in next(iter(results.values())) if impl != "native"]
    head = ["frame (instructions per frame)", "this project", *(_TITLES[p][0] for p in peers),
            *(f"{_TITLES[p][1]} / this" for p in peers)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for kind, r in results.items():
        cells = [kind, f"{r['native']:,.0f}", *(f"{r[p]:,.0f}" for p in peers),
                 *(f"{r[p] / r['native']:.2f}x" for p in peers)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--kinds", type=kinds_argument, default=KINDS,
                        help="comma-separated, underscores for spaces (default: all five)")
    parser.add_argument("--peers", default="binance",
                        help=f"comma-separated handlers to count beside this project's, from {', '.join(PEERS)}; none for none")
    parser.add_argument("--against", type=Path, metavar="DIR",
                        help="another checkout of this project (say, a git worktree of an older commit) to count beside this one")
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
    peers = [] if args.peers == "none" else [p for p in args.peers.split(",") if p]
    bad = [p for p in peers if p not in PEERS]
    if bad or (not peers and args.peers != "none"):
        raise SystemExit(f"--peers: unknown {bad or 'empty'}; choose from {', '.join(PEERS)}, or none")
    against = args.against.resolve() if args.against else None
    if against is not None and not (against / "cryptofeed_backpack" / "__init__.py").is_file():
        raise SystemExit(f"--against: {against} holds no cryptofeed_backpack package; give a checkout of this project "
                         f"(git worktree add /tmp/base <commit>)")
    results = measure(args.kinds, args.frames, peers, against)
    print(f"instructions per frame under cachegrind, {args.frames} frames after {WARM} warm-up frames, "
          f"same content as handlers.py (python {sys.version.split()[0]})"
          + (f"; --against {against}" if against else ""))
    print(render(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
