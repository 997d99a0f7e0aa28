"""/metrics and the health probes, read over HTTP from live feeds on the simulator."""
import aiohttp
import pytest
from cryptofeed.defines import L2_BOOK, TICKER, TRADES
from prometheus_client.parser import text_string_to_metric_families

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.observability import HealthThresholds, serve_observability
from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.symbols import load_symbols
from tests.integration.feed_harness import quiesce, running_feed, wait_until

pytestmark = [pytest.mark.integration]
SYM, STD = "SOL_USDC", "SOL-USDC"


async def get(http, server, path):
    async with http.get(server.url + path) as resp:
        return resp.status, (await resp.text() if path == "/metrics" else await resp.json())


def samples(text):
    """{(name, frozenset(labels)): value} of a Prometheus exposition, plus the HELP text per family."""
    values, helps = {}, {}
    for family in text_string_to_metric_families(text):
        helps[family.name] = family.documentation
        for s in family.samples:
            values[(s.name, frozenset(s.labels.items()))] = s.value
    return values, helps


def value(values, name, **labels):
    return values[(name, frozenset(labels.items()))]


async def test_health_is_not_ok_before_any_connection(clean_symbols):
    async with BackpackSimulator(symbols=[SYM], seed=1, rate=50) as sim:
        await load_symbols(sim.config(), refresh=True)
        feed = BackpackFeed(config=sim.config(), symbols=[STD], channels=[TRADES, L2_BOOK])  # never started
        server = await serve_observability([feed])
        try:
            async with aiohttp.ClientSession() as http:
                health_status, health = await get(http, server, "/health")
                ready_status, ready = await get(http, server, "/health/ready")
                live_status, _ = await get(http, server, "/health/live")
                metrics_status, text = await get(http, server, "/metrics")
        finally:
            await server.close()
    assert health_status == 503 and health["feeds"]["native"]["status"] == "starting"
    assert [r["code"] for r in health["feeds"]["native"]["reasons"]][0] == "not_connected"
    assert ready_status == 503 and ready["ready"] is False
    assert live_status == 200
    # every counter exists from the start, at 0, with its labels
    values, helps = samples(text)
    assert metrics_status == 200
    assert value(values, "backpack_ws_frames_total", exchange="BACKPACK", channel="trade", symbol=SYM, feed="native") == 0
    assert value(values, "backpack_ws_frames_total", exchange="BACKPACK", channel="depth", symbol=SYM, feed="native") == 0
    for reason in ("undecodable", "unknown_frame", "unknown_stream", "unknown_symbol", "ws_error"):
        assert value(values, "backpack_dropped_frames_total", exchange="BACKPACK", reason=reason, feed="native") == 0
    assert value(values, "backpack_book_events_total", exchange="BACKPACK", symbol=SYM, event="gaps", feed="native") == 0
    assert value(values, "backpack_ws_error_frames_total", exchange="BACKPACK", code="4006", feed="native") == 0
    assert all(helps[name] for name in helps)
    assert not any(name.endswith("_created") for name, _ in values)


