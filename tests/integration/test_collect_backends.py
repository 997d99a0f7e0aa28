"""`collect` end to end: simulator -> BackpackFeed -> cryptofeed's backends -> real redis-server / PostgreSQL.

Over a fixed run, every trade, book update, ticker, candle and funding record the callbacks saw must
be in the backend, equal, with the trade id and the book sequence number that make gaps and
duplicates detectable.
"""
from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime, timezone
from decimal import Decimal
from importlib import resources

import aiohttp
import pytest
from cryptofeed.defines import CANDLES, FUNDING, L2_BOOK, LIQUIDATIONS, OPEN_INTEREST, TICKER, TRADES

from cryptofeed_backpack.collect import Collector, CollectSettings
from cryptofeed_backpack.simulator import BackpackSimulator
from tests.integration.backend_servers import postgres_server, redis_server  # noqa: F401  (fixtures)
from tests.integration.feed_harness import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CHANNELS = [TRADES, L2_BOOK, TICKER, CANDLES, FUNDING]
MARKETS = ["BTC_USDC_PERP", "SOL_USDC"]
# how much the run must have seen before it stops: enough of every channel to mean something
ENOUGH = {TRADES: 30, L2_BOOK: 30, TICKER: 10, CANDLES: 4, FUNDING: 3}
# Postgres gets every channel collect writes; liquidations come when the engine makes one (no minimum)
ALL_CHANNELS = CHANNELS + [OPEN_INTEREST, LIQUIDATIONS]
ENOUGH_ALL = {**ENOUGH, OPEN_INTEREST: 2}


class Seen:
    """What the feed's callbacks received, as the cryptofeed objects' own dicts (exact decimals)."""

    def __init__(self, channels=CHANNELS, enough=ENOUGH):
        self.items = defaultdict(list)
        self.last_sequence = {}
        self.channels, self.minimum = channels, enough

    def callbacks(self):
        def make(channel):
            async def cb(obj, receipt):
                if channel == L2_BOOK:
                    record = obj.to_dict(delta=obj.delta is not None, numeric_type=str)
                    if obj.delta is None:
                        del record["delta"]  # a snapshot
                    record["sequence_number"] = obj.sequence_number
                    record["prev_sequence_number"] = self.last_sequence.get(obj.symbol)
                    self.last_sequence[obj.symbol] = obj.sequence_number
                else:
                    record = obj.to_dict(numeric_type=str)
                record["receipt_timestamp"] = receipt
                self.items[channel].append(record)
            return [cb]
        return {c: make(c) for c in self.channels}

    def enough(self) -> bool:
        return all(len(self.items[c]) >= n for c, n in self.minimum.items())


def collect_config(sim, backend: dict, channels=CHANNELS) -> dict:
    return {
        "log": {"disabled": True},
        "backpack": {"rest_url": sim.rest_url, "ws_url": sim.ws_url, "ca_file": str(sim.ca_file)},
        "collect": {
            "symbols": ["BTC-USDC-PERP", "SOL_USDC"],  # both symbol forms are accepted
            "channels": channels,
            "candle_interval": "1m",
            "candle_closed_only": False,  # every update of the open candle, so a short run sees several
            # no periodic extra snapshots, so the backend holds exactly what callbacks saw
            "backends": [{**backend, "book": {"snapshot_interval": 10**9}}],
            "metrics": {"host": "127.0.0.1", "port": 0},
        },
    }


async def run_collector(sim, backend: dict, channels=CHANNELS, enough=ENOUGH) -> tuple[Seen, str]:
    config = collect_config(sim, backend, channels)
    seen = Seen(channels, enough)
    collector = Collector(config, CollectSettings.parse(config["collect"]), extra_callbacks=seen.callbacks())
    await collector.start()
    try:
        assert await wait_until(seen.enough, timeout=60)
        async with aiohttp.ClientSession() as http:
            async with http.get(collector.server.url + "/metrics") as resp:
                metrics = await resp.text()
    finally:
        await collector.stop()
    return seen, metrics


def utc(ts):
    # the writer's conversion of a float timestamp to a naive UTC TIMESTAMP
    return None if ts is None else datetime.fromtimestamp(ts, timezone.utc).replace(tzinfo=None)


def book_payload(record):
    return {"delta": record["delta"]} if "delta" in record else {"snapshot": record["book"]}


