"""The WebSocket session (docs/protocol.md §3.1, §2.3): the envelope every frame comes in, error
frames, (un)subscribe frames, and what a rejected private subscription means.
Fixtures: ``tests/fixtures/ws_error__*.json``.
"""
from __future__ import annotations

import json
from typing import Iterable, Optional, Sequence

import msgspec

from ..constants import NOT_AUTH_ERROR_CODES, STREAM_FOR_CHANNEL
from ..errors import BackpackAuthError
from .common import decoder


class WsError(msgspec.Struct, frozen=True):
    code: int
    message: str = ""


class Envelope(msgspec.Struct, frozen=True):
    """Every pushed frame: ``{"stream": ..., "data": {...}}``; error replies: ``{"id": null, "error": {...}}``.
    ``data`` stays raw so it is decoded once, by the decoder of its stream kind."""

    stream: Optional[str] = None
    data: msgspec.Raw = msgspec.Raw(b"")
    error: Optional[WsError] = None


ENVELOPE = decoder(Envelope)


def subscribe_frame(streams: Sequence[str], method: str = "SUBSCRIBE", signature: Optional[Sequence[str]] = None) -> str:
    """The JSON text of a (UN)SUBSCRIBE, signed when ``signature`` is ``[api key, signature, timestamp ms,
    window ms]`` (auth.ws_signature). A ``str``, so websockets sends a TEXT frame (bytes would go binary)."""
    frame: dict = {"method": method, "params": list(streams)}
    if signature is not None:
        signature = [str(item) for item in signature]
        if len(signature) != 4:
            raise ValueError("signature must be [api key, signature, timestamp ms, window ms] (auth.ws_signature)")
        frame["signature"] = signature
    return json.dumps(frame, separators=(",", ":"))


def private_stream_names(channels: Iterable[str], symbols: Optional[Sequence[str]] = None) -> list[str]:
    """Backpack stream names for cryptofeed's private channels, from the stream table.

    ORDER_INFO and FILLS share ``account.orderUpdate``; POSITIONS is ``account.positionUpdate``.
    ``symbols`` are Backpack symbols; empty or None means every market (the bare stream). Public
    channels, and BALANCES (a REST poll), add nothing. No duplicates; first-seen order.
    """
    names: list[str] = []
    for channel in channels:
        kind = STREAM_FOR_CHANNEL.get(channel)
        if kind is None or not kind.private:
            continue
        for name in ([kind.name(s) for s in symbols] if symbols else [kind.name(None)]):
            if name not in names:
                names.append(name)
    return names


# ---- rejected subscriptions ---------------------------------------------------------------

_CLOCK_WORDS = ("expired", "x-window", "recvwindow", "timestamp", "too early", "future", "clock")
_SIGNATURE_WORDS = ("signature",)
_KEY_WORDS = ("api key", "apikey", "api-key", "x-api-key", "unauthorized", "forbidden", "public key", "verifying key")


def explain_ws_error(code: Optional[int | str], message: Optional[str]) -> Optional[BackpackAuthError]:
    """A BackpackAuthError naming cause and fix when an error frame rejects credentials, else None.

    Backpack's exact WS texts for auth failures are not published; the REST FAQ lists
    "Invalid signature", "Request has expired" and "Invalid X-Signature header", and the REST codes
    INVALID_SIGNATURE / UNAUTHORIZED exist. So this matches on the code and on keywords.
    Non-auth errors (4002 Parse error, 4006 Invalid stream, 4008 Invalid depth window) give None.
    """
    text = (message or "").lower()
    code_text = str(code).upper() if code is not None else ""
    if code_text in {str(c) for c in NOT_AUTH_ERROR_CODES}:
        return None
    head = f"private subscription rejected ({code}: {message})"
    if "missing" in text and any(word in text for word in ("signature", "auth", "header", "key")):
        return BackpackAuthError.because(
            head,
            cause="the subscription carried no (or incomplete) credentials",
            fix="configure auth (api_key/private_key) with enable_private_channels=True so SUBSCRIBE is signed",
        )
    if any(word in text for word in _CLOCK_WORDS) or code_text == "TOO_EARLY":
        return BackpackAuthError.because(
            head,
            cause="the signed timestamp is outside the accepted window: the local clock is off or window_ms is too small",
            fix="sync the clock (NTP), measure the drift with `cryptofeed-backpack auth-check`, or raise window_ms (max 60000)",
        )
    if code_text == "INVALID_SIGNATURE" or any(word in text for word in _SIGNATURE_WORDS):
        return BackpackAuthError.because(
            head,
            cause="the signature did not verify: the private key is not the pair of the API key, or it is not an Ed25519 seed",
            fix="run `cryptofeed-backpack auth-check` and use the API key / secret pair exactly as Backpack issued it",
        )
    if code_text in ("UNAUTHORIZED", "FORBIDDEN") or any(word in text for word in _KEY_WORDS):
        return BackpackAuthError.because(
            head,
            cause="the API key is unknown, revoked or lacks permission",
            fix="check auth.api_key is the base64 public key of an active Backpack API key",
        )
    return None
