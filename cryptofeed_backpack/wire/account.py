"""Account data: the private streams (docs/protocol.md §3.3) and the signed REST reads, as Structs
with their cryptofeed objects beside them.

Every field is optional unless the order/position cannot be identified without it, because the
docs, Backpack's Rust client and the recorded payloads disagree on which keys are always present
(ccxt's orderAccepted has no ``p``, ``c`` or ``L``; the docs' positionUpdate sends decimals as JSON
numbers). Integers arrive as numbers on the wire and as strings in ccxt recordings (``strict=False``).

Timestamps: ``E`` (event, µs) and ``T`` (engine, µs) become float seconds.
- OrderInfo.timestamp = ``E`` (when the exchange emitted the order event), else ``T``, else receipt.
- Fill.timestamp = ``T`` (the engine time of the match, the clock public trades use), else ``E``.
- Position.timestamp = ``E``, else ``T``, else receipt.

``raw`` is the decoded event dict exactly as received; cryptofeed's Fill has no fee-currency field,
so the fee currency stays in ``fill.raw['N']`` (REST: ``raw['feeSymbol']``).
Fixtures: ``tests/fixtures/ws_account.*__*.json`` and ``rest_{capital,orders,position,fills}__*.json``.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Callable, Mapping, Optional, Union

import msgspec
from cryptofeed.defines import (
    BOTH, CANCELLED, EXPIRED, FAILED, FILLED, LIMIT, LONG, MAKER, MARKET, OPEN, PARTIAL, PENDING, SHORT, TAKER,
    TRIGGER_LIMIT, TRIGGER_MARKET,
)
from cryptofeed.types import Balance, Fill, OrderInfo, Position

from ..constants import EXCHANGE_ID, SIDES
from ..errors import BackpackProtocolError
from .common import ZERO, check_amount, check_price, check_signed, first_us_to_s, ms_or_iso_to_s

ORDER_EVENTS = frozenset({
    "orderAccepted", "orderCancelled", "orderExpired", "orderFill", "orderModified", "triggerPlaced", "triggerFailed",
})
POSITION_EVENTS = frozenset({"positionAdjusted", "positionOpened", "positionClosed", "positionUpdated"})

Id = Union[int, str]
ToStd = Callable[[str], str]


class OrderUpdateMsg(msgspec.Struct, frozen=True):
    """One ``account.orderUpdate`` event (docs/protocol.md §3.3 lists every key)."""

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

    def __post_init__(self):
        for name in ("price", "trigger_price", "fill_price"):
            check_price(getattr(self, name), f"orderUpdate {name}")
        for name in ("quantity", "quote_quantity", "fill_quantity", "executed_quantity", "executed_quote_quantity"):
            check_amount(getattr(self, name), f"orderUpdate {name}")
        check_signed(self.fee, "orderUpdate n")


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

    def __post_init__(self):
        for name in ("net_quantity", "entry_price", "unrealised_pnl", "realised_pnl", "mark_price", "break_even_price"):
            check_signed(getattr(self, name), f"positionUpdate {name}")


class CapitalBalance(msgspec.Struct, frozen=True):
    """One asset of ``GET /api/v1/capital`` (DOCS schema ``Balance``: all three required)."""

    available: Decimal
    locked: Decimal
    staked: Decimal = ZERO

    def __post_init__(self):
        for name in ("available", "locked", "staked"):
            check_signed(getattr(self, name), f"capital {name}")


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




# ---- decoding: frame, envelope or dict -> Struct + the raw dict -----------------------------------

def as_json(data: Any) -> Any:
    """bytes/str/msgspec.Raw/dict, bare event or ``{"stream","data"}`` envelope -> the event dict (or list)."""
    if isinstance(data, (bytes, bytearray, memoryview, str, msgspec.Raw)):
        try:
            data = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise BackpackProtocolError(f"account frame is not JSON: {exc}") from None
    if isinstance(data, Mapping) and "data" in data and "stream" in data:
        data = data["data"]
    return data


def _convert(data: Any, kind: type) -> tuple[Any, dict]:
    raw = as_json(data)
    if not isinstance(raw, Mapping):
        raise BackpackProtocolError(f"expected a JSON object for {kind.__name__}, got {type(raw).__name__}")
    try:
        return msgspec.convert(raw, kind, strict=False), dict(raw)
    except msgspec.ValidationError as exc:
        raise BackpackProtocolError(f"{kind.__name__}: {exc}") from None


def decode_order_update(data: Any) -> tuple[OrderUpdateMsg, dict]:
    """One ``account.orderUpdate`` event: the typed event and the raw dict it came from."""
    return _convert(data, OrderUpdateMsg)


def decode_position_updates(data: Any) -> list[tuple[PositionUpdateMsg, dict]]:
    """``account.positionUpdate``: one event, or the on-subscribe snapshot (an object per position or
    an array; the docs do not say which, so both are taken)."""
    decoded = as_json(data)
    return [_convert(item, PositionUpdateMsg) for item in (decoded if isinstance(decoded, list) else [decoded])]


# ---- parsers: Struct -> cryptofeed object ---------------------------------------------------------

def _side(wire_side: Optional[str]) -> str:
    return SIDES.get(wire_side or "", (wire_side or "").lower())


def order_info(msg: OrderUpdateMsg, raw: Optional[dict], to_std: ToStd, receipt_ts: float) -> OrderInfo:
    """Market orders carry no ``p``: their price is 0. ``remaining`` is ``q - z`` (None without ``q``,
    e.g. an order sized in quote quantity)."""
    executed = msg.executed_quantity
    remaining = None if msg.quantity is None else max(msg.quantity - (executed or ZERO), ZERO)
    return OrderInfo(
        EXCHANGE_ID, to_std(msg.symbol), str(msg.order_id), _side(msg.side),
        order_status(msg.event, msg.state, msg.quantity, executed), order_type(msg.order_type, msg.trigger_price),
        msg.price if msg.price is not None else ZERO, msg.quantity if msg.quantity is not None else ZERO, remaining,
        first_us_to_s(msg.event_time_us, msg.engine_time_us, fallback=receipt_ts),
        client_order_id=None if msg.client_id is None else str(msg.client_id), raw=raw,
    )


def fill(msg: OrderUpdateMsg, raw: Optional[dict], to_std: ToStd, receipt_ts: float) -> Optional[Fill]:
    """The Fill of an ``orderFill`` event; None for every other event."""
    if msg.event != "orderFill":
        return None
    return Fill(
        EXCHANGE_ID, to_std(msg.symbol), _side(msg.side),
        msg.fill_quantity if msg.fill_quantity is not None else ZERO,
        msg.fill_price if msg.fill_price is not None else ZERO,
        msg.fee, None if msg.trade_id is None else str(msg.trade_id), str(msg.order_id),
        order_type(msg.order_type, msg.trigger_price), MAKER if msg.maker else TAKER,
        first_us_to_s(msg.engine_time_us, msg.event_time_us, fallback=receipt_ts), raw=raw,
    )


def _position_side(qty: Decimal) -> str:
    return LONG if qty > 0 else SHORT if qty < 0 else BOTH


def position(msg: PositionUpdateMsg, raw: Optional[dict], to_std: ToStd, receipt_ts: float) -> Position:
    """position = signed ``q``; side LONG/SHORT/BOTH (flat); entry_price = ``B`` (0 if absent); unrealised_pnl = ``P``."""
    qty = msg.net_quantity if msg.net_quantity is not None else ZERO
    return Position(
        EXCHANGE_ID, to_std(msg.symbol), qty, msg.entry_price if msg.entry_price is not None else ZERO,
        _position_side(qty), msg.unrealised_pnl,
        first_us_to_s(msg.event_time_us, msg.engine_time_us, fallback=receipt_ts), raw=raw,
    )


# ---- signed REST reads ------------------------------------------------------------------------------

class RestOrder(msgspec.Struct, frozen=True):
    """``GET /api/v1/orders`` element (docs schema ``OrderType``: Limit/Market; ``createdAt`` ms)."""

    id: Id
    symbol: str
    side: Optional[str] = None
    orderType: Optional[str] = None
    status: Optional[str] = None
    price: Optional[Decimal] = None
    quantity: Optional[Decimal] = None
    executedQuantity: Optional[Decimal] = None
    triggerPrice: Optional[Decimal] = None
    createdAt: Optional[Union[int, str]] = None
    clientId: Optional[Id] = None


class RestPosition(msgspec.Struct, frozen=True):
    """``GET /api/v1/position`` element; the reply carries no time."""

    symbol: str
    netQuantity: Decimal
    entryPrice: Optional[Decimal] = None
    pnlUnrealized: Optional[Decimal] = None

    def __post_init__(self):
        check_signed(self.netQuantity, "position netQuantity")


class RestFill(msgspec.Struct, frozen=True):
    """``GET /wapi/v1/history/fills`` element (``timestamp`` naive ISO or ms)."""

    symbol: str
    quantity: Decimal
    price: Decimal
    side: Optional[str] = None
    fee: Optional[Decimal] = None
    feeSymbol: Optional[str] = None
    tradeId: Optional[Id] = None
    orderId: Optional[Id] = None
    isMaker: Optional[bool] = None
    timestamp: Optional[Union[int, str]] = None


def capital(data: Any) -> dict[str, CapitalBalance]:
    """``GET /api/v1/capital``: ``{"USDC": {"available": "120", "locked": "0", "staked": "0"}, ...}``."""
    decoded = as_json(data)
    if not isinstance(decoded, Mapping):
        raise BackpackProtocolError(f"/api/v1/capital should answer an object keyed by asset, got {type(decoded).__name__}")
    reply = {}
    for asset, entry in decoded.items():
        try:
            reply[asset] = msgspec.convert(entry, CapitalBalance, strict=False)
        except msgspec.ValidationError as exc:
            raise BackpackProtocolError(f"/api/v1/capital[{asset}]: {exc}") from None
    return reply


def balance(asset: str, bal: CapitalBalance, raw=None) -> Balance:
    """balance = available + locked + staked (Rust client ``Balance::total``); reserved = locked + staked,
    so ``balance - reserved`` is what can be traded now (ccxt counts staked as used, too)."""
    return Balance(EXCHANGE_ID, asset, bal.available + bal.locked + bal.staked, bal.locked + bal.staked, raw=raw)


def balances(reply: Mapping[str, CapitalBalance]) -> list[Balance]:
    """One Balance per asset, sorted by asset."""
    return [balance(asset, reply[asset], raw=msgspec.to_builtins(reply[asset])) for asset in sorted(reply)]


def rest_order_info(o: RestOrder, to_std: ToStd, raw=None) -> OrderInfo:
    executed = o.executedQuantity or ZERO
    return OrderInfo(
        EXCHANGE_ID, to_std(o.symbol), str(o.id), _side(o.side), order_status(None, o.status, o.quantity, executed),
        order_type(o.orderType, o.triggerPrice), o.price, o.quantity,
        None if o.quantity is None else o.quantity - executed, ms_or_iso_to_s(o.createdAt),
        client_order_id=None if o.clientId is None else str(o.clientId), raw=raw,
    )


def rest_position(p: RestPosition, to_std: ToStd, received_s: float, raw=None) -> Position:
    return Position(EXCHANGE_ID, to_std(p.symbol), p.netQuantity, p.entryPrice, _position_side(p.netQuantity),
                    p.pnlUnrealized, received_s, raw=raw)


def rest_fill(f: RestFill, to_std: ToStd, raw=None) -> Fill:
    liquidity = None if f.isMaker is None else (MAKER if f.isMaker else TAKER)
    return Fill(EXCHANGE_ID, to_std(f.symbol), _side(f.side), f.quantity, f.price, f.fee, str(f.tradeId),
                str(f.orderId), None, liquidity, ms_or_iso_to_s(f.timestamp), raw=raw)


ORDERS = msgspec.json.Decoder(list[RestOrder], strict=False)
POSITIONS = msgspec.json.Decoder(list[RestPosition], strict=False)
FILLS = msgspec.json.Decoder(list[RestFill], strict=False)
