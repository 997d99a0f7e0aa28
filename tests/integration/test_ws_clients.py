"""What the WebSocket connection does at its edges, the same on both clients (connection.ws_client):
a half-open peer found by protocol pings, a clean Close from the server, a frame above
max_frame_bytes, and connect failures (untrusted CA, refused port, a proxy refusing CONNECT) as
BackpackConnectionErrors that say what to do. Real stack over loopback TLS against the simulator."""
from __future__ import annotations

import pytest
from cryptofeed.defines import L2_BOOK, TRADES

from cryptofeed_backpack.config import WS_CLIENTS
from cryptofeed_backpack.errors import BackpackConnectionError
from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.symbols import load_symbols
from tests.integration.feed_harness import client_config, feed_book, quiesce, running_feed, wait_until, websocket_clients
from tests.integration.proxies import free_port, start_tinyproxy

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SYM, STD = "BTC_USDC_PERP", "BTC-USDC-PERP"
# the simulator keeps a half-open socket this long before it drops it: far beyond the ping bound below
HALF_OPEN_S = 120.0
FAST_PINGS = {"ping_interval_s": 0.5, "ping_timeout_s": 0.5}


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "WSS_PROXY", "wss_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_a_half_open_peer_is_found_by_pings_and_replaced(clean_symbols, ws_client):
    async with BackpackSimulator(symbols=[SYM], seed=5, rate=200) as sim:
        config = client_config(sim, ws_client, FAST_PINGS)
        async with running_feed(sim, [STD], [TRADES], config=config) as (feed, rec):
            assert await wait_until(lambda: len(rec.items[TRADES]) > 3)
            assert sim.faults.half_open(HALF_OPEN_S) == 1
            # the dead socket sends nothing and answers no ping: only the client's pings can end it
            assert await wait_until(lambda: feed.metrics.counters["ws_connects"] >= 2, timeout=15)
            before = len(rec.items[TRADES])
            assert await wait_until(lambda: len(rec.items[TRADES]) > before + 3)
            assert feed.metrics.counters["reconnects"] >= 1
            assert websocket_clients(feed) == {ws_client}


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_a_clean_close_from_the_server_ends_the_stream_and_the_feed_reconnects(clean_symbols, ws_client):
    async with BackpackSimulator(symbols=[SYM], seed=6, rate=300) as sim:
        async with running_feed(sim, [STD], [TRADES, L2_BOOK], config=client_config(sim, ws_client)) as (feed, rec):
            assert await wait_until(lambda: feed.book_state(SYM) is not None and feed.book_state(SYM).synced)
            assert sim.faults.server_close(1001, "going away") == 1
            assert await wait_until(lambda: feed.metrics.counters["ws_connects"] >= 2, timeout=20)
            assert await wait_until(lambda: feed.book_state(SYM).synced)
            # a 1001 is a normal end of the stream, not a failed attempt
            assert feed.metrics.counters["reconnects"] == 0
            assert await quiesce(sim, feed, [SYM])
            truth = sim.book(SYM)
            assert feed_book(feed, SYM) == (truth.bids, truth.asks)


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_a_frame_above_max_frame_bytes_closes_the_socket_and_is_never_handled(clean_symbols, ws_client):
    async with BackpackSimulator(symbols=[SYM], seed=7, rate=200) as sim:
        config = client_config(sim, ws_client, {"max_frame_bytes": 64 * 1024})
        async with running_feed(sim, [STD], [TRADES, L2_BOOK], config=config) as (feed, rec):
            assert await wait_until(lambda: feed.book_state(SYM) is not None and feed.book_state(SYM).synced)
            assert sim.faults.send_oversized(SYM, 256 * 1024) == 1
            assert await wait_until(lambda: feed.metrics.counters["ws_connects"] >= 2, timeout=20)
            assert feed.metrics.counters["reconnects"] >= 1
            before = len(rec.items[TRADES])
            assert await wait_until(lambda: len(rec.items[TRADES]) > before + 3)
            assert feed.metrics.counters["dropped_messages"] == 0  # refused by the socket, not by the handler


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_an_untrusted_certificate_says_to_set_the_ca_file(clean_symbols, ws_client):
    async with BackpackSimulator(symbols=[SYM], seed=3, rate=50) as sim:
        await load_symbols(sim.config(), refresh=True)
        config = client_config(sim, ws_client, ca_file=None)  # the system store does not know the simulator's CA
        async with running_feed(sim, [STD], [TRADES], config=config, preload=False) as (feed, rec):
            assert await wait_until(lambda: feed.last_connection_error is not None)
        error = feed.last_connection_error
    assert isinstance(error, BackpackConnectionError)
    text = str(error)
    assert f"websocket connect to {sim.ws_url} via no proxy failed: SSLCertVerificationError" in text
    assert "the server certificate is not trusted; set BackpackConfig.ca_file" in text
    assert rec.items[TRADES] == []


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_a_refused_port_names_the_address_and_the_network_path(clean_symbols, ws_client):
    async with BackpackSimulator(symbols=[SYM], seed=3, rate=50) as sim:
        await load_symbols(sim.config(), refresh=True)
        closed_url = f"wss://127.0.0.1:{free_port()}"
        config = client_config(sim, ws_client, ws_url=closed_url)
        async with running_feed(sim, [STD], [TRADES], config=config, preload=False) as (feed, rec):
            assert await wait_until(lambda: feed.last_connection_error is not None)
        text = str(feed.last_connection_error)
    assert f"websocket connect to {closed_url} via no proxy failed: ConnectionRefusedError" in text
    assert "fix: check the network path to the exchange" in text


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
async def test_a_proxy_refusing_connect_names_the_proxy(clean_symbols, tmp_path, ws_client):
    proxy = start_tinyproxy(tmp_path / "tinyproxy", connect_ports=(1,))  # CONNECT only to port 1
    try:
        async with BackpackSimulator(symbols=[SYM], seed=3, rate=50) as sim:
            await load_symbols(sim.config(), refresh=True)
            config = client_config(sim, ws_client, proxies={"websocket": proxy.url})
            async with running_feed(sim, [STD], [TRADES], config=config, preload=False) as (feed, rec):
                assert await wait_until(lambda: feed.last_connection_error is not None)
            text = str(feed.last_connection_error)
    finally:
        proxy.stop()
    assert f"websocket connect to {sim.ws_url} via proxy {proxy.url} (from BackpackConfig.proxies) failed" in text
    assert "403" in text
    assert f"fix: check that proxy {proxy.url} (from BackpackConfig.proxies) is running and allows CONNECT" in text
    assert rec.items[TRADES] == []
