"""Memory of 150 synced 1000-level books (both sides) against cryptofeed Binance books of the same
size, and cold start on the simulator: time until all 150 books are synced, and the cost of
building the REST client. Each memory variant and each cold start runs in a fresh process, so RSS
compares cleanly.

Prices: every market has its own price range, as on the exchange ("distinct"). The "shared" row
gives every market the same 2000 prices, the best case for the price cache (wire/prices.py),
which then holds one Decimal per price for all books together.

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


def rss_mb(field: str = "VmRSS") -> float:
    """VmRSS (resident now) or VmHWM (the peak so far) of this process, MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (/proc/<pid>/stat fields 14 and 15)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def market_names(n: int) -> list[str]:
    return [f"M{i:03d}_USDC_PERP" for i in range(n)]


def snapshot_bodies(markets: int, levels: int, prices: str):
    """One /api/v1/depth body per market, made as it is needed (a feed never holds them all)."""
    rng = random.Random(1)
    for i in range(markets):
        # distinct: market i gets its own range of 2 * levels ticks, so no price text repeats across books
        mid = F.MID_TICKS + (0 if prices == "shared" else i * (2 * levels + 10))
        bids, asks = F.book_levels(levels, rng, mid)
        yield json.dumps({"asks": asks, "bids": bids, "lastUpdateId": str(F.START_ID), "timestamp": 1})


