"""What every wire module shares: decoder construction, time units and value checks."""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from decimal import Decimal
from typing import Any, Optional

import msgspec

#: Backpack's stream times are integer µs (docs/protocol.md §3.2)
US_PER_S = 1_000_000.0
ZERO = Decimal(0)

#: a book level: ``(price, quantity)``
Level = tuple[Decimal, Decimal]
#: a book level as decoded: the price kept as its text, to be interned (wire/prices.py)
TextLevel = tuple[str, Decimal]


def decoder(kind: Any) -> msgspec.json.Decoder:
    # strict=False: integers arrive as JSON numbers on the wire and as strings in some recordings
    return msgspec.json.Decoder(kind, strict=False)


def us_to_s(value_us: int) -> float:
    return value_us / US_PER_S


def ms_to_s(value_ms: int) -> float:
    return value_ms / 1000.0


def first_us_to_s(*candidates: Optional[int], fallback: Optional[float] = None) -> Optional[float]:
    """The first non-zero µs time among ``candidates`` in seconds, else ``fallback``."""
    for value in candidates:
        if value:
            return value / US_PER_S
    return None if fallback is None else float(fallback)


@lru_cache(maxsize=4096)
def iso_to_s(text: str) -> float:
    """Backpack's naive ISO (``2025-08-06T22:00:00`` or ``2025-09-11 15:34:00``) is UTC.
    Cached: a candle's start and end repeat in every update of that candle."""
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def ms_or_iso_to_s(value: Any) -> Optional[float]:
    """Some REST replies send times as ms integers and others as naive-UTC ISO strings (docs/rest.md)."""
    if value is None:
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.isdigit()):
        return int(value) / 1000.0
    return iso_to_s(value)


# ---- value checks (raised inside __post_init__, msgspec reports them as ValidationError) ----------

#: no price or amount on any market comes near 10**30; larger finite values are corrupt frames
MAX_ADJUSTED_EXPONENT = 30

def check_price(value: Optional[Decimal], name: str) -> None:
    """A price must be a finite number above zero (NaN, sNaN, Infinity and 0 are refused)."""
    if value is not None and not (value.is_finite() and value > ZERO and value.adjusted() < MAX_ADJUSTED_EXPONENT):
        raise ValueError(f"{name} must be a finite price above 0, got {value}")


def check_amount(value: Optional[Decimal], name: str) -> None:
    """A quantity must be finite and not negative.

    The hot Structs test ``q.is_finite() and not q.is_signed() and q.adjusted() < MAX_ADJUSTED_EXPONENT``
    in line and call this only when that fails: those three read the number alone, where ``q >= ZERO``
    would fetch the decimal context (docs/performance.md). ``-0`` is signed but passes here."""
    if value is not None and not (value.is_finite() and value >= ZERO and value.adjusted() < MAX_ADJUSTED_EXPONENT):
        raise ValueError(f"{name} must be a finite quantity >= 0, got {value}")


def check_signed(value: Optional[Decimal], name: str) -> None:
    """A signed amount (net position, PnL, funding rate) must at least be finite."""
    if value is not None and not (value.is_finite() and value.adjusted() < MAX_ADJUSTED_EXPONENT):
        raise ValueError(f"{name} must be a finite number, got {value}")
