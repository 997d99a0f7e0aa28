"""The native/ccxt flag: config.yaml ``backpack.native_enabled``, BackpackConfig, and the environment
variable as an override, read each time a feed is built (never at import)."""
from __future__ import annotations

import pytest
from cryptofeed import FeedHandler
from cryptofeed.defines import TRADES

from cryptofeed_backpack import BackpackConfig, BackpackFeed
from cryptofeed_backpack.errors import BackpackConfigError
from cryptofeed_backpack.registry import NATIVE_FLAG, feed_class, native_enabled, register
from cryptofeed_backpack.symbols import seed_symbols
from tests import fixtures

OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9", "proxies": {"direct": True}}


@pytest.fixture
def seeded(clean_symbols, monkeypatch):
    monkeypatch.delenv(NATIVE_FLAG, raising=False)
    register()
    seed_symbols(fixtures.markets())


def config_yaml(tmp_path, flag_line: str) -> str:
    path = tmp_path / "config.yaml"
    lines = ["log:", "  disabled: true", "backpack:", f"  {flag_line}"] + [f"  {k}: {v}" for k, v in OFFLINE.items() if k != "proxies"]
    path.write_text("\n".join(lines + ["  proxies:", "    direct: true", ""]))
    return str(path)


@pytest.mark.parametrize("env, configured, expected", [
    ({}, None, True),  # the default
    ({}, False, False), ({}, True, True),  # the config decides
    ({NATIVE_FLAG: "true"}, False, True), ({NATIVE_FLAG: "0"}, True, False),  # the environment overrides it
    ({NATIVE_FLAG: ""}, False, False),  # an empty variable is no override
])
def test_precedence_environment_then_config_then_default(env, configured, expected):
    config = None if configured is None else BackpackConfig(native_enabled=configured, **OFFLINE)
    assert native_enabled(env, config) is expected


@pytest.mark.parametrize("spelling, expected", [("yes", True), ("On", True), ("1", True), ("no", False), ("FALSE", False)])
def test_config_accepts_the_same_spellings_as_the_environment(spelling, expected):
    assert BackpackConfig.build({"native_enabled": spelling, **OFFLINE}).native_enabled is expected


def test_unknown_spelling_is_an_error_naming_the_allowed_values():
    with pytest.raises(BackpackConfigError, match=r"CRYPTOFEED_BACKPACK_NATIVE.*'maybe'.*allowed values: true, 1, yes, on, false, 0, no, off"):
        native_enabled({NATIVE_FLAG: "maybe"})
    with pytest.raises(BackpackConfigError, match=r"native_enabled.*'nativ'.*allowed values: true"):
        BackpackConfig.build({"native_enabled": "nativ", **OFFLINE})


def test_config_yaml_false_builds_the_ccxt_feed_through_feedhandler(seeded, tmp_path):
    pytest.importorskip("ccxt")
    fh = FeedHandler(config=config_yaml(tmp_path, "native_enabled: false"))
    fh.add_feed("BACKPACK", symbols=["SUI-USDC"], channels=[TRADES])
    assert type(fh.feeds[0]).__name__ == "CcxtBackpackFeed"
    assert fh.feeds[0].backpack_config.native_enabled is False


def test_config_yaml_true_and_absent_build_the_native_feed(seeded, tmp_path):
    for line in ("native_enabled: true", "depth_window: realtime"):
        fh = FeedHandler(config=config_yaml(tmp_path, line))
        fh.add_feed("BACKPACK", symbols=["SUI-USDC"], channels=[TRADES])
        assert type(fh.feeds[0]) is BackpackFeed


def test_environment_is_read_when_the_feed_is_built_not_at_import(seeded, tmp_path, monkeypatch):
    pytest.importorskip("ccxt")
    path = config_yaml(tmp_path, "native_enabled: true")
    monkeypatch.setenv(NATIVE_FLAG, "false")  # set long after `import cryptofeed_backpack`
    fh = FeedHandler(config=path)
    fh.add_feed("BACKPACK", symbols=["SUI-USDC"], channels=[TRADES])
    monkeypatch.setenv(NATIVE_FLAG, "true")
    fh.add_feed("BACKPACK", symbols=["SUI-USDC"], channels=[TRADES])
    assert [type(f).__name__ for f in fh.feeds] == ["CcxtBackpackFeed", "BackpackFeed"]


def test_unknown_spelling_in_config_yaml_fails_add_feed(seeded, tmp_path):
    fh = FeedHandler(config=config_yaml(tmp_path, "native_enabled: sometimes"))
    with pytest.raises(BackpackConfigError, match="allowed values"):
        fh.add_feed("BACKPACK", symbols=["SUI-USDC"], channels=[TRADES])


def test_explicit_register_pins_a_class_regardless_of_the_flag(seeded, monkeypatch):
    monkeypatch.setenv(NATIVE_FLAG, "false")
    assert register(native=True) is BackpackFeed
    assert feed_class(True) is BackpackFeed
    register()


def test_ccxt_section_and_ccxt_style_credentials_in_the_config():
    from cryptofeed_backpack import auth

    seed = bytes(range(1, 33))
    api_key, secret = auth.b64(auth.public_key_from_seed(seed)), auth.b64(seed)
    config = BackpackConfig.build({"api_key": api_key, "api_secret": secret,
                                   "ccxt": {"snapshot_interval": 30, "websocket": False}, **OFFLINE})
    assert config.auth.api_key == api_key and config.auth.seed == seed
    assert (config.ccxt.snapshot_interval, config.ccxt.websocket, config.ccxt.rest_only) == (30, False, False)
    assert secret not in repr(config)


def test_a_typo_in_a_nested_section_lists_that_sections_options():
    with pytest.raises(BackpackConfigError, match=r"ccxt\.snapshot_intervl: is not an option.*poll_interval_s, rest_fallback_after"):
        BackpackConfig.build({"ccxt": {"snapshot_intervl": 3}, **OFFLINE})
    with pytest.raises(BackpackConfigError, match=r"rest\.timeot_s: is not an option.*backoff_base_s"):
        BackpackConfig.build({"rest": {"timeot_s": 1}, **OFFLINE})
