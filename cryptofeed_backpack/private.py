"""Private (``account.*``) streams and the REST balance poll: wire Structs and pure parsers.

Wire reference: PROTOCOL.md §3.3 (DOCS Streams/Private, RUST ``OrderUpdate``, CCXT). Every field
is optional unless the order/position cannot be identified without it, because the docs, the
Rust client and the recorded payloads disagree on which keys are always present (ccxt's orderAccepted
has no ``p``, ``c`` or ``L``; the docs' positionUpdate sends decimals as JSON numbers). Integers
(``E``, ``T``, ``t``...) arrive as JSON numbers on the wire and as strings in ccxt recordings:
the decoder runs with ``strict=False`` so both work.

Timestamps: ``E`` (event, µs) and ``T`` (engine, µs) become float seconds.
- OrderInfo.timestamp = ``E`` (when the exchange emitted the order event), else ``T``, else receipt.
- Fill.timestamp = ``T`` (the engine time of the match, the same clock public trades use), else ``E``.
- Position.timestamp = ``E``, else ``T``, else receipt.

Fee currency: cryptofeed's Fill has no fee-currency field, so it stays in ``fill.raw['N']``
(``raw`` is the decoded event dict, exactly as received).
"""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, Callable, Iterable, Mapping, Optional, Sequence, Union

import msgspec
from cryptofeed.defines import (
    BOTH, BUY, CANCELLED, EXPIRED, FAILED, FILLED, FILLS, LIMIT, LONG, MAKER, MARKET, OPEN,
    ORDER_INFO, PARTIAL, PENDING, POSITIONS, SELL, SHORT, TAKER, TRIGGER_LIMIT, TRIGGER_MARKET,
)
from cryptofeed.types import Balance, Fill, OrderInfo, Position

from .errors import BackpackAuthError, BackpackProtocolError

BACKPACK = "BACKPACK"
ZERO = Decimal(0)

ORDER_UPDATE_STREAM = "account.orderUpdate"
POSITION_UPDATE_STREAM = "account.positionUpdate"
ORDER_EVENTS = frozenset({
    "orderAccepted", "orderCancelled", "orderExpired", "orderFill", "orderModified", "triggerPlaced", "triggerFailed",
})
POSITION_EVENTS = frozenset({"positionAdjusted", "positionOpened", "positionClosed", "positionUpdated"})

Id = Union[int, str]