def jsonable(value):
    return json.loads(json.dumps(value))  # tuples -> lists, as any JSON store returns them


# ---- Redis ----------------------------------------------------------------------------------------

def redis_value(value):
    if value is None:
        return "None"  # cryptofeed's Redis backends write None as the string None
    return repr(value) if isinstance(value, float) else str(value)


async def test_collect_into_redis_streams_keeps_every_record(clean_symbols, redis_server):
    import redis.asyncio as aioredis

    async with BackpackSimulator(symbols=MARKETS, seed=11, rate=150) as sim:
        seen, metrics = await run_collector(sim, {"type": "redis_stream", "host": "127.0.0.1", "port": redis_server.port})

    client = aioredis.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    try:
        stored = {}
        for key in await client.keys("*"):
            stored[key] = [fields for _, fields in await client.xrange(key)]
    finally:
        await client.aclose()

    keys = {TRADES: "trades", L2_BOOK: "book", TICKER: "ticker", CANDLES: "candles", FUNDING: "funding"}
    for channel in CHANNELS:
        expected_by_key = defaultdict(list)
        for record in seen.items[channel]:
            expected_by_key[f"{keys[channel]}-{record['exchange']}-{record['symbol']}"].append(record)
        for key, expected in expected_by_key.items():
            got = stored.get(key, [])
            assert len(got) == len(expected), (channel, key)
            for want, have in zip(expected, got):
                want, have = dict(want), dict(have)
                if channel == L2_BOOK:
                    field = "delta" if "delta" in want else "book"
                    assert json.loads(have.pop(field)) == jsonable(want.pop(field))
                want = {k: redis_value(v) for k, v in want.items()}
                if channel == CANDLES:
                    want["closed"] = str(want["closed"])
                assert have == want, (channel, key)
    # trades carry their id, books their sequence number: consecutive, so a consumer sees any gap
    for symbol in ("BTC-USDC-PERP", "SOL-USDC"):
        ids = [int(f["id"]) for f in stored[f"trades-BACKPACK-{symbol}"]]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        book = stored[f"book-BACKPACK-{symbol}"]
        assert "book" in book[0] and book[0]["prev_sequence_number"] == "None"  # starts from a snapshot
        assert all(rec["prev_sequence_number"] == before["sequence_number"] for before, rec in zip(book, book[1:]))
        seqs = [int(f["sequence_number"]) for f in book]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert 'backpack_ws_frames_total{channel="trade",exchange="BACKPACK",feed="native",symbol="SOL_USDC"}' in metrics


# ---- PostgreSQL -------------------------------------------------------------------------------------

async def apply_schema(server):
    import asyncpg

    conn = await asyncpg.connect(**server.dsn())
    try:
        await conn.execute(resources.files("cryptofeed_backpack").joinpath("schema/postgres.sql").read_text())
    finally:
        await conn.close()


def expected_rows(channel, records):
    rows = []
    for r in records:
        head = (utc(r["timestamp"]), utc(r["receipt_timestamp"]), r["exchange"], r["symbol"])
        if channel == TRADES:
            rows.append(head + (r["side"], Decimal(r["amount"]), Decimal(r["price"]), r["id"], r["type"]))
        elif channel == TICKER:
            rows.append(head + (Decimal(r["bid"]), Decimal(r["ask"])))
        elif channel == CANDLES:
            rows.append(head + (utc(r["start"]), utc(r["stop"]), r["interval"], r["trades"], *(Decimal(r[k]) for k in
                        ("open", "close", "high", "low", "volume")), r["closed"]))
        elif channel == FUNDING:
            rows.append(head + (Decimal(r["mark_price"]), Decimal(r["rate"]), utc(r["next_funding_time"]), None))
        elif channel == OPEN_INTEREST:
            rows.append(head + (Decimal(r["open_interest"]),))
        elif channel == LIQUIDATIONS:
            rows.append(head + (r["side"], Decimal(r["quantity"]), Decimal(r["price"]), r["id"], r["status"]))
        elif channel == L2_BOOK:
            rows.append(head + (r["sequence_number"], r["prev_sequence_number"], "delta" if "delta" in r else "snapshot",
                                jsonable(book_payload(r))))
    return rows