def memory_variant(variant: str, markets: int, levels: int, prices: str = "distinct") -> dict:
    """Build the feed, measure RSS, build every book from its own decoded snapshot, measure again."""
    import gc

    from cryptofeed.defines import L2_BOOK

    from _peers import _callbacks, bp_market_objects

    names = market_names(markets)
    bodies = snapshot_bodies(markets, levels, prices)
    if variant == "native":
        from cryptofeed_backpack import BackpackFeed
        from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT
        from cryptofeed_backpack.symbols import seed_symbols

        seed_symbols(bp_market_objects(names))
        feed = BackpackFeed(config={"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"},
                            symbols=[n.replace("_", "-") for n in names], channels=[L2_BOOK], callbacks=_callbacks([L2_BOOK]))
        gc.collect()
        before = rss_mb()
        for name, body in zip(names, bodies):
            feed.book_channel.book_for(name, name.replace("_", "-")).on_snapshot(DEPTH_SNAPSHOT.decode(body))
        sizes = {len(b.bids) + len(b.asks) for b in feed.book_channel.books.values()}
        from cryptofeed_backpack.wire.prices import PRICES

        # what the cache holds beyond the books: its dict and its key texts (its Decimals are the books' keys)
        cache = {"entries": len(PRICES), "max_size": PRICES.max_size,
                 "own_mb": (sys.getsizeof(PRICES._map) + sum(sys.getsizeof(k) for k in PRICES._map)) / 2**20}
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
        gc.collect()
        before = rss_mb()
        for std, body in zip(syms, bodies):
            # Exactly what Binance._snapshot does with the REST reply.
            resp = yjson.loads(body, parse_float=Decimal)
            feed._l2_book[std] = OrderBook(feed.id, std, max_depth=feed.max_depth, bids={Decimal(u[0]): Decimal(u[1]) for u in resp["bids"]},
                                           asks={Decimal(u[0]): Decimal(u[1]) for u in resp["asks"]})
        sizes = {len(b.book.bids) + len(b.book.asks) for b in feed._l2_book.values()}
        cache = None
    gc.collect()
    after = rss_mb()
    return {"variant": variant, "prices": prices, "rss_total_mb": after, "rss_books_mb": after - before,
            "rss_before_books_mb": before, "levels_per_book": sorted(sizes), "price_cache": cache,
            "modules": len(sys.modules), "imports_cryptography": "cryptography" in sys.modules}


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
        server_cpu0, cpu0 = cpu_s(server.pid), time.process_time()
        t1 = time.perf_counter()
        handler.run(start_loop=False, install_signal_handlers=False)
        deadline = t1 + 60
        while time.perf_counter() < deadline:
            if len(feed.book_channel.books) == markets and all(b.synced for b in feed.book_channel.books.values()):
                break
            await asyncio.sleep(0.005)
        t_synced = time.perf_counter() - t1
        feed_cpu, server_cpu = time.process_time() - cpu0, cpu_s(server.pid) - server_cpu0
        synced = sum(b.synced for b in feed.book_channel.books.values())
        # the book and REST counters by name: iterating the view lists only names counted through inc()
        counters = {name: feed.metrics.counters[name] for name in ("book_snapshots", "book_snapshot_retries",
                    "book_snapshot_errors", "rest_requests", "rest_retries", "rest_429")}
        await handler.stop_async()
    finally:
        server.terminate()
        server.wait(10)
    return {"markets": markets, "symbols_loaded_s": t_symbols, "all_books_synced_s": t_synced, "books_synced": synced,
            "snapshots": counters["book_snapshots"], "snapshot_retries": counters["book_snapshot_retries"],
            "rest_429": counters["rest_429"], "counters": counters, "rest_requests": counters["rest_requests"],
            "rest_retries": counters["rest_retries"], "snapshot_errors": counters["book_snapshot_errors"],
            "rest_client_build_ms_system_ca": 1e3 * rest_system_ca, "rest_client_build_ms_with_ca_file": 1e3 * rest_with_ca_file,
            "feed_cpu_s": feed_cpu, "server_cpu_s": server_cpu, "rss_mb": rss_mb(), "peak_rss_mb": rss_mb("VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--markets", type=int, default=150)
    parser.add_argument("--levels", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=3000, help="simulator engine frames/s during the cold start")
    parser.add_argument("--memory", choices=("native", "binance"), help=argparse.SUPPRESS)
    parser.add_argument("--prices", choices=("distinct", "shared"), default="distinct", help=argparse.SUPPRESS)
    parser.add_argument("--cold", choices=("simulator", "producer"), help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(memory_variant(args.memory, args.markets, args.levels, args.prices)))
        return
    if args.cold:
        print(json.dumps(asyncio.run(cold_start(args.markets, args.rate, source=args.cold))))
        return

    def fresh(*extra: str) -> dict:
        out = subprocess.run([sys.executable, __file__, "--markets", str(args.markets), "--levels", str(args.levels),
                              "--rate", str(args.rate), *extra], capture_output=True, text=True, check=True).stdout
        return json.loads(out.strip().splitlines()[-1])

    mem = {f"{variant}_{prices}": fresh("--memory", variant, "--prices", prices)
           for variant, prices in (("native", "distinct"), ("binance", "distinct"), ("native", "shared"))}
    cold, fast = fresh("--cold", "simulator"), fresh("--cold", "producer")
    n, b, ns = mem["native_distinct"], mem["binance_distinct"], mem["native_shared"]
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"memory, {args.markets} markets x {args.levels} levels a side (RSS, fresh process each)")
    print("| | this project | cryptofeed Binance | this / Binance |\n|---|---|---|---|")
    print(f"| process RSS with books, MB | {n['rss_total_mb']:.1f} | {b['rss_total_mb']:.1f} | {n['rss_total_mb'] / b['rss_total_mb']:.2f}x |")
    print(f"| RSS before the books (imports, feed), MB | {n['rss_before_books_mb']:.1f} | "
          f"{b['rss_before_books_mb']:.1f} | {n['rss_before_books_mb'] / b['rss_before_books_mb']:.2f}x |")
    print(f"| RSS added by the books, MB | {n['rss_books_mb']:.1f} | {b['rss_books_mb']:.1f} | {n['rss_books_mb'] / b['rss_books_mb']:.2f}x |")
    print(f"| same, every market the same prices: process RSS, MB | {ns['rss_total_mb']:.1f} | {b['rss_total_mb']:.1f} | "
          f"{ns['rss_total_mb'] / b['rss_total_mb']:.2f}x |")
    print(f"| levels per book | {n['levels_per_book']} | {b['levels_per_book']} | |")
    c = n["price_cache"]
    print(f"price cache: {c['entries']} of {c['max_size']} entries, {c['own_mb']:.1f} MB of its own (dict + price texts); "
          f"cryptography imported: {n['imports_cryptography']}; modules loaded: {n['modules']} (Binance process {b['modules']})")
    print(f"cold start on the simulator, {cold['markets']} markets (REST limit 2000/min enforced by the simulator)")
    print(f"  symbols loaded over REST:        {1e3 * cold['symbols_loaded_s']:.0f} ms")
    print(f"  feed start -> all books synced:  {1e3 * cold['all_books_synced_s']:.0f} ms ({cold['books_synced']} synced, "
          f"{cold['snapshots']} snapshots, {cold['snapshot_errors']} snapshot errors, {cold['rest_retries']} REST retries, "
          f"{cold['rest_429']} 429s)")
    print(f"  CPU meanwhile: feed process {cold['feed_cpu_s']:.2f} s, simulator {cold['server_cpu_s']:.2f} s; "
          f"feed peak RSS {cold['peak_rss_mb']:.1f} MB")
    print(f"  the same against bench/_producer.py (pre-encoded 1000-level snapshots): {1e3 * fast['all_books_synced_s']:.0f} ms "
          f"({fast['books_synced']} synced, {fast['rest_retries']} REST retries); CPU: feed {fast['feed_cpu_s']:.2f} s, "
          f"producer {fast['server_cpu_s']:.2f} s; feed RSS {fast['rss_mb']:.1f} MB, peak {fast['peak_rss_mb']:.1f} MB")
    print(f"  build REST client + session:     {cold['rest_client_build_ms_system_ca']:.1f} ms (system CAs), "
          f"{cold['rest_client_build_ms_with_ca_file']:.1f} ms (with ca_file: system store + the file)")
    if args.json:
        args.json.write_text(json.dumps({"memory": mem, "cold_start": cold, "cold_start_producer": fast}, indent=1))


if __name__ == "__main__":
    main()
