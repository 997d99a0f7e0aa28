import pytest
from cryptofeed import FeedHandler
from cryptofeed.config import Config
from cryptofeed.defines import L2_BOOK, ORDER_INFO, TRADES
from cryptofeed.exchanges import EXCHANGE_MAP

import cryptofeed_backpack
from cryptofeed_backpack import BackpackConfig, BackpackFeed
from cryptofeed_backpack.errors import BackpackAuthError, BackpackConfigError
from cryptofeed_backpack.registry import BackpackFeedSelector, native_enabled, register
from cryptofeed_backpack.symbols import seed_symbols
from tests import fixtures

OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"}


@pytest.fixture
def seeded(clean_symbols):
    seed_symbols(fixtures.markets())


def test_import_registers_backpack_in_place():
    # the selector decides per feed (tests/unit/test_native_flag.py); class-level reads reach the native feed
    assert EXCHANGE_MAP["BACKPACK"] is BackpackFeedSelector and EXCHANGE_MAP["BACKPACK"].id == "BACKPACK"
    assert cryptofeed_backpack.BACKPACK == "BACKPACK"
    assert register() is BackpackFeedSelector and register() is BackpackFeedSelector  # idempotent
    assert register(native=True) is BackpackFeed and EXCHANGE_MAP["BACKPACK"] is BackpackFeed
    register()
    from cryptofeed import defines
    assert defines.BACKPACK == "BACKPACK"


@pytest.mark.parametrize("value, expected", [("true", True), ("1", True), ("FALSE", False), ("off", False)])
def test_feature_flag(value, expected):
    assert native_enabled({"CRYPTOFEED_BACKPACK_NATIVE": value}) is expected
    assert native_enabled({}) is True


def test_feature_flag_rejects_garbage():
    with pytest.raises(BackpackConfigError, match="CRYPTOFEED_BACKPACK_NATIVE"):
        native_enabled({"CRYPTOFEED_BACKPACK_NATIVE": "maybe"})


def test_config_accepts_model_dict_and_cryptofeed_config(seeded):
    for config in (BackpackConfig(depth_window="600ms", **OFFLINE), {"depth_window": "600ms", **OFFLINE},
                   Config(config={"backpack": {"depth_window": "600ms", **OFFLINE}})):
        feed = BackpackFeed(config=config, symbols=["SUI-USDC"], channels=[L2_BOOK])
        assert feed.public_streams() == ["depth.600ms.SUI_USDC"]
        assert feed.backpack_config.rest_url == "https://127.0.0.1:9"


def test_config_yaml_section_through_feedhandler(seeded, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("log:\n  disabled: true\nbackpack:\n  depth_window: 200ms\n  rest_url: https://127.0.0.1:9\n"
                    "  ws_url: wss://127.0.0.1:9\n")
    fh = FeedHandler(config=str(path))
    fh.add_feed("BACKPACK", symbols=["SUI-USDC-PERP"], channels=[L2_BOOK, TRADES])
    assert sorted(fh.feeds[0].public_streams()) == ["depth.200ms.SUI_USDC_PERP", "trade.SUI_USDC_PERP"]


def test_invalid_option_names_the_field_and_the_allowed_values(seeded):
    with pytest.raises(BackpackConfigError) as err:
        BackpackFeed(config={"depth_window": "100ms"}, symbols=["SUI-USDC"], channels=[L2_BOOK])
    assert "depth_window" in str(err.value) and "200ms" in str(err.value)


def test_unknown_keyword_is_reported_not_swallowed(seeded):
    with pytest.raises(BackpackConfigError, match="depth_interval"):
        BackpackFeed(config=OFFLINE, symbols=["SUI-USDC"], channels=[L2_BOOK], depth_interval="100ms")


def test_private_channel_without_credentials_fails_at_construction(seeded, monkeypatch):
    monkeypatch.delenv("BACKPACK_API_KEY", raising=False)
    monkeypatch.delenv("BACKPACK_PRIVATE_KEY", raising=False)
    with pytest.raises(BackpackAuthError, match="need credentials"):
        BackpackFeed(config=OFFLINE, symbols=["SUI-USDC"], channels=[ORDER_INFO])


def test_candle_interval_must_be_a_backpack_interval(seeded):
    with pytest.raises(ValueError, match="Candle interval"):
        BackpackFeed(config=OFFLINE, symbols=["SUI-USDC"], channels=[TRADES], candle_interval="7m")