QUERIES = {
    TRADES: "SELECT timestamp, receipt_timestamp, exchange, symbol, side, amount, price, id, type FROM trades",
    TICKER: "SELECT timestamp, receipt_timestamp, exchange, symbol, bid, ask FROM ticker",
    CANDLES: "SELECT timestamp, receipt_timestamp, exchange, symbol, start, stop, interval, trades, open, close, high, low,"
             " volume, closed FROM candles",
    FUNDING: "SELECT timestamp, receipt_timestamp, exchange, symbol, mark_price, rate, next_funding_time, predicted_rate FROM funding",
    OPEN_INTEREST: "SELECT timestamp, receipt_timestamp, exchange, symbol, open_interest FROM open_interest",
    LIQUIDATIONS: "SELECT timestamp, receipt_timestamp, exchange, symbol, side, quantity, price, id, status FROM liquidations",
    L2_BOOK: "SELECT timestamp, receipt_timestamp, exchange, symbol, sequence_number, prev_sequence_number, kind, data FROM book",
}


async def stored_rows(server):
    import asyncpg

    conn = await asyncpg.connect(**server.dsn())
    try:
        result = {}
        for channel, query in QUERIES.items():
            rows = [tuple(r) for r in await conn.fetch(query)]
            if channel == L2_BOOK:
                rows = [r[:-1] + (json.loads(r[-1]),) for r in rows]
            result[channel] = rows
        return result
    finally:
        await conn.close()


def canonical(rows):
    return sorted(json.dumps(r, default=str, sort_keys=True) for r in rows)


async def test_collect_into_postgres_keeps_every_record_of_every_channel(clean_symbols, postgres_server):
    await apply_schema(postgres_server)
    backend = {"type": "postgres", **{k: v for k, v in postgres_server.dsn().items() if k != "database"},
               "db": postgres_server.db}
    async with BackpackSimulator(symbols=MARKETS, seed=12, rate=150, open_interest_interval=1.0) as sim:
        seen, _ = await run_collector(sim, backend, ALL_CHANNELS, ENOUGH_ALL)
    stored = await stored_rows(postgres_server)
    for channel in ALL_CHANNELS:
        assert canonical(stored[channel]) == canonical(expected_rows(channel, seen.items[channel])), channel
    assert all(row[-1] is None for row in stored[FUNDING])  # Backpack has no predicted rate: NULL, not a dead writer
    assert any(row[-1] != row[-1].to_integral_value() for row in stored[OPEN_INTEREST])  # fractional, kept exact


async def test_two_redundant_collectors_into_one_postgres_store_each_record_once(clean_symbols, postgres_server):
    await apply_schema(postgres_server)
    backend = {"type": "postgres", "host": "127.0.0.1", "port": postgres_server.port, "user": postgres_server.user,
               "db": postgres_server.db}
    async with BackpackSimulator(symbols=["SOL_USDC"], seed=13, rate=100) as sim:
        configs = [collect_config(sim, backend) for _ in range(2)]
        for config in configs:
            config["collect"].update(symbols=["SOL-USDC"], channels=[TRADES, L2_BOOK])
        seen = [Seen(), Seen()]
        collectors = [Collector(c, CollectSettings.parse(c["collect"]), extra_callbacks=s.callbacks()) for c, s in zip(configs, seen)]
        for collector in collectors:
            await collector.start()
        try:
            assert await wait_until(lambda: all(len(s.items[TRADES]) >= 20 for s in seen), timeout=60)
        finally:
            for collector in collectors:
                await collector.stop()
    stored = await stored_rows(postgres_server)
    # both saw the same trades (same ids); the table holds the union once, keyed by (exchange, symbol, id)
    ids = [{r["id"] for r in s.items[TRADES]} for s in seen]
    assert ids[0] & ids[1]
    assert sorted(r[7] for r in stored[TRADES]) == sorted(ids[0] | ids[1])
    deltas = [{r["sequence_number"] for r in s.items[L2_BOOK] if "delta" in r} for s in seen]
    stored_deltas = [r[4] for r in stored[L2_BOOK] if r[6] == "delta"]
    assert len(stored_deltas) == len(set(stored_deltas)) == len(deltas[0] | deltas[1])


# ---- the command line -----------------------------------------------------------------------------

