"""Run the native BackpackFeed and the ccxt fallback side by side and judge them against the migration
thresholds of docs/runbooks/backpack_migration.md. Exit status 0 = every check passed, 1 = one failed.

    python tools/backpack_canary.py --simulator --seconds 20      # offline, against the embedded simulator
    python tools/backpack_canary.py --seconds 300 --symbols BTC-USDC-PERP SOL-USDC   # the real exchange

Needs the ccxt extra (pip install 'cryptofeed-backpack[ccxt]'). Both feeds run in one FeedHandler on one
event loop, so they see the same exchange at the same moments.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # runnable from a checkout

from cryptofeed import FeedHandler  # noqa: E402
from cryptofeed.defines import L2_BOOK, TRADES  # noqa: E402

from cryptofeed_backpack import BackpackConfig, BackpackFeed  # noqa: E402
from cryptofeed_backpack.ccxt_feed import CcxtBackpackFeed  # noqa: E402

# The thresholds the runbook names (docs/runbooks/backpack_migration.md, "Success and failure criteria").
MAX_TRADE_MISMATCHES = 0  # trades both feeds delivered with different price/amount/side/timestamp
MAX_MISSING_TRADES = 0  # ids inside the common window that one feed delivered and the other did not
MAX_BOOK_GAPS = 0  # native book_gaps + ccxt_book_gaps during the run
SIM_MARKETS = {"BTC_USDC_PERP": "BTC-USDC-PERP", "SOL_USDC": "SOL-USDC"}


def trade_recorder(store):
    async def on_trade(trade, receipt):
        store[trade.symbol][int(trade.id)] = (trade.price, trade.amount, trade.side, trade.timestamp)
    return on_trade


async def noop(*_):
    return None


def compare_trades(native: dict, ccxt: dict) -> tuple[int, int, int]:
    """(compared, mismatched, missing) over the ids both feeds could have seen."""
    compared = mismatched = missing = 0
    for symbol in set(native) | set(ccxt):
        a, b = native.get(symbol, {}), ccxt.get(symbol, {})
        if not a or not b:
            continue
        low, high = max(min(a), min(b)), min(max(a), max(b))
        for trade_id in range(low, high + 1):
            if trade_id in a and trade_id in b:
                compared += 1
                mismatched += a[trade_id] != b[trade_id]
            elif trade_id in a or trade_id in b:
                missing += 1
    return compared, mismatched, missing


async def run(args) -> int:
    async with contextlib.AsyncExitStack() as stack:
        sim = None
        if args.simulator:
            from cryptofeed_backpack.simulator import BackpackSimulator

            sim = await stack.enter_async_context(BackpackSimulator(symbols=list(SIM_MARKETS), seed=2, rate=300))
            config, symbols = sim.config(proxies={"direct": True}), list(SIM_MARKETS.values())
        else:
            config = BackpackConfig.build({"proxies": {"url": args.proxy}} if args.proxy else {})
            symbols = args.symbols
        await BackpackFeed.load_symbols(config)
        trades = {"native": defaultdict(dict), "ccxt": defaultdict(dict)}
        feeds = {
            "native": BackpackFeed(config=config, symbols=symbols, channels=[TRADES, L2_BOOK],
                                   callbacks={TRADES: trade_recorder(trades["native"]), L2_BOOK: noop}),
            "ccxt": CcxtBackpackFeed(config=config, symbols=symbols, channels=[TRADES, L2_BOOK],
                                     callbacks={TRADES: trade_recorder(trades["ccxt"]), L2_BOOK: noop}),
        }
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        for feed in feeds.values():
            handler.add_feed(feed)
        handler.run(start_loop=False, install_signal_handlers=False)
        try:
            await asyncio.sleep(args.seconds)
            if sim is not None:  # let both feeds catch up with the same final state
                sim.pause()
                await sim.drain()
                await asyncio.sleep(1.0)
            native, ccxt = feeds["native"], feeds["ccxt"]
            report = native.health()
            now = time.time()
            silence = config.stream_silence_s
            stale = {s: round(now - t, 1) for s, t in ccxt.last_frame_by_stream().items() if now - t > silence}
            unsynced = [s for s, b in ccxt.book_status().items() if not b["synced"]]
            gaps = native.metrics.counters.get("book_gaps", 0) + ccxt.exchange.gaps
            ccxt_errors = {k: v for k, v in ccxt.metrics.counters.items() if k.startswith("ccxt_errors_")}
        finally:
            await handler.stop_async()
    compared, mismatched, missing = compare_trades(trades["native"], trades["ccxt"])
    checks = [
        ("native health() status is ok", report.status == "ok", f"{report.status} {report.reasons}"),
        ("trades compared", compared > 0, compared),
        (f"trade mismatches <= {MAX_TRADE_MISMATCHES}", mismatched <= MAX_TRADE_MISMATCHES, mismatched),
        (f"missing trades <= {MAX_MISSING_TRADES}", missing <= MAX_MISSING_TRADES, missing),
        (f"book gaps <= {MAX_BOOK_GAPS}", gaps <= MAX_BOOK_GAPS, gaps),
        ("ccxt books synced", not unsynced, unsynced),
        (f"ccxt streams silent > {silence:.0f}s: none", not stale, stale),
    ]
    for name, ok, value in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {name}: {value}", flush=True)
    print(f"info  ccxt errors: {ccxt_errors or 'none'}; ccxt failing tasks: {ccxt.failures() or 'none'}", flush=True)
    passed = all(ok for _, ok, _ in checks)
    print(f"verdict: {'PASS' if passed else 'FAIL'}", flush=True)
    return 0 if passed else 1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulator", action="store_true", help="run against the embedded local exchange (offline)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--symbols", nargs="+", default=["BTC-USDC-PERP", "SOL-USDC"], help="real exchange only")
    parser.add_argument("--proxy", help="http(s):// or socks5(h):// proxy (docs/proxies.md)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