class OrderUpdateMsg(msgspec.Struct, frozen=True):
    """One ``account.orderUpdate`` event (PROTOCOL.md §3.3 lists every key)."""

    order_id: Id = msgspec.field(name="i")
    symbol: str = msgspec.field(name="s")
    event: Optional[str] = msgspec.field(name="e", default=None)
    event_time_us: Optional[int] = msgspec.field(name="E", default=None)
    engine_time_us: Optional[int] = msgspec.field(name="T", default=None)
    client_id: Optional[Id] = msgspec.field(name="c", default=None)
    side: Optional[str] = msgspec.field(name="S", default=None)
    order_type: Optional[str] = msgspec.field(name="o", default=None)
    time_in_force: Optional[str] = msgspec.field(name="f", default=None)
    quantity: Optional[Decimal] = msgspec.field(name="q", default=None)
    quote_quantity: Optional[Decimal] = msgspec.field(name="Q", default=None)
    price: Optional[Decimal] = msgspec.field(name="p", default=None)
    trigger_price: Optional[Decimal] = msgspec.field(name="P", default=None)
    trigger_by: Optional[str] = msgspec.field(name="B", default=None)
    take_profit_trigger_price: Optional[Decimal] = msgspec.field(name="a", default=None)
    stop_loss_trigger_price: Optional[Decimal] = msgspec.field(name="b", default=None)
    take_profit_limit_price: Optional[Decimal] = msgspec.field(name="j", default=None)
    stop_loss_limit_price: Optional[Decimal] = msgspec.field(name="k", default=None)
    take_profit_trigger_by: Optional[str] = msgspec.field(name="d", default=None)
    stop_loss_trigger_by: Optional[str] = msgspec.field(name="g", default=None)
    trigger_quantity: Optional[Union[str, int, float]] = msgspec.field(name="Y", default=None)  # "12.5%" or an amount
    state: Optional[str] = msgspec.field(name="X", default=None)
    expiry_reason: Optional[str] = msgspec.field(name="R", default=None)
    trade_id: Optional[int] = msgspec.field(name="t", default=None)
    fill_quantity: Optional[Decimal] = msgspec.field(name="l", default=None)
    executed_quantity: Optional[Decimal] = msgspec.field(name="z", default=None)
    executed_quote_quantity: Optional[Decimal] = msgspec.field(name="Z", default=None)
    fill_price: Optional[Decimal] = msgspec.field(name="L", default=None)
    maker: Optional[bool] = msgspec.field(name="m", default=None)
    fee: Optional[Decimal] = msgspec.field(name="n", default=None)
    fee_symbol: Optional[str] = msgspec.field(name="N", default=None)
    self_trade_prevention: Optional[str] = msgspec.field(name="V", default=None)
    origin: Optional[str] = msgspec.field(name="O", default=None)
    related_order_id: Optional[Id] = msgspec.field(name="I", default=None)
    strategy_id: Optional[Id] = msgspec.field(name="H", default=None)
    post_only: Optional[bool] = msgspec.field(name="y", default=None)
    reduce_only: Optional[bool] = msgspec.field(name="r", default=None)


class PositionUpdateMsg(msgspec.Struct, frozen=True):
    """One ``account.positionUpdate`` event; the snapshot sent on subscribe has no ``e``."""

    symbol: str = msgspec.field(name="s")
    event: Optional[str] = msgspec.field(name="e", default=None)
    event_time_us: Optional[int] = msgspec.field(name="E", default=None)
    engine_time_us: Optional[int] = msgspec.field(name="T", default=None)
    break_even_price: Optional[Decimal] = msgspec.field(name="b", default=None)
    entry_price: Optional[Decimal] = msgspec.field(name="B", default=None)
    imf: Optional[Decimal] = msgspec.field(name="f", default=None)
    mark_price: Optional[Decimal] = msgspec.field(name="M", default=None)
    mmf: Optional[Decimal] = msgspec.field(name="m", default=None)
    net_quantity: Optional[Decimal] = msgspec.field(name="q", default=None)
    net_exposure_quantity: Optional[Decimal] = msgspec.field(name="Q", default=None)
    net_exposure_notional: Optional[Decimal] = msgspec.field(name="n", default=None)
    position_id: Optional[Id] = msgspec.field(name="i", default=None)
    realised_pnl: Optional[Decimal] = msgspec.field(name="p", default=None)
    unrealised_pnl: Optional[Decimal] = msgspec.field(name="P", default=None)
    liquidation_price: Optional[Decimal] = msgspec.field(name="l", default=None)  # placeholder 0 since 2025-09-01


class CapitalBalance(msgspec.Struct, frozen=True):
    """One asset of ``GET /api/v1/capital`` (DOCS schema ``Balance``: all three required)."""

    available: Decimal
    locked: Decimal
    staked: Decimal = ZERO


# ---- status and type tables ------------------------------------------------------------------

#: Backpack order state ``X`` -> cryptofeed status. Full enum from RUST ``OrderStatus``
#: (Cancelled, Expired, Filled, New, PartiallyFilled, Triggered, TriggerPending, TriggerFailed).
ORDER_STATE_TO_STATUS: Mapping[str, str] = {
    "New": OPEN,
    "PartiallyFilled": PARTIAL,
    "Filled": FILLED,
    "Cancelled": CANCELLED,
    "Expired": EXPIRED,
    "TriggerPending": PENDING,
    "Triggered": OPEN,  # the trigger fired and the order now rests on the book
    "TriggerFailed": FAILED,
}

