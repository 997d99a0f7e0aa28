"""REST through REAL proxies (tinyproxy HTTP CONNECT, microsocks SOCKS5) to a TLS server on loopback.

Each test proves the route from the proxy's side: its own log lists the tunnel it opened.
"""
from __future__ import annotations

import asyncio
import logging

import pytest

from cryptofeed_backpack.config import BackpackConfig
from cryptofeed_backpack.errors import BackpackConnectionError
from cryptofeed_backpack.transport.rest import BackpackRestClient
from tests.integration.proxies import (  # noqa: F401  (pytest fixtures)
    microsocks_auth_server,
    microsocks_server,
    tinyproxy_auth_server,
    tinyproxy_server,
    tls_target,
)

pytestmark = pytest.mark.integration

PROXY_ENV = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "BACKPACK_PROXY")


@pytest.fixture(autouse=True)
def clean_proxy_env(monkeypatch):
    for name in PROXY_ENV:
        monkeypatch.delenv(name, raising=False)


class NoWait:
    def __init__(self):
        self.sleeps = []

    async def sleep(self, s):
        self.sleeps.append(s)
        await asyncio.sleep(0)


def client_for(target, proxies=None, host="127.0.0.1", **rest):
    cfg = BackpackConfig.build({"rest_url": target.rest_url(host), "ca_file": str(target.ca_file), "proxies": proxies or {}, "rest": rest})
    return BackpackRestClient(cfg, sleep=NoWait().sleep)


async def _exercise(client):
    assert (await client.status()).status == "Ok"
    assert await client.server_time_ms() == 1790133798064
    depth = await client.depth("BTC_USDC_PERP", 1000)
    assert depth.lastUpdateId == 1504999670


async def test_http_connect_through_tinyproxy(tls_target, tinyproxy_server):
    async with client_for(tls_target, {"url": tinyproxy_server.url}) as client:
        await _exercise(client)
        assert client.proxy_route.source == "config"
    target = f"127.0.0.1:{tls_target.port}"
    assert tinyproxy_server.wait_for(lambda p: p.count(target) >= 1), tinyproxy_server.log_text()
    assert set(tinyproxy_server.targets()) == {target}
    assert tls_target.paths[-1] == "/api/v1/depth?symbol=BTC_USDC_PERP&limit=1000"


async def test_http_proxy_with_basic_auth_and_no_credential_leak(tls_target, tinyproxy_auth_server, caplog):
    caplog.set_level(logging.DEBUG)
    async with client_for(tls_target, {"rest": tinyproxy_auth_server.url}) as client:
        await _exercise(client)
        text = repr(client) + repr(client.config.proxies)
    assert tinyproxy_auth_server.wait_for(lambda p: p.count(f"127.0.0.1:{tls_target.port}") >= 1)
    assert "tiny-s3cret" not in text + caplog.text
    assert "***@127.0.0.1" in text


async def test_socks5_through_microsocks(tls_target, microsocks_server):
    async with client_for(tls_target, {"url": microsocks_server.url_for("socks5")}) as client:
        await _exercise(client)
    # socks5: the client resolved the name itself, the proxy was given an address
    assert microsocks_server.wait_for(lambda p: p.count(f"127.0.0.1:{tls_target.port}") >= 1), microsocks_server.log_text()


async def test_socks5h_lets_the_proxy_resolve_the_host(tls_target, microsocks_server):
    async with client_for(tls_target, {"url": microsocks_server.url_for("socks5h")}, host="localhost") as client:
        await _exercise(client)
    # socks5h: the proxy received the host NAME (remote DNS), as its own log shows
    assert microsocks_server.wait_for(lambda p: p.count(f"localhost:{tls_target.port}") >= 1), microsocks_server.log_text()
    assert all(t.startswith("localhost:") for t in microsocks_server.targets())


async def test_socks5_with_username_password(tls_target, microsocks_auth_server, caplog):
    caplog.set_level(logging.DEBUG)
    async with client_for(tls_target, {"url": microsocks_auth_server.url}) as client:
        await _exercise(client)
        shown = repr(client)
    assert microsocks_auth_server.wait_for(lambda p: p.count(f"127.0.0.1:{tls_target.port}") >= 1)
    assert "socks-s3cret" not in shown + caplog.text


