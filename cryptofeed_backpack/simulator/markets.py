"""The simulator's markets: specs, and the REST ``Market`` objects in the real shape.

Shapes follow the recorded market objects (docs/protocol.md §1.1):
spot = ccxt-static__rest-markets-info.json (ETH_USDC) plus ``visible``; perp =
bpx-api-client-test__rest-market__SOL_USDC_PERP.json; RWA = the same with ``rwaMarketType``.
Keys are written in the alphabetical order the live API uses. Tick and step sizes are powers
of ten so prices and quantities are kept as integers of ticks/steps inside the engine.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from decimal import Decimal
from typing import Optional

CREATED_AT = "2025-01-21T06:34:54.691858"


@dataclass(frozen=True)
class MarketSpec:
    symbol: str
    base: str
    quote: str
    market_type: str  # SPOT | PERP
    tick: str  # e.g. "0.1"
    step: str  # e.g. "0.00001"
    price: str  # starting mid price
    typical_qty: str  # a typical resting size, in base units
    state: str = "Open"  # orderBookState
    rwa: Optional[str] = None  # rwaMarketType

    @cached_property
    def price_decimals(self) -> int:
        return _decimals(self.tick)

    @cached_property
    def qty_decimals(self) -> int:
        return _decimals(self.step)

    @property
    def is_perp(self) -> bool:
        return self.market_type == "PERP"

    @property
    def is_open(self) -> bool:
        return self.state == "Open"

    def price_ticks(self, value) -> int:
        return int((Decimal(str(value)) / Decimal(self.tick)).to_integral_value())

    def qty_steps(self, value) -> int:
        return int((Decimal(str(value)) / Decimal(self.step)).to_integral_value())

    def price_str(self, ticks: int) -> str:
        return fmt_scaled(ticks, self.price_decimals)

    def qty_str(self, steps: int) -> str:
        return fmt_scaled(steps, self.qty_decimals)

    def price_dec(self, ticks: int) -> Decimal:
        return Decimal(ticks).scaleb(-self.price_decimals)

    def qty_dec(self, steps: int) -> Decimal:
        return Decimal(steps).scaleb(-self.qty_decimals)


def _decimals(unit: str) -> int:
    exp = Decimal(unit).normalize().as_tuple().exponent
    if Decimal(unit) != Decimal(1).scaleb(exp):
        raise ValueError(f"tick/step {unit} must be a power of ten")
    return max(0, -exp)


def fmt_scaled(value: int, decimals: int) -> str:
    """Integer count of 10**-decimals units as a decimal string padded to ``decimals`` places."""
    if decimals == 0:
        return str(value)
    sign = "-" if value < 0 else ""
    digits = str(abs(value)).rjust(decimals + 1, "0")
    return f"{sign}{digits[:-decimals]}.{digits[-decimals:]}"


DEFAULT_SPECS: tuple[MarketSpec, ...] = (
    MarketSpec("SOL_USDC", "SOL", "USDC", "SPOT", "0.01", "0.01", "150.00", "25"),
    MarketSpec("BTC_USDC", "BTC", "USDC", "SPOT", "0.1", "0.00001", "100000.0", "0.2"),
    MarketSpec("BTC_USDC_PERP", "BTC", "USDC", "PERP", "0.1", "0.00001", "100000.0", "0.3"),
    MarketSpec("ETH_USDC_PERP", "ETH", "USDC", "PERP", "0.01", "0.0001", "3500.00", "3"),
    MarketSpec("AAPL.US_USDC_PERP", "AAPL.US", "USDC", "PERP", "0.01", "0.001", "230.00", "20", rwa="STOCK"),
    MarketSpec("kPEPE_USDC_PERP", "kPEPE", "USDC", "PERP", "0.000001", "1", "0.012000", "200000"),
    # Listed by /markets but not streamed: the feed must leave closed markets out.
    MarketSpec("FTT_USDC", "FTT", "USDC", "SPOT", "0.001", "0.1", "1.000", "100", state="Closed"),
)

DEFAULT_SYMBOLS: tuple[str, ...] = tuple(s.symbol for s in DEFAULT_SPECS if s.is_open)


def market_object(spec: MarketSpec) -> dict:
    """One element of GET /api/v1/markets, in the recorded shape (keys alphabetical)."""
    if spec.is_perp:
        price_filter = {
            "borrowEntryFeeMaxMultiplier": None,
            "borrowEntryFeeMinMultiplier": None,
            "maxImpactMultiplier": "1.01",
            "maxMultiplier": "2",
            "maxPrice": None,
            "meanMarkPriceBand": {"maxMultiplier": "1.1", "minMultiplier": "0.9"},
            "meanPremiumBand": {"tolerancePct": "0.05"},
            "minImpactMultiplier": "0.99",
            "minMultiplier": "0.25",
            "minPrice": spec.tick,
            "tickSize": spec.tick,
        }
        obj = {
            "baseSymbol": spec.base,
            "createdAt": CREATED_AT,
            "filters": {
                "price": price_filter,
                "quantity": {"maxQuantity": None, "minQuantity": spec.step, "stepSize": spec.step},
            },
            "fundingInterval": 3600000,
            "fundingRateLowerBound": "-100",
            "fundingRateUpperBound": "100",
            "imfFunction": {"base": "0.02", "factor": "0.00006", "type": "sqrt"},
            "marketType": "PERP",
            "mmfFunction": {"base": "0.0125", "factor": "0.000036", "type": "sqrt"},
            "openInterestLimit": "4000000",
            "orderBookState": spec.state,
            "positionLimitWeight": "1",
            "quoteSymbol": spec.quote,
        }
    else:
        obj = {
            "baseSymbol": spec.base,
            "createdAt": CREATED_AT,
            "filters": {
                "price": {
                    "borrowEntryFeeMaxMultiplier": None,
                    "borrowEntryFeeMinMultiplier": None,
                    "maxImpactMultiplier": "1.02",
                    "maxMultiplier": "1.25",
                    "maxPrice": None,
                    "meanMarkPriceBand": {"maxMultiplier": "1.07", "minMultiplier": "0.92"},
                    "meanPremiumBand": None,
                    "minImpactMultiplier": "0.98",
                    "minMultiplier": "0.75",
                    "minPrice": spec.tick,
                    "tickSize": spec.tick,
                },
                "quantity": {"maxQuantity": None, "minQuantity": spec.step, "stepSize": spec.step},
            },
            "fundingInterval": 28800000,
            "fundingRateLowerBound": None,
            "fundingRateUpperBound": None,
            "imfFunction": None,
            "marketType": "SPOT",
            "mmfFunction": None,
            "openInterestLimit": "0",
            "orderBookState": spec.state,
            "quoteSymbol": spec.quote,
        }
    if spec.rwa is not None:
        obj["rwaMarketType"] = spec.rwa
    obj["symbol"] = spec.symbol
    obj["visible"] = True
    return obj


def select_specs(symbols: Optional[list[str]]) -> list[MarketSpec]:
    """Default markets, or the given symbols (known ones keep their spec; others get a generic one).

    The Closed market is always listed so /markets shows one, whatever the selection.
    """
    known = {s.symbol: s for s in DEFAULT_SPECS}
    if symbols is None:
        return list(DEFAULT_SPECS)
    chosen = []
    for sym in symbols:
        chosen.append(known.get(sym) or _generic_spec(sym))
    for spec in DEFAULT_SPECS:
        if not spec.is_open and spec.symbol not in symbols:
            chosen.append(spec)
    return chosen


def _generic_spec(symbol: str) -> MarketSpec:
    parts = symbol.split("_")
    if len(parts) < 2:
        raise ValueError(f"symbol {symbol!r} is not BASE_QUOTE or BASE_QUOTE_PERP")
    perp = parts[-1] == "PERP"
    return MarketSpec(symbol, parts[0], parts[1], "PERP" if perp else "SPOT", "0.01", "0.01", "50.00", "10")
