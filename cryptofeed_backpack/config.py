"""BackpackConfig: every option of the integration, validated once, immutable afterwards.

Accepted sources, lowest precedence first: defaults, environment variables (credentials and
proxy only), cryptofeed's config section ``backpack`` (config.yaml or dict), explicit arguments.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, Mapping, Optional
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from . import auth as _auth
from .constants import DEPTH_WINDOWS, REST_URL, SNAPSHOT_LIMITS, WS_URL, depth_stream_prefix
from .errors import BackpackAuthError, BackpackConfigError
from .transport.proxy import PROXY_SCHEMES, redact_proxy_url

ENV_API_KEY = "BACKPACK_API_KEY"
ENV_PRIVATE_KEY = "BACKPACK_PRIVATE_KEY"
ENV_PROXY = "BACKPACK_PROXY"
# The spellings a boolean switch accepts, from config.yaml or the environment (native_enabled).
FLAG_TRUE = ("true", "1", "yes", "on")
FLAG_FALSE = ("false", "0", "no", "off")
# The WebSocket client libraries BackpackFeed can run on (transport/ws_picows.py, transport/ws.py).
WS_CLIENTS = ("picows", "websockets")


def parse_flag(value: Any, name: str) -> bool:
    """A boolean switch from YAML (bool) or text (environment); anything else names the allowed values."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in FLAG_TRUE:
        return True
    if text in FLAG_FALSE:
        return False
    raise BackpackConfigError.for_field(name, f"got {value!r}", f"allowed values: {', '.join(FLAG_TRUE + FLAG_FALSE)}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True, hide_input_in_errors=True)

    def __init__(self, **data: Any):
        # every construction path, direct ones included, reports a BackpackConfigError naming the
        # field and the fix, never pydantic's report (which would echo the values, secrets included)
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise _config_error(exc, type(self)) from None


class BackpackAuth(_Frozen):
    """ED25519 credentials. ``private_key`` is normalised to base64 and never shown."""

    api_key: str
    private_key: SecretStr
    public_key: Optional[str] = None

    @field_validator("api_key")
    @classmethod
    def _api_key_is_public_key(cls, value: str) -> str:
        return _auth.b64(_auth.parse_public_key(value, "auth.api_key"))

    @field_validator("public_key")
    @classmethod
    def _public_key_format(cls, value: Optional[str]) -> Optional[str]:
        return None if value is None else _auth.b64(_auth.parse_public_key(value, "auth.public_key"))

    @field_validator("private_key", mode="before")
    @classmethod
    def _seed_format(cls, value: Any) -> SecretStr:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str):
            raise ValueError("auth.private_key must be a string (base64 or hex of the 32-byte Ed25519 seed)")
        return SecretStr(_auth.b64(_auth.parse_private_key(text, "auth.private_key")))

    @model_validator(mode="after")
    def _keys_match(self) -> "BackpackAuth":
        derived = _auth.b64(_auth.public_key_from_seed(self.seed))
        if derived != self.api_key:
            raise BackpackAuthError(
                "auth.api_key does not belong to auth.private_key (the public key derived from the private key differs)",
                fix="fix auth.api_key or auth.private_key so they are the pair Backpack issued together",
            )
        if self.public_key is not None and self.public_key != derived:
            raise BackpackAuthError(
                "auth.public_key does not match the key derived from auth.private_key",
                fix="remove auth.public_key or set it to the API key",
            )
        return self

    @property
    def seed(self) -> bytes:
        return _auth.parse_private_key(self.private_key.get_secret_value())

    def secret_forms(self) -> list[str]:
        """Every textual form of the secret, for log redaction checks."""
        seed = self.seed
        return [self.private_key.get_secret_value(), seed.hex(), _auth.b64(seed)]


def _check_proxy_url(url: Optional[str], field: str) -> Optional[str]:
    if url is None or url == "":
        return None
    parts = urlsplit(url)
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname:
        raise ValueError(
            f"{field} must look like scheme://host:port with scheme one of {', '.join(PROXY_SCHEMES)}; got scheme {parts.scheme!r}"
        )
    if parts.port is None:
        raise ValueError(f"{field} needs an explicit port, e.g. socks5://127.0.0.1:1080")
    return url