async def test_socks5_wrong_password_is_a_connection_error_without_the_password(tls_target, microsocks_auth_server):
    bad = microsocks_auth_server.url.replace("socks-s3cret", "wrong-pass-123")
    async with client_for(tls_target, {"url": bad}, max_retries=0) as client:
        with pytest.raises(BackpackConnectionError) as info:
            await client.status()
    assert "wrong-pass-123" not in str(info.value)
    assert f"***@127.0.0.1:{microsocks_auth_server.port}" in str(info.value)
    assert microsocks_auth_server.count() == 0


@pytest.mark.parametrize("kind", ["tinyproxy", "microsocks"])
async def test_stopped_proxy_raises_connection_error_naming_it(tls_target, tinyproxy_auth_server, microsocks_auth_server, kind):
    proxy = tinyproxy_auth_server if kind == "tinyproxy" else microsocks_auth_server
    proxy.stop()
    async with client_for(tls_target, {"url": proxy.url}, max_retries=2) as client:
        with pytest.raises(BackpackConnectionError) as info:
            await client.status()
        assert client.metrics.counters["rest_requests"] == 3
    text = str(info.value)
    assert f"cannot reach 127.0.0.1:{tls_target.port} via proxy" in text
    assert f"***@127.0.0.1:{proxy.port}" in text
    assert "check that the proxy" in text
    assert proxy.password not in text and proxy.username not in text
    assert tls_target.paths == []


async def test_https_proxy_env_var_is_honoured(tls_target, tinyproxy_server, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy_server.url)
    async with client_for(tls_target) as client:
        assert client.proxy_route.source == "environment" and client.proxy_route.env_var == "HTTPS_PROXY"
        await _exercise(client)
    assert tinyproxy_server.wait_for(lambda p: p.count() >= 1)


async def test_all_proxy_socks_env_var_is_honoured(tls_target, microsocks_server, monkeypatch):
    monkeypatch.setenv("ALL_PROXY", microsocks_server.url_for("socks5h"))
    async with client_for(tls_target, host="localhost") as client:
        await _exercise(client)
    assert microsocks_server.wait_for(lambda p: p.count(f"localhost:{tls_target.port}") >= 1)


async def test_direct_flag_ignores_the_environment(tls_target, tinyproxy_server, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy_server.url)
    monkeypatch.setenv("ALL_PROXY", tinyproxy_server.url)
    async with client_for(tls_target, {"direct": True}) as client:
        assert client.proxy_route.source == "direct"
        await _exercise(client)
    assert len(tls_target.paths) == 3
    assert tinyproxy_server.count() == 0


async def test_no_proxy_env_bypasses(tls_target, tinyproxy_server, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy_server.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    async with client_for(tls_target) as client:
        await _exercise(client)
    assert tinyproxy_server.count() == 0


async def test_explicit_proxy_wins_over_environment(tls_target, tinyproxy_server, microsocks_server, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", tinyproxy_server.url)
    async with client_for(tls_target, {"url": microsocks_server.url}) as client:
        await _exercise(client)
    assert microsocks_server.wait_for(lambda p: p.count() >= 1)
    assert tinyproxy_server.count() == 0


async def test_http_proxy_wrong_password_says_credentials_rejected(tls_target, tinyproxy_auth_server):
    bad = tinyproxy_auth_server.url.replace("tiny-s3cret", "nope-pass-9")
    async with client_for(tls_target, {"url": bad}, max_retries=0) as client:
        with pytest.raises(BackpackConnectionError) as info:
            await client.status()
    text = str(info.value)
    assert "rejected the credentials" in text
    assert "nope-pass-9" not in text and "tiny-s3cret" not in text
    assert tls_target.paths == []


async def test_tinyproxy_connectport_refusal_is_explained(tls_target, tmp_path):
    from tests.integration.proxies import free_port, start_tinyproxy

    proxy = start_tinyproxy(tmp_path / "strict", connect_ports=(free_port(),))  # not the target's port
    try:
        async with client_for(tls_target, {"url": proxy.url}, max_retries=0) as client:
            with pytest.raises(BackpackConnectionError) as info:
                await client.status()
        assert "refused the tunnel (HTTP 403)" in str(info.value)
        assert tls_target.paths == []
    finally:
        proxy.stop()
