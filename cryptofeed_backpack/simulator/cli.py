"""Command line: run the simulator until Ctrl-C or --duration (``python -m cryptofeed_backpack.simulator``).

The project CLI wires ``cryptofeed-backpack simulate`` to ``add_arguments``/``run``.
"""
from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sys
from typing import Optional

from .fault_menu import FAULT_MENU, inject
from .markets import DEFAULT_SYMBOLS
from .server import BackpackSimulator


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--symbols", default=None,
                        help=f"comma-separated markets (default: {','.join(DEFAULT_SYMBOLS)})")
    parser.add_argument("--seed", type=int, default=0, help="engine seed (same seed, same market)")
    parser.add_argument("--rate", type=float, default=200.0, help="engine frames per second, all markets together")
    parser.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    parser.add_argument("--ping-interval", type=float, default=60.0, help="seconds between server pings")
    parser.add_argument("--pong-timeout", type=float, default=120.0, help="close a socket silent this long after a ping")
    parser.add_argument("--open-interest-interval", type=float, default=60.0)
    parser.add_argument("--rest-rate-limit", type=int, default=None, help="REST requests per minute before 429")
    parser.add_argument("--history-rate-limit", type=int, default=None,
                        help="requests per minute on /api/v1/trades/history and /api/v1/klines before 429 (Backpack: 30)")
    parser.add_argument("--replay", default=None, help="serve this recording (JSONL or cryptofeed raw capture)")
    parser.add_argument("--replay-speed", type=float, default=None, help="1.0 = original pacing; omit = as fast as possible")
    parser.add_argument("--record", default=None, help="write every public frame to this JSONL file")
    parser.add_argument("--account", action="append", default=[], help="register this base64 API key (repeatable)")
    faults = parser.add_argument_group("faults (applied once the server is up)")
    faults.add_argument("--drop-depth-every", type=float, default=None, metavar="S",
                        help="every S seconds drop one realtime depth delta per market (gaps)")
    faults.add_argument("--close-after", type=int, default=None, metavar="N", help="close each socket after N frames")
    faults.add_argument("--no-pongs", action="store_true", help="never answer client pings")
    faults.add_argument("--stall-every", type=float, default=None, metavar="S", help="every S seconds stall 2 s")
    faults.add_argument("--rest-errors", default=None, metavar="STATUS:COUNT[:PATH]",
                        help="answer the first COUNT REST calls (to PATH, e.g. /api/v1/depth) with STATUS "
                             "(429/500/502/503/451/403)")
    faults.add_argument("--rest-timeouts", default=None, metavar="COUNT[:PATH]",
                        help="the first COUNT REST calls (to PATH) never answer (held 30 s, then dropped)")
    faults.add_argument("--fault-every", action="append", default=[], metavar="S:NAME",
                        help="every S seconds inject fault NAME on the next market in turn (repeatable); "
                             f"names: {', '.join(FAULT_MENU)}")
    faults.add_argument("--fault-seed", type=int, default=0, help="seed for the sizes --fault-every picks")


async def _serve(args: argparse.Namespace, ready: Optional[asyncio.Event] = None) -> int:
    symbols = [s for s in args.symbols.split(",") if s] if args.symbols else None
    sim = BackpackSimulator(
        symbols=symbols, seed=args.seed, rate=args.rate, ping_interval=args.ping_interval,
        pong_timeout=args.pong_timeout, open_interest_interval=args.open_interest_interval,
        rest_rate_limit=args.rest_rate_limit, history_rate_limit=args.history_rate_limit, port=args.port, replay=args.replay,
        replay_speed=args.replay_speed, record=args.record,
    )
    async with sim:
        for key in args.account:
            sim.add_account(key)
        if args.no_pongs:
            sim.faults.stop_pongs()
        if args.rest_errors:
            status, count, path = (args.rest_errors.split(":", 2) + ["", ""])[:3]
            sim.faults.rest_errors(int(status), int(count or 1), paths=(path,) if path else None)
        if args.rest_timeouts:
            count, _, path = args.rest_timeouts.partition(":")
            sim.faults.rest_timeouts(int(count or 1), paths=(path,) if path else None)
        schedule = [_periodic_fault(spec) for spec in args.fault_every]
        fault_rng = random.Random(args.fault_seed)
        turn = 0
        print(f"REST   {sim.rest_url}", flush=True)
        print(f"WS     {sim.ws_url}", flush=True)
        print(f"CA     {sim.ca_file}", flush=True)
        print(f"MARKETS {','.join(sim.symbols)}", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):
                pass
        if ready is not None:
            ready.set()
        elapsed = 0.0
        while not stop.is_set() and (args.duration is None or elapsed < args.duration):
            if args.close_after is not None:
                for conn in sim.hub.connections:
                    if conn.close_budget is None:
                        conn.close_budget = args.close_after
            if args.drop_depth_every and elapsed % args.drop_depth_every < 0.25:
                for symbol in sim.symbols:
                    sim.faults.drop_next_depth(symbol)
            if args.stall_every and elapsed % args.stall_every < 0.25:
                sim.faults.stall(2.0)
            for every, name in schedule:
                if elapsed and elapsed % every < 0.25 and sim.symbols:
                    inject(sim, name, sim.symbols[turn % len(sim.symbols)], fault_rng)
                    turn += 1
            try:
                await asyncio.wait_for(stop.wait(), 0.25)
            except asyncio.TimeoutError:
                pass
            elapsed += 0.25
        print(f"STATS  {sim.stats.as_dict()}", flush=True)
        print(f"FAULTS {sim.faults.counts()}", flush=True)
    return 0


def _periodic_fault(spec: str) -> tuple[float, str]:
    every, _, name = spec.partition(":")
    if name not in FAULT_MENU or not every.replace(".", "", 1).isdigit() or float(every) < 0.25:
        raise SystemExit(f"--fault-every {spec!r}: expected S:NAME with S >= 0.25 and NAME one of {', '.join(FAULT_MENU)}")
    return float(every), name


def run(args: argparse.Namespace) -> int:
    """Blocking entry point for ``cryptofeed-backpack simulate``."""
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cryptofeed_backpack.simulator",
                                     description="A local Backpack exchange over TLS on 127.0.0.1")
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
