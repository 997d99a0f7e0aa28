"""Every connection kind of the feed through real proxies (tinyproxy: HTTP CONNECT; microsocks: SOCKS5),
proven from the proxy's own log: symbol loading, the REST snapshot, the public WebSocket and the
private WebSocket."""
from __future__ import annotations

import logging
from decimal import Decimal as D
from urllib.parse import urlsplit

import pytest
from cryptofeed.defines import FILLS, L2_BOOK, ORDER_INFO, TRADES

from cryptofeed_backpack import BackpackFeed
from cryptofeed_backpack.config import WS_CLIENTS
from cryptofeed_backpack.errors import BackpackConnectionError
from cryptofeed_backpack.simulator import BackpackSimulator
from cryptofeed_backpack.symbols import load_symbols
from tests.integration.feed_harness import client_config, running_feed, wait_until, websocket_clients
from tests.integration.proxies import start_microsocks, start_tinyproxy
from tests.integration.test_private_e2e import new_key, private_config

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SYM, STD = "BTC_USDC_PERP", "BTC-USDC-PERP"


@pytest.fixture(autouse=True)
def no_proxy_env(monkeypatch):
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "WSS_PROXY", "wss_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def start(kind, tmp_path):
    return start_tinyproxy(tmp_path / kind) if kind == "http" else start_microsocks(tmp_path / kind)


def target(url):
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}"


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
@pytest.mark.parametrize("kind, scheme", [("http", "http"), ("socks", "socks5"), ("socks", "socks5h")])
async def test_websocket_only_proxy_carries_the_public_stream(clean_symbols, tmp_path, kind, scheme, ws_client):
    proxy = start(kind, tmp_path)
    try:
        async with BackpackSimulator(symbols=[SYM], seed=3, rate=200) as sim:
            # REST direct, WebSocket through the proxy: whatever the proxy logs is the WebSocket
            config = client_config(sim, ws_client, proxies={"websocket": proxy.url_for(scheme)})
            async with running_feed(sim, [STD], [TRADES], config=config) as (feed, rec):
                assert await wait_until(lambda: len(rec.items[TRADES]) > 5)
                assert websocket_clients(feed) == {ws_client}
            ws_target = target(sim.ws_url)
            assert proxy.wait_for(lambda p: p.count(ws_target) >= 1), proxy.log_text()
            assert proxy.count(ws_target) == feed.metrics.counters["ws_connects"]
    finally:
        proxy.stop()


@pytest.mark.parametrize("kind", ["http", "socks"])
async def test_everything_through_one_proxy_symbols_snapshot_public_and_private(clean_symbols, tmp_path, kind):
    proxy = start(kind, tmp_path)
    api_key, seed = new_key()
    try:
        async with BackpackSimulator(symbols=[SYM], seed=4, rate=200) as sim:
            sim.add_account(api_key)
            config = private_config(sim, api_key, seed, proxies={"url": proxy.url})
            await load_symbols(config, refresh=True)  # symbol loading
            assert proxy.wait_for(lambda p: p.count(target(sim.rest_url)) >= 1), "symbol load did not use the proxy"
            after_symbols = proxy.count()
            async with running_feed(sim, [STD], [TRADES, L2_BOOK, ORDER_INFO, FILLS], config=config, preload=False) as (feed, rec):
                assert await wait_until(lambda: feed.book_state(SYM) is not None and feed.book_state(SYM).synced)
                await wait_until(lambda: False, timeout=0.3)
                sim.place_order(api_key, SYM, "Bid", None, D("0.01"))
                assert await wait_until(lambda: rec.items[FILLS] and rec.items[TRADES])
            # one more tunnel for the WebSocket (public and private share it) and one for the REST snapshot
            assert proxy.wait_for(lambda p: p.count() >= after_symbols + 2), proxy.log_text()
            assert set(proxy.targets()) == {target(sim.rest_url), target(sim.ws_url)}
    finally:
        proxy.stop()


@pytest.mark.parametrize("ws_client", WS_CLIENTS)
@pytest.mark.parametrize("kind", ["http", "socks"])
async def test_stopped_proxy_gives_a_clear_connection_error(clean_symbols, tmp_path, caplog, kind, ws_client):
    proxy = start(kind, tmp_path)
    proxy.stop()
    async with BackpackSimulator(symbols=[SYM], seed=3, rate=50) as sim:
        await load_symbols(sim.config(), refresh=True)
        config = client_config(sim, ws_client, proxies={"websocket": proxy.url})
        caplog.set_level(logging.WARNING)
        async with running_feed(sim, [STD], [TRADES], config=config, preload=False, retries=1) as (feed, rec):
            assert await wait_until(lambda: feed.last_connection_error is not None)
        error = feed.last_connection_error
    assert isinstance(error, BackpackConnectionError)
    text = str(error)
    assert f"proxy {proxy.url} (from BackpackConfig.proxies)" in text and "is running" in text
    assert "websocket connect" in text
    assert rec.items[TRADES] == []
    assert feed.health().status == "down"


async def test_symbol_loading_through_an_unreachable_proxy_fails_clearly(clean_symbols, tmp_path):
    proxy = start("http", tmp_path)
    proxy.stop()
    async with BackpackSimulator(symbols=[SYM], seed=3, rate=50) as sim:
        config = sim.config(proxies={"url": proxy.url}, rest={"max_retries": 0})
        with pytest.raises(BackpackConnectionError, match="proxy"):
            await BackpackFeed.load_symbols(config, refresh=True)