async def poll_http(url: str, bound_s: float = 30.0):
    """GET url until it answers 200 (the process is starting); returns the last (status, text)."""
    import asyncio
    import time

    deadline = time.monotonic() + bound_s
    last = (None, "")
    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as resp:
                    last = (resp.status, await resp.text())
                    if resp.status == 200:
                        return last
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    return last


async def test_collect_command_runs_a_config_file_into_redis_with_probes(clean_symbols, redis_server, tmp_path):
    import asyncio
    import sys

    import redis.asyncio as aioredis
    import yaml

    from tests.integration.backend_servers import free_port

    async with BackpackSimulator(symbols=["SOL_USDC"], seed=14, rate=100) as sim:
        config = collect_config(sim, {"type": "redis_stream", "host": "127.0.0.1", "port": redis_server.port})
        config["log"] = {"filename": str(tmp_path / "collect.log"), "level": "WARNING"}
        config["collect"].update(symbols=["SOL-USDC"], channels=[TRADES, L2_BOOK])
        del config["collect"]["metrics"]  # the port comes from the command line
        path = tmp_path / "collect.yaml"
        path.write_text(yaml.safe_dump(config))
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cryptofeed_backpack.cli", "collect", str(path), "--duration", "8",
            "--metrics-port", str(port), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            ready = await poll_http(f"http://127.0.0.1:{port}/health/ready")
            metrics = await poll_http(f"http://127.0.0.1:{port}/metrics")
            out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert ready[0] == 200 and '"ready": true' in ready[1]
    assert 'backpack_book_events_total{event="snapshots",exchange="BACKPACK",feed="native",symbol="SOL_USDC"} 1.0' in metrics[1]
    client = aioredis.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    try:
        trades = await client.xrange("trades-BACKPACK-SOL-USDC")
        books = await client.xrange("book-BACKPACK-SOL-USDC")
    finally:
        await client.aclose()
    assert trades and all(fields["id"] for _, fields in trades)
    assert books and all(int(fields["sequence_number"]) > 0 for _, fields in books)


async def test_stream_command_serves_metrics_on_its_port(clean_symbols):
    import asyncio
    import signal
    import sys

    from tests.integration.backend_servers import free_port

    async with BackpackSimulator(symbols=["SOL_USDC"], seed=15, rate=100) as sim:
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cryptofeed_backpack.cli", "stream", "--symbols", "SOL-USDC", "--channels", "trades",
            "--rest-url", sim.rest_url, "--ws-url", sim.ws_url, "--ca-file", str(sim.ca_file), "--metrics-port", str(port),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        try:
            ready = await poll_http(f"http://127.0.0.1:{port}/health/ready")
            # ready means subscribed: the first trade frame may come a moment later
            metrics, deadline = "", asyncio.get_running_loop().time() + 30
            while asyncio.get_running_loop().time() < deadline and trade_frames(metrics) == 0:
                _, metrics = await poll_http(f"http://127.0.0.1:{port}/metrics")
                await asyncio.sleep(0.1)
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
    assert ready[0] == 200
    assert trade_frames(metrics) > 0


def trade_frames(metrics: str) -> float:
    lines = [line for line in metrics.splitlines() if line.startswith("backpack_ws_frames_total{") and 'channel="trade"' in line]
    return float(lines[0].rsplit(" ", 1)[1]) if lines else 0.0


async def test_the_shipped_example_config_collects_into_redis(clean_symbols, redis_server):
    from pathlib import Path

    from cryptofeed_backpack.collect import load_config

    config = load_config(Path(__file__).resolve().parents[2] / "examples" / "collect.yaml")
    async with BackpackSimulator(symbols=MARKETS, seed=16, rate=100) as sim:
        # only what differs on a test machine: the simulator's endpoints, the server's port, no log file
        config["backpack"].update(rest_url=sim.rest_url, ws_url=sim.ws_url, ca_file=str(sim.ca_file))
        config["collect"]["backends"][0]["port"] = redis_server.port
        config["collect"]["metrics"]["port"] = 0
        config["log"] = {"disabled": True}
        seen = Seen()
        collector = Collector(config, CollectSettings.parse(config["collect"]), extra_callbacks=seen.callbacks())
        await collector.start()
        try:
            assert await wait_until(lambda: len(seen.items[TRADES]) >= 10 and len(seen.items[FUNDING]) >= 1, timeout=60)
        finally:
            await collector.stop()
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    try:
        stored = {c: sum([await client.xlen(f"{k}-BACKPACK-{s}") for s in ("BTC-USDC-PERP", "SOL-USDC")])
                  for c, k in ((TRADES, "trades"), (L2_BOOK, "book"), (FUNDING, "funding"))}
    finally:
        await client.aclose()
    assert stored == {c: len(seen.items[c]) for c in stored} and stored[TRADES] >= 10


