"""The auth part of BackpackConfig: formats, cross-checks, window bounds, secrecy, credential sources."""
from __future__ import annotations

import base64

import pytest
from cryptofeed.config import Config

from cryptofeed_backpack import auth
from cryptofeed_backpack.config import ENV_API_KEY, ENV_PRIVATE_KEY, BackpackConfig
from cryptofeed_backpack.errors import BackpackAuthError, BackpackConfigError

# The golden key (seed = bytes 1..32); its public key is asserted in test_auth against the golden file.
SEED = bytes(range(1, 33))
SEED_B64 = base64.b64encode(SEED).decode()
SEED_HEX = SEED.hex()
PUB = auth.public_key_from_seed(SEED)
PUB_B64 = "ebVWLo/mVPlAeLES6KmLp5AfhTrmlb7X4OORC60ElmQ="
OTHER_PUB_B64 = auth.b64(auth.public_key_from_seed(bytes(32)))
SECRET_FORMS = [SEED_B64, SEED_HEX, SEED_HEX.upper(), SEED_B64.rstrip("=")]


@pytest.fixture(autouse=True)
def _no_env_credentials(monkeypatch):
    monkeypatch.delenv(ENV_API_KEY, raising=False)
    monkeypatch.delenv(ENV_PRIVATE_KEY, raising=False)
    monkeypatch.delenv("BACKPACK_PROXY", raising=False)


def _assert_no_secret(text: str) -> None:
    for form in SECRET_FORMS:
        assert form not in text


def test_public_key_constant_matches_seed():
    assert auth.b64(PUB) == PUB_B64


def test_hex_inputs_are_normalised_to_base64():
    cfg = BackpackConfig(auth={"api_key": PUB.hex(), "private_key": SEED_HEX}, enable_private_channels=True, window_ms=5000)
    assert cfg.auth.api_key == PUB_B64
    assert cfg.auth.private_key.get_secret_value() == SEED_B64
    assert cfg.auth.seed == SEED
    assert cfg.enable_private_channels is True and cfg.window_ms == 5000


@pytest.mark.parametrize("private_key", [
    SEED_B64,
    SEED_HEX,
    base64.urlsafe_b64encode(SEED).decode().rstrip("="),
    auth.b64(SEED + PUB),  # 64-byte seed||public keypair
])
def test_every_private_key_format_yields_the_same_seed(private_key):
    cfg = BackpackConfig(auth={"api_key": PUB_B64, "private_key": private_key})
    assert cfg.auth.seed == SEED
    assert cfg.auth.private_key.get_secret_value() == SEED_B64


def test_public_key_is_optional_and_cross_checked():
    assert BackpackConfig(auth={"api_key": PUB_B64, "private_key": SEED_B64}).auth.public_key is None
    cfg = BackpackConfig(auth={"api_key": PUB_B64, "private_key": SEED_B64, "public_key": PUB.hex()})
    assert cfg.auth.public_key == PUB_B64


def test_public_key_mismatch_names_public_key():
    with pytest.raises(BackpackAuthError) as err:
        BackpackConfig(auth={"api_key": PUB_B64, "private_key": SEED_B64, "public_key": OTHER_PUB_B64})
    text = str(err.value)
    assert "auth.public_key" in text and "fix:" in text
    _assert_no_secret(text)


def test_api_key_mismatch_names_api_key_and_private_key():
    with pytest.raises(BackpackAuthError) as err:
        BackpackConfig(auth={"api_key": OTHER_PUB_B64, "private_key": SEED_B64})
    text = str(err.value)
    assert "auth.api_key" in text and "auth.private_key" in text and "fix:" in text
    _assert_no_secret(text)


def test_malformed_private_key_error_does_not_echo_it():
    bad = base64.b64encode(SEED[:31]).decode()
    with pytest.raises(BackpackAuthError) as err:
        BackpackConfig(auth={"api_key": PUB_B64, "private_key": bad})
    assert "31 bytes" in str(err.value) and bad not in str(err.value)


