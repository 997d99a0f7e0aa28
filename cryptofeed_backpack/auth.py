"""ED25519 request signing for Backpack (docs/protocol.md §2). Pure functions, no I/O.

The signed string is ``instruction=<name>[&k=v ...sorted by key]&timestamp=<ms>&window=<ms>``;
timestamps and windows are milliseconds. The secret is the 32-byte Ed25519 seed.
"""
from __future__ import annotations

from dataclasses import dataclass

import base64
import binascii
import time
from typing import Any, Iterable, Mapping, Sequence

from .errors import BackpackAuthError

# `cryptography` is imported inside the three functions that use the key (public_key_from_seed, sign,
# verify): it adds about 8 MB of RSS, and a public-only feed never signs (docs/performance.md).

DEFAULT_WINDOW_MS = 5000
MAX_WINDOW_MS = 60000


def now_ms() -> int:
    return int(time.time() * 1000)


def _decode_key_bytes(value: str, what: str) -> bytes:
    """Accept hex or base64 (standard or url-safe). Never echoes the value in errors."""
    text = value.strip()
    if len(text) in (64, 128) and all(c in "0123456789abcdefABCDEF" for c in text):
        return bytes.fromhex(text)
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        pass
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        pass
    raise BackpackAuthError(f"{what} is neither base64 nor hex", fix=f"pass the {what} as base64 (as Backpack shows it) or hex")


def parse_private_key(value: str, what: str = "private key") -> bytes:
    """Return the 32-byte seed from a base64/hex seed, or from a 64-byte seed||public keypair."""
    raw = _decode_key_bytes(value, what)
    if len(raw) == 64:
        raw = raw[:32]
    if len(raw) != 32:
        raise BackpackAuthError(
            f"{what} decodes to {len(raw)} bytes, expected 32 (an Ed25519 seed) or 64 (seed followed by public key)",
            fix="copy the API secret exactly as Backpack issued it",
        )
    return raw


def parse_public_key(value: str, what: str = "API key") -> bytes:
    raw = _decode_key_bytes(value, what)
    if len(raw) != 32:
        raise BackpackAuthError(
            f"{what} decodes to {len(raw)} bytes, expected 32 (an Ed25519 public key)",
            fix=f"the {what} is the base64 public key Backpack shows next to the secret",
        )
    return raw


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def public_key_from_seed(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # lazy: see the imports
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    return Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def _format_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _sorted_pairs(params: Mapping[str, Any]) -> str:
    return "&".join(f"{k}={_format_value(params[k])}" for k in sorted(params) if params[k] is not None)


def _as_int(value: Any) -> int | None:
    """int, or a decimal-digit string (a verifier reads them from headers); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _check_timing(timestamp_ms: Any, window_ms: Any) -> None:
    """Reject what the exchange would reject with an opaque "Invalid signature" / "Request has expired"."""
    window = _as_int(window_ms)
    if window is None or not 1 <= window <= MAX_WINDOW_MS:
        raise BackpackAuthError(
            f"window_ms={window_ms!r} is outside 1..{MAX_WINDOW_MS}", fix="use an integer window in milliseconds, default 5000"
        )
    ts = _as_int(timestamp_ms)
    if ts is None or not 0 < ts < 10**14:
        raise BackpackAuthError(
            f"timestamp_ms={timestamp_ms!r} is not an integer Unix time in milliseconds",
            fix="pass int(time.time() * 1000); microseconds or float seconds make the signature invalid",
        )


def signing_string(
    instruction: str,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None,
    timestamp_ms: int,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> str:
    """Build the exact string Backpack verifies.

    ``params`` is the query (GET) or the JSON body (POST/DELETE); a list of dicts is the batch
    form, where each element becomes its own ``instruction=...&<sorted k=v>`` piece.
    """
    _check_timing(timestamp_ms, window_ms)
    if isinstance(params, Sequence) and not isinstance(params, (str, bytes)):
        pieces = []
        for item in params:
            body = _sorted_pairs(item)
            pieces.append(f"instruction={instruction}" + (f"&{body}" if body else ""))
        head = "&".join(pieces) or f"instruction={instruction}"  # an empty batch signs like no params
    else:
        body = _sorted_pairs(params or {})
        head = f"instruction={instruction}" + (f"&{body}" if body else "")
    return f"{head}&timestamp={timestamp_ms}&window={window_ms}"


def sign(seed: bytes, message: str) -> str:
    """Base64 Ed25519 signature of ``message`` (UTF-8)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # lazy: see the imports

    return b64(Ed25519PrivateKey.from_private_bytes(seed).sign(message.encode("utf-8")))


def verify(public_key: bytes, message: str, signature_b64: str) -> bool:
    from cryptography.exceptions import InvalidSignature  # lazy: see the imports
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        sig = base64.b64decode(signature_b64, validate=True)
        Ed25519PublicKey.from_public_bytes(public_key).verify(sig, message.encode("utf-8"))
        return True
    except (InvalidSignature, binascii.Error, ValueError):
        return False


def rest_headers(
    api_key_b64: str,
    seed: bytes,
    instruction: str,
    params: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
    *,
    timestamp_ms: int | None = None,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> dict[str, str]:
    ts = now_ms() if timestamp_ms is None else timestamp_ms
    signature = sign(seed, signing_string(instruction, params, ts, window_ms))
    return {
        "X-API-Key": api_key_b64,
        "X-Signature": signature,
        "X-Timestamp": str(ts),
        "X-Window": str(window_ms),
        "Content-Type": "application/json; charset=utf-8",
    }


def ws_signature(
    api_key_b64: str,
    seed: bytes,
    *,
    timestamp_ms: int | None = None,
    window_ms: int = DEFAULT_WINDOW_MS,
) -> list[str]:
    """The ``signature`` array of a private SUBSCRIBE: [verifying key, signature, timestamp, window], all strings."""
    ts = now_ms() if timestamp_ms is None else timestamp_ms
    signature = sign(seed, signing_string("subscribe", None, ts, window_ms))
    return [api_key_b64, signature, str(ts), str(window_ms)]


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of any secret form in ``text`` (a last line of defence for logs)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


# ---- clock ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClockSample:
    server_ms: int
    local_mid_ms: float
    round_trip_ms: float

    @property
    def drift_ms(self) -> float:
        """Positive when the local clock is ahead of the exchange."""
        return self.local_mid_ms - self.server_ms

    @property
    def skew_ms(self) -> float:
        """How far the exchange's clock is ahead of ours (the opposite sign of ``drift_ms``)."""
        return -self.drift_ms


def clock_sample(sent_ms: float, received_ms: float, server_ms: int) -> ClockSample:
    """The server answered somewhere inside [sent, received]; assume the midpoint."""
    return ClockSample(server_ms, (sent_ms + received_ms) / 2, received_ms - sent_ms)