# ---- TCP socket (cryptofeed.backends.socket) --------------------------------------------------------

async def test_collect_into_a_tcp_socket_keeps_every_record(clean_symbols):
    import asyncio

    received = defaultdict(list)  # cryptofeed's key (trades, book, ...) -> records
    clients = []

    async def on_client(reader, writer):
        clients.append(writer)
        decoder, buffer = json.JSONDecoder(), ""
        while chunk := await reader.read(65536):
            buffer += chunk.decode()
            while buffer:
                try:
                    message, end = decoder.raw_decode(buffer)
                except json.JSONDecodeError:
                    break  # the rest of this object is still on its way
                received[message["type"]].append(message["data"])
                buffer = buffer[end:]

    server = await asyncio.start_server(on_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with BackpackSimulator(symbols=MARKETS, seed=17, rate=150) as sim:
            seen, _ = await run_collector(sim, {"type": "socket", "addr": "tcp://127.0.0.1", "port": port})
        keys = {TRADES: "trades", L2_BOOK: "book", TICKER: "ticker", CANDLES: "candles", FUNDING: "funding"}
        assert await wait_until(lambda: all(len(received[keys[c]]) >= len(seen.items[c]) for c in CHANNELS), timeout=30)
    finally:
        server.close()
        for writer in clients:  # cryptofeed's socket writers never close their end
            writer.close()
        await server.wait_closed()
    for channel in CHANNELS:
        assert received[keys[channel]] == jsonable(seen.items[channel]), channel
    assert all(r["sequence_number"] for r in received["book"])


# ---- ZeroMQ ---------------------------------------------------------------------------------------

async def test_collect_into_zmq_publishes_every_record(clean_symbols):
    """cryptofeed's ZMQ backends PUB-connect to host:port; a SUB socket bound there receives
    ``<exchange>-<key>-<symbol> <json>`` for each record, the installed pyzmq's (the [zmq] extra)."""
    import asyncio

    zmq = pytest.importorskip("zmq")
    import zmq.asyncio

    from tests.integration.backend_servers import free_port

    port = free_port()
    context = zmq.asyncio.Context()
    sub = context.socket(zmq.SUB)
    sub.setsockopt_string(zmq.SUBSCRIBE, "")
    sub.bind(f"tcp://127.0.0.1:{port}")
    received = defaultdict(list)

    async def receive():
        while True:
            topic, _, body = (await sub.recv_string()).partition(" ")
            received[topic].append(json.loads(body))

    receiver = asyncio.create_task(receive())
    try:
        async with BackpackSimulator(symbols=MARKETS, seed=12, rate=150) as sim:
            seen, _ = await run_collector(sim, {"type": "zmq", "host": "127.0.0.1", "port": port})
        # the backends' writers have ended; what they sent is in flight on loopback
        expected = sum(len(v) for v in seen.items.values())
        await wait_until(lambda: sum(len(v) for v in received.values()) >= expected, timeout=10)
    finally:
        receiver.cancel()
        sub.close(linger=0)
        context.term()

    keys = {TRADES: "trades", L2_BOOK: "book", TICKER: "ticker", CANDLES: "candles", FUNDING: "funding"}
    for channel in CHANNELS:
        expected_by_topic = defaultdict(list)
        for record in seen.items[channel]:
            expected_by_topic[f"{record['exchange']}-{keys[channel]}-{record['symbol']}"].append(jsonable(record))
        assert expected_by_topic, channel
        for topic, expected in expected_by_topic.items():
            assert received[topic] == expected, (channel, topic)
    for symbol in ("BTC-USDC-PERP", "SOL-USDC"):
        ids = [int(r["id"]) for r in received[f"BACKPACK-trades-{symbol}"]]
        assert ids == list(range(ids[0], ids[0] + len(ids)))
        book = received[f"BACKPACK-book-{symbol}"]
        assert "book" in book[0] and book[0]["prev_sequence_number"] is None
        assert all(rec["prev_sequence_number"] == before["sequence_number"] for before, rec in zip(book, book[1:]))


# ---- a backend that cannot write --------------------------------------------------------------------

async def test_a_backend_that_stops_writing_is_reported_in_the_log_metrics_and_health(clean_symbols, tmp_path):
    """cryptofeed's writer task dies silently when its server is gone; the feed reports it instead."""
    from tests.integration.backend_servers import free_port

    nothing_listens = free_port()
    async with BackpackSimulator(symbols=["SOL_USDC"], seed=15, rate=100) as sim:
        config = collect_config(sim, {"type": "redis_stream", "host": "127.0.0.1", "port": nothing_listens})
        config["log"] = {"filename": str(tmp_path / "collect.log"), "level": "WARNING"}
        config["collect"].update(symbols=["SOL-USDC"], channels=[TRADES])
        collector = Collector(config, CollectSettings.parse(config["collect"]))
        await collector.start()
        try:
            assert await wait_until(lambda: collector.feed.backend_failure is not None, timeout=30)
            async with aiohttp.ClientSession() as http:
                async with http.get(collector.server.url + "/health/ready") as resp:
                    ready_status = resp.status
                async with http.get(collector.server.url + "/health") as resp:
                    health = await resp.json()
                async with http.get(collector.server.url + "/metrics") as resp:
                    metrics = await resp.text()
        finally:
            await collector.stop()

    failure = collector.feed.backend_failure
    assert failure.backend == "TradeStream" and "ConnectionError" in failure.error
    assert ready_status == 503
    reasons = {r["code"]: r["message"] for r in health["feeds"]["native"]["reasons"]}
    assert reasons["backend_failed"].startswith("the TradeStream backend stopped writing")
    assert 'backpack_backend_failures_total{exchange="BACKPACK",feed="native"} 1.0' in metrics
    assert "the TradeStream backend stopped writing" in (tmp_path / "collect.log").read_text()


async def test_a_backend_still_writing_at_stop_is_named_cancelled_and_its_queue_counted(clean_symbols, tmp_path):
    """A Redis server that accepts and never answers: the writer blocks on its first reply, the
    records queue up, and the stop waits collect.stop_drain_s, says so, and does not hang."""
    import asyncio
    import time

    accepted: list = []

    async def never_answers(reader, writer):
        accepted.append(writer)
        await reader.read()  # reads until the client goes, answers nothing

    black_hole = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = black_hole.sockets[0].getsockname()[1]
    try:
        async with BackpackSimulator(symbols=["SOL_USDC"], seed=16, rate=200) as sim:
            config = collect_config(sim, {"type": "redis_stream", "host": "127.0.0.1", "port": port})
            config["log"] = {"filename": str(tmp_path / "collect.log"), "level": "WARNING"}
            config["collect"].update(symbols=["SOL-USDC"], channels=[TRADES], stop_drain_s=0.3)
            config["backpack"]["connection"] = {"stop_drain_s": 0.2}  # the feed's own wait for its backends
            config["collect"].pop("metrics")
            collector = Collector(config, CollectSettings.parse(config["collect"]))
            await collector.start()
            trades = collector.backends[0]
            assert await wait_until(lambda: accepted and trades.queue.qsize() >= 3, timeout=30)
            started = time.monotonic()
            await collector.stop()
            stop_s = time.monotonic() - started
    finally:
        for writer in accepted:
            writer.close()
        black_hole.close()
        await black_hole.wait_closed()

    assert trades.worker.cancelled()
    assert collector.feed.backend_failure is None  # cancelled at stop is not a writer that failed
    log = (tmp_path / "collect.log").read_text()
    line = next(line for line in log.splitlines() if "still writing" in line)
    assert "the TradeStream backend was still writing 0.3s into the stop: cancelled" in line
    queued = int(line.split("cancelled, ")[1].split(" records")[0])
    assert queued >= 3
    assert stop_s >= 0.29  # it did wait for the writer before giving up on it (less a timer's early wake-up)


async def stored_trade_ids(port: int, key: str) -> list[str]:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=port, decode_responses=True)
    try:
        return [fields["id"] for _, fields in await client.xrange(key)]
    finally:
        await client.aclose()


