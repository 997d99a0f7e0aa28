"""Simulated accounts: ED25519 verification, orders, fills, positions and their stream events.

Event field sets are exactly those of the recorded payloads (docs/protocol.md §3.3):
orderAccepted = ccxt-comment__ws-orderAccepted__ETH_USDC.json (+ ``p`` for limit orders and
``c`` when a client id is given, both in docs-example__ws-orderUpdate__SOL_USD.json);
orderFill = ccxt-comment__ws-orderFill-data__ETH_USDC.json; position events =
ccxt-comment__ws-positionOpened__ETH_USDC_PERP.json.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional

from .. import auth
from .engine import MarketSim, UserFill, UserOrder, now_us
from .hub import Hub

FEE_RATE = Decimal("0.0004")
MAX_WINDOW_MS = 60_000


class AuthFailure(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Position:
    symbol: str
    id: int
    qty: Decimal = Decimal(0)  # signed, base units
    entry: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)


@dataclass
class Account:
    api_key: str
    public_key: bytes
    balances: dict = field(default_factory=lambda: {"USDC": Decimal("100000")})
    orders: dict = field(default_factory=dict)  # id -> UserOrder
    fills: list = field(default_factory=list)  # REST fill history rows
    positions: dict = field(default_factory=dict)  # symbol -> Position


class Accounts:
    def __init__(self, hub: Hub):
        self.hub = hub
        self.by_key: dict[str, Account] = {}
        self._position_seq = 5_411_399_049

    def add(self, api_key_b64: str) -> Account:
        key = auth.parse_public_key(api_key_b64)
        norm = auth.b64(key)
        if norm not in self.by_key:
            self.by_key[norm] = Account(norm, key)
        return self.by_key[norm]

    # ---- verification -----------------------------------------------------------------

    def verify(self, api_key: Optional[str], signature: Optional[str], timestamp: Optional[str],
               window: Optional[str], instruction: str, params: dict) -> Account:
        """Check a signed request the way Backpack does; raise AuthFailure with its error."""
        if not api_key or not signature or not timestamp:
            raise AuthFailure(401, "UNAUTHORIZED", "Missing authentication headers")
        account = self.by_key.get(api_key)
        if account is None:
            raise AuthFailure(401, "UNAUTHORIZED", "Invalid API key")
        try:
            ts = int(timestamp)
            win = int(window) if window else auth.DEFAULT_WINDOW_MS
        except ValueError:
            raise AuthFailure(400, "INVALID_CLIENT_REQUEST", "Invalid timestamp or window") from None
        if win <= 0 or win > MAX_WINDOW_MS:
            raise AuthFailure(400, "INVALID_CLIENT_REQUEST", "Invalid window")
        now = int(time.time() * 1000)
        if now - ts > win or ts - now > win:
            raise AuthFailure(400, "INVALID_CLIENT_REQUEST", "Request has expired")
        message = auth.signing_string(instruction, params, ts, win)
        try:
            import base64
            raw = base64.b64decode(signature, validate=True)
        except ValueError:
            raise AuthFailure(400, "INVALID_CLIENT_REQUEST", "Invalid X-Signature header") from None
        if len(raw) != 64:
            raise AuthFailure(400, "INVALID_CLIENT_REQUEST", "Invalid X-Signature header")
        if not auth.verify(account.public_key, message, signature):
            raise AuthFailure(400, "INVALID_CLIENT_REQUEST", "Invalid signature")
        return account

    def verify_ws(self, sig: object) -> Account:
        if not isinstance(sig, list) or len(sig) != 4 or not all(isinstance(x, str) for x in sig):
            raise AuthFailure(400, "INVALID_CLIENT_REQUEST", "Invalid signature")
        key, signature, ts, window = sig
        return self.verify(key, signature, ts, window, "subscribe", {})

    # ---- orders -----------------------------------------------------------------------

    def new_order(self, account: Account, m: MarketSim, side: str, price, quantity, client_id) -> UserOrder:
        if side not in ("Bid", "Ask"):
            raise ValueError("side must be 'Bid' or 'Ask'")
        spec = m.spec
        m.order_seq += 1
        order = UserOrder(
            id=str(m.order_seq), account=account.api_key, symbol=m.symbol, side=side,
            price=None if price is None else spec.price_ticks(price), qty=spec.qty_steps(quantity),
            client_id=client_id, created_ms=int(time.time() * 1000),
        )
        if order.qty <= 0:
            raise ValueError("quantity rounds to zero steps")
        account.orders[order.id] = order
        self._order_event(m, order, "orderAccepted")
        m.place(order)
        if order.price is None and order.status == "Expired":
            self._order_event(m, order, "orderExpired")
        return order

    def cancel(self, account: Account, m: MarketSim, order_id: str) -> bool:
        order = account.orders.get(str(order_id))
        if order is None or not m.cancel(order):
            return False
        self._order_event(m, order, "orderCancelled")
        return True

    def on_fill(self, m: MarketSim, fill: UserFill) -> None:
        account = self.by_key.get(fill.order.account)
        if account is None:
            return
        spec, order = m.spec, fill.order
        price, qty = spec.price_dec(fill.price), spec.qty_dec(fill.qty)
        fee_symbol = spec.base if (order.side == "Bid" and not spec.is_perp) else spec.quote
        fee = (qty if fee_symbol == spec.base else qty * price) * FEE_RATE
        fee = fee.quantize(Decimal("0.000001"))
        account.fills.append({
            "clientId": order.client_id, "fee": _s(fee), "feeSymbol": fee_symbol, "isMaker": fill.maker,
            "orderId": order.id, "price": spec.price_str(fill.price), "quantity": spec.qty_str(fill.qty),
            "side": order.side, "symbol": m.symbol, "systemOrderType": None,
            "timestamp": _iso_ms(fill.trade.ts_ms), "tradeId": fill.trade.id,
        })
        self._balances(account, spec, order.side, price, qty, fee, fee_symbol)
        self._order_event(m, order, "orderFill", fill=fill, fee=fee, fee_symbol=fee_symbol)
        if spec.is_perp:
            self._position(account, m, order.side, price, qty)

    def _balances(self, account, spec, side, price, qty, fee, fee_symbol) -> None:
        bal = account.balances
        if spec.is_perp:
            bal[spec.quote] = bal.get(spec.quote, Decimal(0)) - fee
            return
        sign = 1 if side == "Bid" else -1
        bal[spec.base] = bal.get(spec.base, Decimal(0)) + sign * qty
        bal[spec.quote] = bal.get(spec.quote, Decimal(0)) - sign * qty * price
        bal[fee_symbol] = bal.get(fee_symbol, Decimal(0)) - fee

    def _order_event(self, m: MarketSim, order: UserOrder, event: str, fill: Optional[UserFill] = None,
                     fee: Decimal = Decimal(0), fee_symbol: str = "") -> None:
        spec = m.spec
        data: dict = {"E": now_us()}
        if fill is not None:
            data["L"] = spec.price_str(fill.price)
            data["N"] = fee_symbol
        data["O"] = "USER"
        data["S"] = order.side
        data["T"] = now_us()
        data["V"] = "RejectTaker"
        data["X"] = order.status if fill is not None or event != "orderAccepted" else "New"
        data["Z"] = _s(spec.price_dec(1) * spec.qty_dec(order.executed_quote)) if order.executed else "0"
        if order.client_id is not None:
            data["c"] = order.client_id
        data["e"] = event
        data["f"] = "IOC" if order.price is None else "GTC"
        data["i"] = order.id
        if fill is not None:
            data["l"] = spec.qty_str(fill.qty)
            data["m"] = fill.maker
            data["n"] = _s(fee)
        data["o"] = "MARKET" if order.price is None else "LIMIT"
        if order.price is not None:
            data["p"] = spec.price_str(order.price)
        data["q"] = spec.qty_str(order.qty)
        data["r"] = False
        data["s"] = m.symbol
        data["t"] = fill.trade.id if fill is not None else None
        data["z"] = spec.qty_str(order.executed) if order.executed else "0"
        data = dict(sorted(data.items()))  # ASCII order, as live frames
        for stream in ("account.orderUpdate", "account.orderUpdate." + m.symbol):
            key = f"{order.account}|{stream}"
            if self.hub.wants(key):
                self.hub.publish(key, stream, data)

    # ---- positions ----------------------------------------------------------------------

    def _position(self, account: Account, m: MarketSim, side: str, price: Decimal, qty: Decimal) -> None:
        pos = account.positions.get(m.symbol)
        if pos is None:
            self._position_seq += 1
            pos = account.positions[m.symbol] = Position(m.symbol, self._position_seq)
        before = pos.qty
        delta = qty if side == "Bid" else -qty
        after = before + delta
        if before == 0 or (before > 0) == (delta > 0):
            pos.entry = (pos.entry * abs(before) + price * abs(delta)) / abs(after)
        else:
            closed = min(abs(delta), abs(before))
            pos.realized += (price - pos.entry) * closed * (1 if before > 0 else -1)
            if abs(delta) > abs(before):
                pos.entry = price
        pos.qty = after
        event = "positionOpened" if before == 0 else ("positionClosed" if after == 0 else "positionAdjusted")
        data = self.position_data(m, pos)
        data["e"] = event
        data = dict(sorted(data.items()))  # ASCII order, as live frames
        for stream in ("account.positionUpdate", "account.positionUpdate." + m.symbol):
            key = f"{account.api_key}|{stream}"
            if self.hub.wants(key):
                self.hub.publish(key, stream, data)
        if after == 0:
            del account.positions[m.symbol]

    def position_data(self, m: MarketSim, pos: Position) -> dict:
        """Position fields without ``e`` (what the server sends on subscribe)."""
        spec = m.spec
        mark = spec.price_dec(m.mid())
        entry = pos.entry.quantize(spec.price_dec(1)) if pos.qty else Decimal(0)
        unreal = (mark - pos.entry) * pos.qty
        return {
            "B": _s(entry), "E": now_us(), "M": _s(mark), "P": _s(unreal.quantize(Decimal("0.000001"))),
            "Q": spec.qty_str(spec.qty_steps(abs(pos.qty))), "T": now_us(), "b": _s(entry), "f": "0.02", "i": pos.id, "l": "0",
            "m": "0.0125", "n": _s((abs(pos.qty) * mark).quantize(EIGHT)), "p": _s(pos.realized.quantize(Decimal("0.000001"))),
            "q": spec.qty_str(spec.qty_steps(pos.qty)), "s": m.symbol,  # padded to step, as live
        }

    # ---- REST shapes (ccxt backpack.py response comments) -------------------------------

    def balances_body(self, account: Account) -> dict:
        locked: dict[str, Decimal] = {}
        return {
            sym: {"available": _s(v - locked.get(sym, 0)), "locked": _s(locked.get(sym, Decimal(0))), "staked": "0"}
            for sym, v in sorted(account.balances.items())
        }

    def open_orders_body(self, account: Account, markets: dict, symbol: Optional[str]) -> list:
        out = []
        for order in account.orders.values():
            if order.status not in ("New", "PartiallyFilled") or (symbol and order.symbol != symbol):
                continue
            spec = markets[order.symbol].spec
            out.append({
                "clientId": order.client_id, "createdAt": order.created_ms,
                "executedQuantity": spec.qty_str(order.executed) if order.executed else "0",
                "executedQuoteQuantity": _s(spec.price_dec(1) * spec.qty_dec(order.executed_quote)) if order.executed else "0",
                "id": order.id, "orderType": "Limit", "postOnly": False, "price": spec.price_str(order.price),
                "quantity": spec.qty_str(order.qty), "reduceOnly": None, "relatedOrderId": None,
                "selfTradePrevention": "RejectTaker", "side": order.side, "status": order.status,
                "stopLossLimitPrice": None, "stopLossTriggerBy": None, "stopLossTriggerPrice": None,
                "strategyId": None, "symbol": order.symbol, "takeProfitLimitPrice": None,
                "takeProfitTriggerBy": None, "takeProfitTriggerPrice": None, "timeInForce": "GTC",
                "triggerBy": None, "triggerPrice": None, "triggerQuantity": None, "triggeredAt": None,
            })
        return out

    def positions_body(self, account: Account, markets: dict) -> list:
        out = []
        for sym, pos in sorted(account.positions.items()):
            m = markets[sym]
            d = self.position_data(m, pos)
            out.append({
                "breakEvenPrice": d["b"], "cumulativeFundingPayment": "0", "cumulativeInterest": "0",
                "entryPrice": d["B"], "estLiquidationPrice": "0", "imf": "0.02",
                "imfFunction": {"base": "0.02", "factor": "0.00006", "type": "sqrt"},
                "markPrice": d["M"], "mmf": "0.0125",
                "mmfFunction": {"base": "0.0125", "factor": "0.000036", "type": "sqrt"},
                "netCost": _s((pos.entry * pos.qty).quantize(Decimal("0.000001"))),
                "netExposureNotional": d["n"], "netExposureQuantity": d["Q"], "netQuantity": d["q"],
                "pnlRealized": d["p"], "pnlUnrealized": d["P"], "positionId": str(pos.id),
                "subaccountId": None, "symbol": sym, "userId": 1,
            })
        return out


EIGHT = Decimal("0.00000001")


def _s(value) -> str:
    text = format(Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def _iso_ms(ts_ms: int) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(ts_ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