#: Used only when ``X`` is absent or a value this table does not know (the enum is non-exhaustive).
ORDER_EVENT_TO_STATUS: Mapping[str, str] = {
    "orderAccepted": OPEN,
    "orderModified": OPEN,
    "orderCancelled": CANCELLED,
    "orderExpired": EXPIRED,
    "triggerPlaced": PENDING,
    "triggerFailed": FAILED,
    # orderFill: PARTIAL or FILLED, decided from z against q
}

SIDE_TO_CRYPTOFEED: Mapping[str, str] = {"Bid": BUY, "Ask": SELL}


def order_status(event: Optional[str], state: Optional[str], quantity: Optional[Decimal] = None,
                 executed: Optional[Decimal] = None) -> str:
    """cryptofeed status for an order event. ``X`` wins; the event type is the fallback."""
    if state in ORDER_STATE_TO_STATUS:
        return ORDER_STATE_TO_STATUS[state]
    if event == "orderFill":
        return FILLED if quantity is not None and executed is not None and executed >= quantity else PARTIAL
    if event in ORDER_EVENT_TO_STATUS:
        return ORDER_EVENT_TO_STATUS[event]
    # An unknown state from a newer exchange version: pass it through rather than guess.
    return (state or event or "unknown").lower()


def order_type(wire_type: Optional[str], trigger_price: Optional[Decimal]) -> str:
    """``o`` is ``LIMIT``/``MARKET`` on the wire (REST says ``Limit``/``Market``); a trigger price makes it conditional."""
    kind = (wire_type or "").upper()
    if kind == "LIMIT":
        return TRIGGER_LIMIT if trigger_price is not None else LIMIT
    if kind == "MARKET":
        return TRIGGER_MARKET if trigger_price is not None else MARKET
    return kind.lower() or "unknown"


# ---- decoding helpers ------------------------------------------------------------------------

def _us_to_s(*candidates: Optional[int], fallback: Optional[float] = None) -> Optional[float]:
    for value in candidates:
        if value:
            return value / 1_000_000
    return None if fallback is None else float(fallback)


def _as_dict(data: Any) -> Any:
    """bytes/str/msgspec.Raw/dict, bare event or ``{"stream","data"}`` envelope -> the event dict (or list)."""
    if isinstance(data, (bytes, bytearray, memoryview, str, msgspec.Raw)):
        try:
            data = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise BackpackProtocolError(f"private frame is not JSON: {exc}") from None
    if isinstance(data, Mapping) and "data" in data and "stream" in data:
        data = data["data"]
    return data


def _convert(data: Any, kind: type) -> tuple[Any, dict]:
    if isinstance(data, kind):
        return data, msgspec.to_builtins(data)
    raw = _as_dict(data)
    if not isinstance(raw, Mapping):
        raise BackpackProtocolError(f"expected a JSON object for {kind.__name__}, got {type(raw).__name__}")
    try:
        return msgspec.convert(raw, kind, strict=False), dict(raw)
    except msgspec.ValidationError as exc:
        raise BackpackProtocolError(f"{kind.__name__}: {exc}") from None


# ---- parsers ---------------------------------------------------------------------------------

def decode_order_update(data: Any) -> tuple[OrderUpdateMsg, dict]:
    """The typed event and the raw dict it came from."""
    return _convert(data, OrderUpdateMsg)