async def slow_replies(port: int, delay: float):
    """A loopback relay to the server on ``port`` that holds each of its replies ``delay`` seconds,
    so a backend writer spends that long on every batch (close it with ``close()``/``wait_closed()``)."""
    import asyncio

    async def relay(client_reader, client_writer):
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)

        async def pipe(reader, writer, hold):
            while data := await reader.read(65536):
                await asyncio.sleep(hold)
                writer.write(data)
                await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_reader, server_writer, 0), pipe(server_reader, client_writer, delay),
                             return_exceptions=True)

    return await asyncio.start_server(relay, "127.0.0.1", 0)


async def test_a_stop_while_the_writer_awaits_its_server_still_writes_every_queued_record(redis_server):
    """cryptofeed 2.5's BackendQueue.stop ends the writer loop as soon as it queues the stop sentinel,
    so the records queued behind a batch in flight were lost (the Redis test above lost 2 of 75
    trades now and then). A relay that holds Redis' replies for 0.3 s keeps a batch in flight while
    more records queue and the stop comes, in the order a feed's shutdown stops its backends:
    drain_backends, then cryptofeed's own stop. Every record must be stored, in order; the backend
    is cryptofeed's own class, as a program that adds backends to a BackpackFeed itself uses it."""
    from cryptofeed.backends.redis import TradeStream
    from cryptofeed.types import Trade

    from cryptofeed_backpack.backend_watch import drain_backends

    slow = await slow_replies(redis_server.port, 0.3)
    backend = TradeStream(host="127.0.0.1", port=slow.sockets[0].getsockname()[1], numeric_type=str)
    backend.start(asyncio.get_running_loop())
    trades = [Trade("BACKPACK", "SOL-USDC", "buy", Decimal("1.5"), Decimal("150.25"), 1700000000.0 + i, id=str(i))
              for i in range(1, 7)]
    try:
        await backend(trades[0], 1700000000.5)
        assert await wait_until(lambda: backend.queue.qsize() == 0, timeout=10)  # the writer took it: in flight
        for trade in trades[1:]:
            await backend(trade, 1700000000.5)
        await drain_backends([backend], timeout=30, owner="test")
        await backend.stop()
        await asyncio.wait_for(backend.worker, timeout=30)  # and the writer ends by itself
    finally:
        slow.close()
        await slow.wait_closed()

    stored = await stored_trade_ids(redis_server.port, "trades-BACKPACK-SOL-USDC")
    assert stored == [str(i) for i in range(1, 7)]


