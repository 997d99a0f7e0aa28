"""Memory of 150 synced 1000-level books (both sides) against cryptofeed Binance books of the same
size, and cold start on the simulator: time until all 150 books are synced, and the cost of
building the REST client. Each memory variant runs in a fresh process so RSS compares cleanly.

    .venv/bin/python bench/memory_coldstart.py [--markets 150] [--levels 1000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import _frames as F  # noqa: E402


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def market_names(n: int) -> list[str]:
    return [f"M{i:03d}_USDC_PERP" for i in range(n)]


def memory_variant(variant: str, markets: int, levels: int) -> dict:
    """Build the feed, measure RSS, build every book from its own decoded snapshot, measure again."""
    from cryptofeed.defines import L2_BOOK

    from _peers import _callbacks, bp_market_objects

    names = market_names(markets)
    rng = random.Random(1)
    bodies = []
    for _ in names:
        bids, asks = F.book_levels(levels, rng)
        bodies.append(json.dumps({"asks": asks, "bids": bids, "lastUpdateId": str(F.START_ID), "timestamp": 1}))
    if variant == "native":
        from cryptofeed_backpack import BackpackFeed
        from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT
        from cryptofeed_backpack.symbols import seed_symbols

        seed_symbols(bp_market_objects(names))
        feed = BackpackFeed(config={"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"},
                            symbols=[n.replace("_", "-") for n in names], channels=[L2_BOOK], callbacks=_callbacks([L2_BOOK]))
        before = rss_mb()
        for name, body in zip(names, bodies):
            feed.book_channel.book_for(name, name.replace("_", "-")).on_snapshot(DEPTH_SNAPSHOT.decode(body))
        sizes = {len(b.bids) + len(b.asks) for b in feed.book_channel.books.values()}
    else:
        from cryptofeed.exchanges import Binance
        from cryptofeed.symbols import Symbols
        from cryptofeed.types import OrderBook
        from yapic import json as yjson

        info = {"symbols": [{"symbol": f"M{i:03d}USDT", "status": "TRADING", "baseAsset": f"M{i:03d}", "quoteAsset": "USDT",
                             "filters": [{"tickSize": "0.01"}]} for i in range(markets)]}
        syms, sinfo = Binance._parse_symbol_data(info)
        Symbols.set(Binance.id, syms, sinfo)
        feed = Binance(symbols=list(syms), channels=[L2_BOOK], callbacks=_callbacks([L2_BOOK]))
        before = rss_mb()
        for std, body in zip(syms, bodies):
            # Exactly what Binance._snapshot does with the REST reply.
            resp = yjson.loads(body, parse_float=Decimal)
            feed._l2_book[std] = OrderBook(feed.id, std, max_depth=feed.max_depth, bids={Decimal(u[0]): Decimal(u[1]) for u in resp["bids"]},
                                           asks={Decimal(u[0]): Decimal(u[1]) for u in resp["asks"]})
        sizes = {len(b.book.bids) + len(b.book.asks) for b in feed._l2_book.values()}
    del bodies
    import gc
    gc.collect()
    after = rss_mb()
    return {"variant": variant, "rss_total_mb": after, "rss_books_mb": after - before, "levels_per_book": sorted(sizes)}


async def cold_start(markets: int, rate: float, source: str = "simulator") -> dict:
    from cryptofeed import FeedHandler
    from cryptofeed.defines import L2_BOOK

    from _peers import _callbacks
    from cryptofeed_backpack import BackpackConfig, BackpackFeed
    from cryptofeed_backpack.transport.rest import BackpackRestClient

    # A timed-out snapshot is retried and logged once per request; the bench counts them instead.
    logging.getLogger("feedhandler").setLevel(logging.ERROR)
    names = market_names(markets)
    if source == "simulator":
        # Backpack allows 2000 REST requests a minute (docs/rest.md); the simulator enforces it here.
        server = subprocess.Popen([sys.executable, "-m", "cryptofeed_backpack.simulator", "--symbols", ",".join(names), "--rate",
                                   str(rate), "--rest-rate-limit", "2000", "--duration", "120"], stdout=subprocess.PIPE, text=True)
    else:
        server = subprocess.Popen([sys.executable, str(HERE / "_producer.py"), "--markets", str(markets), "--rate", str(rate),
                                   "--duration", "60"], stdout=subprocess.PIPE, text=True)
    try:
        info = {}
        while len(info) < 4:
            key, _, value = server.stdout.readline().strip().partition(" ")
            info[key] = value.strip()
        names = info["MARKETS"].split(",")
        config = BackpackConfig.build(rest_url=info["REST"], ws_url=info["WS"], ca_file=info["CA"], proxies={"direct": True})
        plain = BackpackConfig.build(proxies={"direct": True})

        def build_time(cfg) -> float:
            t = time.perf_counter()
            client = BackpackRestClient(cfg)
            client._get_session()
            dt = time.perf_counter() - t
            asyncio.ensure_future(client.close())
            return dt

        rest_system_ca = min(build_time(plain) for _ in range(5))
        rest_with_ca_file = min(build_time(config) for _ in range(5))
        t0 = time.perf_counter()
        if source == "simulator":
            await BackpackFeed.load_symbols(config, refresh=True)
        else:
            from _peers import bp_market_objects
            from cryptofeed_backpack.symbols import seed_symbols

            seed_symbols(bp_market_objects(names))  # the bench producer serves no /markets
        t_symbols = time.perf_counter() - t0
        feed = BackpackFeed(config=config, symbols=[n.replace("_", "-") for n in names], channels=[L2_BOOK],
                            callbacks=_callbacks([L2_BOOK]))
        handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
        handler.add_feed(feed)
        t1 = time.perf_counter()
        handler.run(start_loop=False, install_signal_handlers=False)
        deadline = t1 + 60
        while time.perf_counter() < deadline:
            if len(feed.book_channel.books) == markets and all(b.synced for b in feed.book_channel.books.values()):
                break
            await asyncio.sleep(0.005)
        t_synced = time.perf_counter() - t1
        synced = sum(b.synced for b in feed.book_channel.books.values())
        counters = dict(feed.metrics.counters)
        await handler.stop_async()
    finally:
        server.terminate()
        server.wait(10)
    return {"markets": markets, "symbols_loaded_s": t_symbols, "all_books_synced_s": t_synced, "books_synced": synced,
            "snapshots": counters.get("book_snapshots", 0), "snapshot_retries": counters.get("book_snapshot_retries", 0),
            "rest_429": sum(v for k, v in counters.items() if "429" in k), "counters": counters,
            "rest_retries": sum(v for k, v in counters.items() if "retr" in k and "snapshot" not in k), "snapshot_errors": counters.get("book_snapshot_errors", 0),
            "rest_client_build_ms_system_ca": 1e3 * rest_system_ca, "rest_client_build_ms_with_ca_file": 1e3 * rest_with_ca_file}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=150)
    parser.add_argument("--levels", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=3000, help="simulator engine frames/s during the cold start")
    parser.add_argument("--memory", choices=("native", "binance"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(memory_variant(args.memory, args.markets, args.levels)))
        return
    mem = {}
    for variant in ("native", "binance"):
        out = subprocess.run([sys.executable, __file__, "--memory", variant, "--markets", str(args.markets), "--levels", str(args.levels)],
                             capture_output=True, text=True, check=True).stdout
        mem[variant] = json.loads(out)
    cold = asyncio.run(cold_start(args.markets, args.rate))
    fast = asyncio.run(cold_start(args.markets, args.rate, source="producer"))
    n, b = mem["native"], mem["binance"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"memory, {args.markets} markets x {args.levels} levels a side (RSS, fresh process each)")
    print("| | this project | cryptofeed Binance | this / Binance |\n|---|---|---|---|")
    print(f"| process RSS with books, MB | {n['rss_total_mb']:.1f} | {b['rss_total_mb']:.1f} | {n['rss_total_mb'] / b['rss_total_mb']:.2f}x |")
    print(f"| RSS added by the books, MB | {n['rss_books_mb']:.1f} | {b['rss_books_mb']:.1f} | {n['rss_books_mb'] / b['rss_books_mb']:.2f}x |")
    print(f"| levels per book | {n['levels_per_book']} | {b['levels_per_book']} | |")
    print(f"cold start on the simulator, {cold['markets']} markets (REST limit 2000/min enforced by the simulator)")
    print(f"  symbols loaded over REST:        {1e3 * cold['symbols_loaded_s']:.0f} ms")
    print(f"  feed start -> all books synced:  {1e3 * cold['all_books_synced_s']:.0f} ms ({cold['books_synced']} synced, "
          f"{cold['snapshots']} snapshots, {cold['snapshot_errors']} snapshot errors, {cold['rest_retries']} REST retries)")
    print(f"  the same against bench/_producer.py (pre-encoded 1000-level snapshots): {1e3 * fast['all_books_synced_s']:.0f} ms "
          f"({fast['books_synced']} synced, {fast['rest_retries']} REST retries)")
    print(f"  build REST client + session:     {cold['rest_client_build_ms_system_ca']:.1f} ms (system CAs), "
          f"{cold['rest_client_build_ms_with_ca_file']:.1f} ms (with ca_file: system store + the file)")
    if args.json:
        args.json.write_text(json.dumps({"memory": mem, "cold_start": cold, "cold_start_producer": fast}, indent=1))


if __name__ == "__main__":
    main()