def parse_order_update(
    data: Any,
    exchange_symbol_to_std: Callable[[str], str],
    receipt_ts: float,
) -> tuple[OrderInfo, Optional[Fill]]:
    """One ``account.orderUpdate`` event -> (OrderInfo, Fill for ``orderFill`` events else None).

    ``data``: the frame (bytes/str), the envelope or event dict, or an ``OrderUpdateMsg``.
    Market orders carry no ``p``: their OrderInfo.price is 0. ``remaining`` is ``q - z`` (None
    when ``q`` is absent, e.g. an order sized in quote quantity).
    """
    msg, raw = decode_order_update(data)
    symbol = exchange_symbol_to_std(msg.symbol)
    side = SIDE_TO_CRYPTOFEED.get(msg.side or "", (msg.side or "").lower())
    kind = order_type(msg.order_type, msg.trigger_price)
    executed = msg.executed_quantity
    remaining = None
    if msg.quantity is not None:
        remaining = max(msg.quantity - (executed or ZERO), ZERO)
    info = OrderInfo(
        BACKPACK,
        symbol,
        str(msg.order_id),
        side,
        order_status(msg.event, msg.state, msg.quantity, executed),
        kind,
        msg.price if msg.price is not None else ZERO,
        msg.quantity if msg.quantity is not None else ZERO,
        remaining,
        _us_to_s(msg.event_time_us, msg.engine_time_us, fallback=receipt_ts),
        client_order_id=None if msg.client_id is None else str(msg.client_id),
        raw=raw,
    )
    fill = None
    if msg.event == "orderFill":
        fill = Fill(
            BACKPACK,
            symbol,
            side,
            msg.fill_quantity if msg.fill_quantity is not None else ZERO,
            msg.fill_price if msg.fill_price is not None else ZERO,
            msg.fee,
            None if msg.trade_id is None else str(msg.trade_id),
            str(msg.order_id),
            kind,
            MAKER if msg.maker else TAKER,
            _us_to_s(msg.engine_time_us, msg.event_time_us, fallback=receipt_ts),
            raw=raw,
        )
    return info, fill


def parse_position_update(
    data: Any,
    exchange_symbol_to_std: Callable[[str], str],
    receipt_ts: float,
) -> Position:
    """One ``account.positionUpdate`` object (an event, or an element of the snapshot without ``e``).

    position = signed ``q``; side LONG (q > 0), SHORT (q < 0) or BOTH (flat, q == 0 or absent);
    entry_price = ``B`` (0 if absent); unrealised_pnl = ``P``.
    """
    msg, raw = _convert(data, PositionUpdateMsg)
    qty = msg.net_quantity if msg.net_quantity is not None else ZERO
    side = LONG if qty > 0 else SHORT if qty < 0 else BOTH
    return Position(
        BACKPACK,
        exchange_symbol_to_std(msg.symbol),
        qty,
        msg.entry_price if msg.entry_price is not None else ZERO,
        side,
        msg.unrealised_pnl,
        _us_to_s(msg.event_time_us, msg.engine_time_us, fallback=receipt_ts),
        raw=raw,
    )


def parse_position_updates(
    data: Any,
    exchange_symbol_to_std: Callable[[str], str],
    receipt_ts: float,
) -> list[Position]:
    """Like :func:`parse_position_update` but also accepts a list (the docs do not show whether the
    on-subscribe snapshot is one object per position or an array, so take both)."""
    decoded = data if isinstance(data, PositionUpdateMsg) else _as_dict(data)
    items = decoded if isinstance(decoded, list) else [decoded]
    return [parse_position_update(item, exchange_symbol_to_std, receipt_ts) for item in items]


def parse_balances(decoded_json: Any) -> list[Balance]:
    """``GET /api/v1/capital`` (instruction ``balanceQuery``) -> one Balance per asset, sorted by asset.

    Reply shape (DOCS schema ``Balance``; RUST ``capital.rs``; CCXT ``parse_balance`` comment):
    ``{"USDC": {"available": "120", "locked": "0", "staked": "0"}, ...}``.
    balance = available + locked + staked (RUST ``Balance::total``); reserved = locked + staked,
    so ``balance - reserved`` is what can be traded now (CCXT counts staked as used, too).
    """
    if isinstance(decoded_json, (bytes, bytearray, str)):
        decoded_json = _as_dict(decoded_json)
    if not isinstance(decoded_json, Mapping):
        raise BackpackProtocolError(
            f"/api/v1/capital should answer an object keyed by asset, got {type(decoded_json).__name__}"
        )
    out = []
    for asset in sorted(decoded_json):
        entry = decoded_json[asset]
        try:
            bal = msgspec.convert(entry, CapitalBalance, strict=False)
        except msgspec.ValidationError as exc:
            raise BackpackProtocolError(f"/api/v1/capital[{asset}]: {exc}") from None
        out.append(Balance(BACKPACK, asset, bal.available + bal.locked + bal.staked, bal.locked + bal.staked,
                           raw=dict(entry)))
    return out