def test_malformed_api_key_names_the_field():
    with pytest.raises(BackpackAuthError, match="auth.api_key"):
        BackpackConfig(auth={"api_key": "abc", "private_key": SEED_B64})


@pytest.mark.parametrize("window", [1, 5000, 60000])
def test_window_ms_bounds_accepted(window):
    assert BackpackConfig(window_ms=window).window_ms == window


@pytest.mark.parametrize("window", [0, -1, 60001, 600000])
def test_window_ms_out_of_bounds(window):
    with pytest.raises(BackpackConfigError) as err:
        BackpackConfig.from_dict({"window_ms": window})
    assert err.value.field == "window_ms"
    assert "60000" in str(err.value)


def test_default_window_is_5000():
    assert BackpackConfig().window_ms == 5000


def test_secret_never_shown():
    cfg = BackpackConfig(auth={"api_key": PUB_B64, "private_key": SEED_HEX}, enable_private_channels=True)
    for text in (repr(cfg), str(cfg), repr(cfg.auth), str(cfg.auth), cfg.model_dump_json(),
                 cfg.auth.model_dump_json(), str(cfg.model_dump()), repr(cfg.auth.private_key)):
        _assert_no_secret(text)
    assert "**********" in cfg.model_dump_json()
    assert PUB_B64 in cfg.model_dump_json()  # the public key is not a secret


def test_secret_forms_cover_base64_and_hex():
    cfg = BackpackConfig(auth={"api_key": PUB_B64, "private_key": SEED_HEX})
    assert set(cfg.auth.secret_forms()) == {SEED_B64, SEED_HEX}


def test_credentials_from_cryptofeed_config_section():
    cf = Config({"backpack": {"key_id": PUB_B64, "key_secret": SEED_HEX, "window_ms": 10000,
                              "enable_private_channels": True}})
    cfg = BackpackConfig.build(cf)
    assert cfg.auth.api_key == PUB_B64 and cfg.auth.seed == SEED
    assert cfg.window_ms == 10000 and cfg.enable_private_channels


def test_credentials_from_config_yaml(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"backpack:\n  key_id: '{PUB_B64}'\n  key_secret: '{SEED_B64}'\n  enable_private_channels: true\n")
    cfg = BackpackConfig.build(Config(str(path)))
    assert cfg.auth.seed == SEED and cfg.enable_private_channels


def test_credentials_from_plain_dict_section():
    cfg = BackpackConfig.build({"key_id": PUB_B64, "key_secret": SEED_B64})
    assert cfg.auth.api_key == PUB_B64


def test_credentials_from_environment(monkeypatch):
    monkeypatch.setenv(ENV_API_KEY, PUB_B64)
    monkeypatch.setenv(ENV_PRIVATE_KEY, SEED_HEX)
    cfg = BackpackConfig.build(None, enable_private_channels=True)
    assert cfg.auth.api_key == PUB_B64 and cfg.auth.seed == SEED
    _assert_no_secret(repr(cfg))


def test_explicit_credentials_win_over_environment(monkeypatch):
    monkeypatch.setenv(ENV_API_KEY, OTHER_PUB_B64)
    monkeypatch.setenv(ENV_PRIVATE_KEY, base64.b64encode(bytes(32)).decode())
    cfg = BackpackConfig.build({"key_id": PUB_B64, "key_secret": SEED_B64})
    assert cfg.auth.seed == SEED


def test_only_half_the_environment_is_ignored(monkeypatch):
    monkeypatch.setenv(ENV_API_KEY, PUB_B64)
    assert BackpackConfig.build({}).auth is None


def test_private_channels_without_credentials_fail_at_construction():
    with pytest.raises(BackpackAuthError) as err:
        BackpackConfig(enable_private_channels=True)
    text = str(err.value)
    assert "enable_private_channels" in text
    assert ENV_API_KEY in text and ENV_PRIVATE_KEY in text and "key_id" in text
    with pytest.raises(BackpackAuthError):
        BackpackConfig.build({"enable_private_channels": True})


def test_public_only_config_needs_no_credentials():
    cfg = BackpackConfig.build({})
    assert cfg.auth is None and cfg.enable_private_channels is False