async def test_live_feed_metrics_equal_what_callbacks_saw_and_probes_follow_the_feed(clean_symbols):
    async with BackpackSimulator(symbols=[SYM], seed=2, rate=200) as sim:
        async with running_feed(sim, [STD], [TRADES, L2_BOOK, TICKER]) as (feed, rec):
            feed.health_thresholds = HealthThresholds(window_s=2.0, max_drops=2, stream_silence_s=1.0)
            server = await serve_observability([feed])
            try:
                async with aiohttp.ClientSession() as http:
                    assert await wait_until(lambda: feed.health().ready and len(rec.items[TRADES]) >= 5)
                    ready_status, ready = await get(http, server, "/health/ready")
                    health_status, health = await get(http, server, "/health")

                    # stop the market: the busy streams go silent, the book goes stale, readiness drops
                    assert await quiesce(sim, feed, [SYM])
                    _, text = await get(http, server, "/metrics")
                    trades_seen, books_seen = len(rec.items[TRADES]), len(rec.items[L2_BOOK])
                    # both reasons: the trade stream and the book each pass the 1 s threshold on their own clock
                    assert await wait_until(lambda: {"stream_silent", "book_stale"} <= {r.code for r in feed.health().reasons})
                    silent_status, silent = await get(http, server, "/health/ready")
                    silent_health = feed.health()

                    # the market moves again: every reason clears by itself
                    sim.resume()
                    assert await wait_until(lambda: feed.health().status == "ok" and feed.health().ready)
                    # two malformed frames within the window: degraded for dropped frames, cleared after it
                    sim.faults.send_malformed()
                    sim.faults.send_malformed()
                    assert await wait_until(lambda: "dropped_frames" in [r.code for r in feed.health().reasons])
                    _, dropped = await get(http, server, "/health")
                    assert await wait_until(lambda: "dropped_frames" not in [r.code for r in feed.health().reasons])
            finally:
                await server.close()
    assert ready_status == 200 and ready["ready"] is True
    assert health_status == 200 and health["status"] == "ok"
    book = health["feeds"]["native"]["details"]["books"][SYM]
    assert book["synced"] is True and book["last_update_age_s"] is not None and book["snapshot_age_s"] is not None
    streams = health["feeds"]["native"]["details"]["streams"]
    assert streams[f"trade.{SYM}"]["status"] == "delivering" and streams[f"depth.{SYM}"]["status"] == "delivering"

    values, helps = samples(text)
    frames = value(values, "backpack_ws_frames_total", exchange="BACKPACK", channel="trade", symbol=SYM, feed="native")
    assert frames == trades_seen > 0  # one trade frame per trade callback
    depth = value(values, "backpack_ws_frames_total", exchange="BACKPACK", channel="depth", symbol=SYM, feed="native")
    assert depth >= books_seen - 1 > 0  # every delta callback came from a frame; the snapshot came from REST
    assert value(values, "backpack_book_events_total", exchange="BACKPACK", symbol=SYM, event="snapshots", feed="native") == 1
    assert value(values, "backpack_book_events_total", exchange="BACKPACK", symbol=SYM, event="gaps", feed="native") == 0
    assert value(values, "backpack_ws_connects_total", exchange="BACKPACK", feed="native") == 1
    assert value(values, "backpack_book_last_snapshot_timestamp_seconds", exchange="BACKPACK", symbol=SYM, feed="native") > 0
    assert "process_cpu_seconds_total" in {name for name, _ in values}
    assert helps["backpack_ws_frames"].startswith("Data frames received")

    assert silent_status == 503 and silent["ready"] is False
    codes = {r.code for r in silent_health.reasons}
    assert {"stream_silent", "book_stale"} <= codes
    assert silent_health.details["streams"][f"trade.{SYM}"]["status"] == "silent"
    assert dropped["status"] == "degraded" and dropped["feeds"]["native"]["details"]["recent"]["dropped_frames"] >= 2


async def test_stopped_feed_fails_liveness(clean_symbols):
    async with BackpackSimulator(symbols=[SYM], seed=3, rate=50) as sim:
        async with running_feed(sim, [STD], [TRADES]) as (feed, rec):
            assert await wait_until(lambda: feed.health().status == "ok")
            server = await serve_observability([feed], host="127.0.0.1")
        try:  # the handler has stopped the feed on leaving the block
            async with aiohttp.ClientSession() as http:
                live_status, live = await get(http, server, "/health/live")
        finally:
            await server.close()
    assert live_status == 503 and live["feeds"]["native"] is False


async def test_one_endpoint_serves_the_native_and_the_ccxt_feed(clean_symbols):
    pytest.importorskip("ccxt")
    from cryptofeed import FeedHandler

    from cryptofeed_backpack.ccxt_feed import CcxtBackpackFeed
    from tests.integration.feed_harness import Recorder

    async with BackpackSimulator(symbols=[SYM], seed=4, rate=100) as sim:
        async with running_feed(sim, [STD], [TRADES, L2_BOOK]) as (native, _):
            ccxt_rec = Recorder()
            ccxt = CcxtBackpackFeed(config=sim.config(), symbols=[STD], channels=[TRADES, L2_BOOK],
                                    callbacks=ccxt_rec.callbacks([TRADES, L2_BOOK]))
            handler = FeedHandler(config={"log": {"disabled": True}, "uvloop": False})
            handler.add_feed(ccxt)
            handler.run(start_loop=False, install_signal_handlers=False)
            server = await serve_observability([native, ccxt])
            try:
                async with aiohttp.ClientSession() as http:
                    assert await wait_until(lambda: native.health().ready and ccxt.health().ready
                                            and len(ccxt_rec.items[TRADES]) >= 3)
                    ready_status, ready = await get(http, server, "/health/ready")
                    _, text = await get(http, server, "/metrics")
            finally:
                await server.close()
                await handler.stop_async()
    assert ready_status == 200 and set(ready["feeds"]) == {"native", "ccxt"}
    values, _ = samples(text)
    for feed in ("native", "ccxt"):
        assert value(values, "backpack_feed_info", exchange="BACKPACK", implementation=feed, feed=feed) == 1
        assert value(values, "backpack_ws_frames_total", exchange="BACKPACK", channel="trade", symbol=SYM, feed=feed) > 0
    assert value(values, "backpack_feed_errors_total", exchange="BACKPACK", error="BackpackConnectionError", feed="ccxt") == 0