# ---- subscription --------------------------------------------------------------------------

def private_stream_names(channels: Iterable[str], symbols: Optional[Sequence[str]] = None) -> list[str]:
    """Backpack stream names for cryptofeed's private channels.

    ORDER_INFO and FILLS share ``account.orderUpdate``; POSITIONS is ``account.positionUpdate``.
    ``symbols`` are Backpack symbols (``SOL_USDC_PERP``); empty or None means every market (the
    bare stream). Other channels (public ones, and BALANCES, which is a REST poll) add nothing.
    The result has no duplicates and keeps first-seen order.
    """
    names: list[str] = []
    for channel in channels:
        if channel in (ORDER_INFO, FILLS):
            base = ORDER_UPDATE_STREAM
        elif channel == POSITIONS:
            base = POSITION_UPDATE_STREAM
        else:
            continue
        for name in ([f"{base}.{s}" for s in symbols] if symbols else [base]):
            if name not in names:
                names.append(name)
    return names


def subscribe_message(streams: Sequence[str], signature_array: Sequence[str], method: str = "SUBSCRIBE") -> str:
    """The JSON text frame for a private (UN)SUBSCRIBE. Returned as ``str`` so websockets sends a text frame."""
    signature = [str(item) for item in signature_array]
    if len(signature) != 4:
        raise ValueError("signature_array must be [api key, signature, timestamp ms, window ms] (auth.ws_signature)")
    return json.dumps({"method": method, "params": list(streams), "signature": signature}, separators=(",", ":"))


# ---- rejected subscriptions ---------------------------------------------------------------

_CLOCK_WORDS = ("expired", "x-window", "recvwindow", "timestamp", "too early", "future", "clock")
_SIGNATURE_WORDS = ("signature",)
_NOT_AUTH_CODES = frozenset({"4002", "4006", "4008"})  # Parse error, Invalid stream, Invalid depth window
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
    if code_text in _NOT_AUTH_CODES:
        return None
    head = f"private subscription rejected ({code}: {message})"
    if "missing" in text and any(word in text for word in ("signature", "auth", "header", "key")):
        return BackpackAuthError(
            head,
            cause="the subscription carried no (or incomplete) credentials",
            fix="configure auth (api_key/private_key) with enable_private_channels=True so SUBSCRIBE is signed",
        )
    if any(word in text for word in _CLOCK_WORDS) or code_text == "TOO_EARLY":
        return BackpackAuthError(
            head,
            cause="the signed timestamp is outside the accepted window: the local clock is off or window_ms is too small",
            fix="sync the clock (NTP), measure the drift with `cryptofeed-backpack auth-check`, or raise window_ms (max 60000)",
        )
    if code_text == "INVALID_SIGNATURE" or any(word in text for word in _SIGNATURE_WORDS):
        return BackpackAuthError(
            head,
            cause="the signature did not verify: the private key is not the pair of the API key, or it is not an Ed25519 seed",
            fix="run `cryptofeed-backpack auth-check` and use the API key / secret pair exactly as Backpack issued it",
        )
    if code_text in ("UNAUTHORIZED", "FORBIDDEN") or any(word in text for word in _KEY_WORDS):
        return BackpackAuthError(
            head,
            cause="the API key is unknown, revoked or lacks permission",
            fix="check auth.api_key is the base64 public key of an active Backpack API key",
        )
    return None