async def test_a_feed_with_cryptofeeds_own_backend_stores_every_trade_its_callbacks_saw(clean_symbols, redis_server):
    """The same, through BackpackFeed's own shutdown: a FeedHandler with cryptofeed's TradeStream
    behind the slow relay, stopped while trades flow. Without the feed's drain a batch is nearly
    always in flight at stop with trades queued behind it."""
    from cryptofeed import FeedHandler
    from cryptofeed.backends.redis import TradeStream

    from cryptofeed_backpack import BackpackFeed
    from cryptofeed_backpack.symbols import load_symbols

    slow = await slow_replies(redis_server.port, 0.3)
    seen = []

    async def record(trade, receipt):
        seen.append(trade.id)

    try:
        async with BackpackSimulator(symbols=["SOL_USDC"], seed=17, rate=300) as sim:
            config = sim.config()
            await load_symbols(config, refresh=True)  # what FeedHandler.add_feed would do, without blocking the loop
            backend = TradeStream(host="127.0.0.1", port=slow.sockets[0].getsockname()[1], numeric_type=str)
            feed = BackpackFeed(config=config, symbols=["SOL-USDC"], channels=[TRADES],
                                callbacks={TRADES: [backend, record]})
            handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
            handler.add_feed(feed)
            handler.run(start_loop=False, install_signal_handlers=False)
            try:
                assert await wait_until(lambda: len(seen) >= 30, timeout=60)
            finally:
                await handler.stop_async()
            await asyncio.wait_for(backend.worker, timeout=30)
    finally:
        slow.close()
        await slow.wait_closed()

    stored = await stored_trade_ids(redis_server.port, "trades-BACKPACK-SOL-USDC")
    assert stored == seen
