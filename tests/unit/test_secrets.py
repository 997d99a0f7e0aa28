"""The private key never shows: whatever path it arrives by (BackpackConfig, a dict, config.yaml,
cryptofeed's key_id/key_secret, the environment), no repr, vars(), exception, log line (DEBUG
included), metric or health report contains any encoding of it."""
from __future__ import annotations

import base64
import logging

import pytest
from cryptofeed import FeedHandler
from cryptofeed.defines import ORDER_INFO, TRADES

import cryptofeed_backpack  # noqa: F401
from cryptofeed_backpack import BackpackFeed, auth
from cryptofeed_backpack.config import ENV_API_KEY, ENV_PRIVATE_KEY, BackpackConfig
from cryptofeed_backpack.errors import BackpackError
from cryptofeed_backpack.symbols import seed_symbols
from tests import fixtures

SEED = bytes(range(7, 39))
PUBLIC = auth.b64(auth.public_key_from_seed(SEED))
FORMS = {"hex": SEED.hex(), "base64": base64.b64encode(SEED).decode(), "urlsafe": base64.urlsafe_b64encode(SEED).decode(),
         "keypair-hex": (SEED + auth.public_key_from_seed(SEED)).hex()}
OFFLINE = {"rest_url": "https://127.0.0.1:9", "ws_url": "wss://127.0.0.1:9"}


def every_encoding() -> list[str]:
    return sorted(set(FORMS.values()) | {SEED.hex().upper(), base64.b64encode(SEED).decode().rstrip("=")})


def leaks(text: str) -> list[str]:
    return [form for form in every_encoding() if form in text]


def inspect(feed) -> str:
    parts = [repr(feed.config), repr(getattr(feed, "key_secret", None)), repr(vars(feed)), repr(feed.backpack_config),
             repr(feed.backpack_config.auth), str(feed.metrics_snapshot()), str(feed.health().to_dict())]
    return "\n".join(parts)


def build(config=None, handler_config=None):
    """A feed built the two ways users build one: by name through FeedHandler, or directly."""
    seed_symbols(fixtures.markets())
    if handler_config is not None:
        fh = FeedHandler(config=handler_config)
        fh.add_feed("BACKPACK", symbols=["SUI-USDC"], channels=[TRADES, ORDER_INFO], callbacks={})
        return fh.feeds[0]
    return BackpackFeed(config=config, symbols=["SUI-USDC"], channels=[TRADES, ORDER_INFO], callbacks={})


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_construction_path_hides_the_key(clean_symbols, tmp_path, monkeypatch, caplog, form):
    secret = FORMS[form]
    yaml_path = tmp_path / "config.yaml"
    yaml_path.write_text(f"log:\n  disabled: true\nbackpack:\n  rest_url: {OFFLINE['rest_url']}\n"
                         f"  ws_url: {OFFLINE['ws_url']}\n  key_id: '{PUBLIC}'\n  key_secret: '{secret}'\n")
    caplog.set_level(logging.DEBUG)
    feeds = [
        build(BackpackConfig(auth={"api_key": PUBLIC, "private_key": secret}, **OFFLINE)),
        build({**OFFLINE, "auth": {"api_key": PUBLIC, "private_key": secret}}),
        build(handler_config={"log": {"disabled": True}, "backpack": {**OFFLINE, "key_id": PUBLIC, "key_secret": secret}}),
        build(handler_config=str(yaml_path)),
        build(config=str(yaml_path)),
    ]
    monkeypatch.setenv(ENV_API_KEY, PUBLIC)
    monkeypatch.setenv(ENV_PRIVATE_KEY, secret)
    feeds.append(build(dict(OFFLINE)))
    for feed in feeds:
        assert feed.backpack_config.auth.seed == SEED  # the key did arrive
        assert leaks(inspect(feed)) == []
    assert leaks(caplog.text) == []


@pytest.mark.parametrize("config", [
    {"auth": {"api_key": PUBLIC, "private_kye": FORMS["hex"]}},  # misspelled field holding the secret
    {"auth": {"api_key": PUBLIC, "private_key": FORMS["hex"][:-2]}},  # 31 bytes
    {"auth": {"api_key": "AAAA" + PUBLIC[4:], "private_key": FORMS["base64"]}},  # not the pair
    {"auth": {"api_key": PUBLIC, "private_key": FORMS["hex"]}, "window_ms": 0},
    {"auth": {"api_key": PUBLIC, "private_key": FORMS["hex"]}, "depth_window": "100ms"},
    {"auth": {"api_key": PUBLIC, "private_key": 12345}},
])
def test_bad_configs_raise_typed_errors_that_do_not_echo_the_key(config):
    for attempt in (lambda: BackpackConfig(**config), lambda: BackpackConfig.build(config)):
        with pytest.raises(BackpackError) as info:
            attempt()
        text = str(info.value) + repr(info.value) + repr(getattr(info.value, "context", ""))
        assert leaks(text) == [] and FORMS["hex"][:-2] not in text
        assert "BackpackConfig" in text or "auth." in text  # names the field
