"""Route resolution: explicit config > direct flag > environment > none, identical for REST and WS."""
from __future__ import annotations

import pytest

from cryptofeed_backpack.config import BackpackConfig
from cryptofeed_backpack.errors import BackpackConfigError
from cryptofeed_backpack.transport.proxy import (
    redact_proxy_url,
    rest_proxy_route,
    rest_proxy_settings,
    websocket_proxy_route,
    ws_proxy_argument,
)

ENV = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "WSS_PROXY", "wss_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "BACKPACK_PROXY")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def cfg(**kw):
    return BackpackConfig.build(kw)


def test_redact():
    assert redact_proxy_url("socks5://u:p@h:1080") == "socks5://***@h:1080"
    assert redact_proxy_url("http://h:3128") == "http://h:3128"
    assert redact_proxy_url(None) is None


def test_nothing_configured_no_env_is_direct():
    c = cfg()
    assert rest_proxy_route(c).url is None and rest_proxy_route(c).source == "none"
    assert ws_proxy_argument(c) is None
    s = rest_proxy_settings(c)
    assert s.http_proxy is None and s.socks_url is None


def test_url_applies_to_both_and_specific_wins():
    c = cfg(proxies={"url": "socks5h://10.0.0.1:1080", "websocket": "http://10.0.0.2:3128"})
    assert rest_proxy_route(c).url == "socks5h://10.0.0.1:1080"
    assert ws_proxy_argument(c) == "http://10.0.0.2:3128"
    s = rest_proxy_settings(c)
    assert s.socks_url == "socks5h://10.0.0.1:1080" and s.rdns is True and s.http_proxy is None


def test_http_proxy_goes_to_aiohttp_proxy_argument():
    s = rest_proxy_settings(cfg(proxies={"rest": "http://u:pw@10.0.0.3:3128"}))
    assert s.http_proxy == "http://u:pw@10.0.0.3:3128" and s.socks_url is None
    assert "pw" not in repr(s)


def test_socks5_without_h_resolves_locally():
    s = rest_proxy_settings(cfg(proxies={"url": "socks5://10.0.0.1:1080"}))
    assert s.rdns is False


def test_environment_https_then_all(monkeypatch):
    monkeypatch.setenv("ALL_PROXY", "socks5h://10.0.0.9:1080")
    r = rest_proxy_route(cfg())
    assert (r.url, r.source, r.env_var) == ("socks5h://10.0.0.9:1080", "environment", "ALL_PROXY")
    assert ws_proxy_argument(cfg()) == "socks5h://10.0.0.9:1080"  # websockets alone would ignore ALL_PROXY
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.8:3128")
    assert rest_proxy_route(cfg()).env_var == "HTTPS_PROXY"
    assert ws_proxy_argument(cfg()) == "http://10.0.0.8:3128"
    monkeypatch.setenv("WSS_PROXY", "http://10.0.0.7:3128")
    assert ws_proxy_argument(cfg()) == "http://10.0.0.7:3128"
    assert rest_proxy_route(cfg()).url == "http://10.0.0.8:3128"


def test_direct_overrides_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.8:3128")
    c = cfg(proxies={"direct": True})
    assert rest_proxy_route(c).source == "direct" and rest_proxy_route(c).url is None
    assert ws_proxy_argument(c) is None  # None, not True: disables websockets' own env lookup


def test_explicit_overrides_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.8:3128")
    assert rest_proxy_route(cfg(proxies={"url": "socks5://10.0.0.1:1080"})).url == "socks5://10.0.0.1:1080"


def test_no_proxy_bypass(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.8:3128")
    monkeypatch.setenv("NO_PROXY", "api.backpack.exchange,ws.backpack.exchange")
    assert rest_proxy_route(cfg()).url is None
    assert websocket_proxy_route(cfg()).url is None


def test_bad_environment_proxy_is_a_config_error_without_password(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "ftp://user:hunter22@10.0.0.8:21")
    with pytest.raises(BackpackConfigError) as info:
        rest_proxy_route(cfg())
    assert "HTTPS_PROXY" in str(info.value) and "hunter22" not in str(info.value)


def test_describe_never_shows_credentials():
    r = rest_proxy_route(cfg(proxies={"url": "socks5://alice:pw123@10.0.0.1:1080"}))
    assert r.describe() == "proxy socks5://***@10.0.0.1:1080 (from BackpackConfig.proxies)"
    assert "pw123" not in repr(r) and "alice" not in str(r)