class BackpackProxies(_Frozen):
    """``url`` for every connection, or ``rest``/``websocket`` separately (they win over ``url``).

    ``direct=True`` means "no proxy at all", overriding HTTPS_PROXY/ALL_PROXY in the environment.
    """

    url: Optional[str] = None
    rest: Optional[str] = None
    websocket: Optional[str] = None
    direct: bool = False

    @field_validator("url", "rest", "websocket")
    @classmethod
    def _scheme(cls, value: Optional[str], info) -> Optional[str]:
        return _check_proxy_url(value, f"proxies.{info.field_name}")

    def __repr__(self) -> str:
        return (
            f"BackpackProxies(url={redact_proxy_url(self.url)!r}, rest={redact_proxy_url(self.rest)!r}, "
            f"websocket={redact_proxy_url(self.websocket)!r}, direct={self.direct})"
        )

    __str__ = __repr__


class RestPolicy(_Frozen):
    """How the REST client retries, paces and protects itself."""

    timeout_s: float = Field(10.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    backoff_base_s: float = Field(0.25, gt=0)
    backoff_cap_s: float = Field(8.0, gt=0)
    requests_per_minute: int = Field(1800, ge=1, description="kept under Backpack's 2000/min")
    history_requests_per_minute: int = Field(28, ge=1, description="kept under Backpack's 30/min for history endpoints")
    breaker_failures: int = Field(5, ge=1)
    breaker_cooldown_s: float = Field(30.0, gt=0)


class ConnectionPolicy(_Frozen):
    """How the WebSocket notices a dead peer and how it reconnects (docs/operations.md).

    A peer is declared dead when a protocol ping gets no pong within ``ping_timeout_s``, so a dead
    or half-open socket is noticed within ``ping_interval_s + ping_timeout_s`` (20 s by default);
    the exchange itself pings every 60 s and drops a client after about 120 s.
    """

    ping_interval_s: float = Field(10.0, gt=0)
    ping_timeout_s: float = Field(10.0, gt=0)
    max_frame_bytes: int = Field(4 * 1024 * 1024, ge=64 * 1024, description="a larger frame closes the socket (1009)")
    reconnect_base_s: float = Field(0.25, gt=0)
    reconnect_cap_s: float = Field(4.0, gt=0, description="the longest wait between two reconnect attempts")
    ws_client: Literal[WS_CLIENTS] = Field("picows", description="the WebSocket client library (docs/operations.md)")
    stop_drain_s: float = Field(5.0, ge=0, description="how long a stop lets a callback in progress finish, then "
                                "the backends write what they hold (docs/operations.md, \"At stop\")")

    @model_validator(mode="after")
    def _picows_ping_bounds(self) -> "ConnectionPolicy":
        # picows waits for a pong at most as long as it waits before pinging (its ws_connect asserts it)
        if self.ws_client == "picows" and self.ping_timeout_s > self.ping_interval_s:
            raise BackpackConfigError.for_field(
                "connection.ping_timeout_s", f"{self.ping_timeout_s} is above ping_interval_s={self.ping_interval_s}",
                "with ws_client='picows' keep ping_timeout_s <= ping_interval_s (the sum still bounds how late a "
                "dead peer is noticed), or set connection.ws_client='websockets'")
        return self


class TradeBackfill(_Frozen):
    """Filling holes in the trade stream from REST (docs/operations.md, "Lossless trades")."""

    enabled: bool = True
    max_pages: int = Field(20, ge=1, le=1000, description="history pages of 1000 trades one hole may read")
    timeout_s: float = Field(60.0, gt=0, description="how long a hole may wait for REST before it is reported lost")
    max_buffered: int = Field(200_000, ge=1000, description="live trades held while a hole is filled")


class CcxtOptions(_Frozen):
    """Options of the ccxt fallback feed only (docs/ccxt.md); the native feed ignores them."""

    websocket: bool = True
    rest_only: bool = False
    rest_fallback_after: int = Field(0, ge=0)
    poll_interval_s: float = Field(1.0, gt=0)
    snapshot_interval: float = Field(0.0, ge=0, description="seconds between forced REST re-snapshots of each book; 0 = never")


class BackpackConfig(_Frozen):
    native_enabled: Optional[bool] = Field(None, description="true: BackpackFeed, false: CcxtBackpackFeed; None = true")
    rest_url: str = REST_URL
    ws_url: str = WS_URL
    ca_file: Optional[Path] = None
    depth_window: Literal[DEPTH_WINDOWS] = "realtime"
    snapshot_limit: Literal[SNAPSHOT_LIMITS] = 1000
    snapshot_concurrency: int = Field(16, ge=1, le=100, description="book snapshot requests in flight at once; they share kept-alive connections")
    symbol_ttl_s: float = Field(300.0, ge=0)
    include_closed_markets: bool = False
    stream_silence_s: float = Field(30.0, gt=0, description="a subscribed stream silent this long is reported and resubscribed")
    startup_timeout_s: float = Field(30.0, gt=0, description="how long loading the markets at start may take in all")

    connection: "ConnectionPolicy" = Field(default_factory=lambda: ConnectionPolicy())
    trade_backfill: "TradeBackfill" = Field(default_factory=lambda: TradeBackfill())

    auth: Optional[BackpackAuth] = None
    enable_private_channels: bool = False
    window_ms: int = Field(_auth.DEFAULT_WINDOW_MS, ge=1, le=_auth.MAX_WINDOW_MS)
    balance_poll_interval_s: float = Field(30.0, gt=0)
    private_scope: Literal["symbols", "all"] = "symbols"

    proxies: BackpackProxies = BackpackProxies()
    rest: RestPolicy = RestPolicy()
    ccxt: CcxtOptions = CcxtOptions()

    @field_validator("native_enabled", mode="before")
    @classmethod
    def _flag_spelling(cls, value: Any) -> Optional[bool]:
        return None if value is None else parse_flag(value, "native_enabled")

    @field_validator("rest_url")
    @classmethod
    def _rest_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme not in ("https", "http"):
            raise ValueError("rest_url must start with https:// (the exchange) or http://")
        return value.rstrip("/")

    @field_validator("ws_url")
    @classmethod
    def _ws_scheme(cls, value: str) -> str:
        if urlsplit(value).scheme != "wss":
            raise ValueError("ws_url must start with wss:// (cryptofeed refuses plain ws://)")
        return value.rstrip("/")

    @field_validator("ca_file")
    @classmethod
    def _ca_exists(cls, value: Optional[Path]) -> Optional[Path]:
        if value is not None and not Path(value).is_file():
            raise ValueError(f"ca_file {str(value)!r} does not exist; give the path of a PEM CA bundle")
        return value

    @field_validator("proxies", mode="before")
    @classmethod
    def _proxy_shorthand(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"url": value}
        if value is None:
            return {}
        return value

    @model_validator(mode="after")
    def _private_needs_auth(self) -> "BackpackConfig":
        if self.enable_private_channels and self.auth is None:
            raise BackpackAuthError(
                "enable_private_channels=True but no credentials were given",
                fix=f"pass auth={{'api_key': ..., 'private_key': ...}}, set key_id/key_secret in the backpack "
                f"section of config.yaml, or set {ENV_API_KEY} and {ENV_PRIVATE_KEY}",
            )
        return self

    @property
    def depth_stream_prefix(self) -> str:
        return depth_stream_prefix(self.depth_window)

    def ssl_context(self):
        """An SSL context trusting ``ca_file`` in addition to the system store, or None for the defaults.
        One context per CA file and its modification time: loading the system store costs tens of ms."""
        if self.ca_file is None:
            return None
        path = Path(self.ca_file)
        return _ssl_context(str(path.resolve()), path.stat().st_mtime_ns)

    # ---- construction from the sources a cryptofeed user has -------------------------------

    @classmethod
    def build(cls, source: Any = None, **overrides: Any) -> "BackpackConfig":
        """Make a config from a BackpackConfig, a dict, cryptofeed's Config (its ``backpack`` section) or None."""
        if isinstance(source, BackpackConfig) and not overrides:
            return source
        data: dict[str, Any] = {}
        if isinstance(source, BackpackConfig):
            data = source.model_dump(exclude_unset=True)
            if source.auth is not None:
                data["auth"] = source.auth
        elif isinstance(source, Mapping):
            data = _from_mapping(source)
        elif source is not None and hasattr(source, "config"):
            # cryptofeed.config.Config: the exchange section is keyed by the lower-case exchange id
            section = source.config.get("backpack") if hasattr(source.config, "get") else None
            data = _from_mapping(section or {})
        elif source is not None:
            raise BackpackConfigError.for_field("config", f"unsupported type {type(source).__name__}", "pass a BackpackConfig, a dict or a cryptofeed Config")
        data.update(overrides)
        _credentials_from_env(data)
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BackpackConfig":
        return cls(**dict(data))


@lru_cache(maxsize=32)
def _ssl_context(ca_file: str, mtime_ns: int):
    import ssl

    ctx = ssl.create_default_context()
    ctx.load_verify_locations(cafile=ca_file)
    return ctx


def _from_mapping(section: Mapping[str, Any]) -> dict[str, Any]:
    """cryptofeed's per-exchange section uses key_id/key_secret (ccxt's names api_key/api_secret are
    accepted too); everything else is ours."""
    credential_keys = ("key_id", "key_secret", "key_passphrase", "account_name", "api_key", "api_secret")
    data = {k: v for k, v in dict(section).items() if k not in credential_keys}
    if isinstance(data.get("auth"), Mapping):
        data["auth"] = dict(data["auth"])
    key_id = section.get("key_id") or section.get("api_key")
    key_secret = section.get("key_secret") or section.get("api_secret")
    if key_id and key_secret and "auth" not in data:
        data["auth"] = {"api_key": key_id, "private_key": key_secret}
    for nested in ("proxies", "rest", "connection", "trade_backfill", "ccxt"):
        if isinstance(data.get(nested), Mapping):
            data[nested] = dict(data[nested])
    return data


def _credentials_from_env(data: dict[str, Any]) -> None:
    if "auth" not in data or data["auth"] is None:
        key, secret = os.environ.get(ENV_API_KEY), os.environ.get(ENV_PRIVATE_KEY)
        if key and secret:
            data["auth"] = {"api_key": key, "private_key": secret}
    if "proxies" not in data and os.environ.get(ENV_PROXY):
        data["proxies"] = {"url": os.environ[ENV_PROXY]}


#: fields whose values are never echoed in an error
_SECRET_FIELDS = ("private_key", "key_secret", "auth")


def _config_error(exc: ValidationError, model: type = None) -> BackpackConfigError:
    """Turn pydantic's report into one error naming the field, the problem and the allowed values."""
    err = exc.errors()[0]
    field = ".".join(str(p) for p in err["loc"]) or "config"
    section = _section_name(model)
    if section:
        field = f"{section}.{field}"
    ctx = err.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, (BackpackAuthError, BackpackConfigError)):
        raise cause
    secret = any(part in field for part in _SECRET_FIELDS)
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(sorted(_section_model(err["loc"][:-1], model or BackpackConfig).model_fields))
        return BackpackConfigError.for_field(field, "is not an option", f"known options here: {allowed}")
    if err["type"] == "literal_error":
        got = "a value that is not allowed" if secret else f"got {err.get('input')!r}"
        return BackpackConfigError.for_field(field, got, f"allowed values: {ctx.get('expected')}")
    msg = err["msg"].removeprefix("Value error, ")
    return BackpackConfigError.for_field(field, msg, _hint(field))


def _section_name(model: type) -> str:
    """``ccxt`` for CcxtOptions, ``rest`` for RestPolicy...: where a nested model sits in BackpackConfig."""
    if model is None or model is BackpackConfig:
        return ""
    if model is BackpackAuth:
        return "auth"
    return next((name for name, f in BackpackConfig.model_fields.items() if f.annotation is model), "")


def _section_model(path: tuple, model: type) -> type:
    """The model that owns a nested field (``rest.timeout_s`` -> RestPolicy), so a typo lists its siblings."""
    for name in path:
        annotation = model.model_fields.get(str(name))
        if annotation is None or not isinstance(annotation.annotation, type) or not issubclass(annotation.annotation, BaseModel):
            break
        model = annotation.annotation
    return model


def _hint(field: str) -> str:
    return {
        "depth_window": f"allowed values: {', '.join(DEPTH_WINDOWS)}",
        "snapshot_limit": f"allowed values: {', '.join(map(str, SNAPSHOT_LIMITS))}",
        "window_ms": f"between 1 and {_auth.MAX_WINDOW_MS} milliseconds",
    }.get(field, "")
