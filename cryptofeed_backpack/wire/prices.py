"""Interned, validated price Decimals: decimal text -> one shared Decimal with its hash computed.

Why (docs/performance.md): on a 1000-level book most of a depth frame's cost was building a Decimal
for every price and hashing it for the book's dict. Prices repeat constantly in a depth stream, and
CPython's Decimal keeps its hash once computed, so handing the book the same object again turns
``Decimal(text)`` plus a hash into one dict lookup by the text, and the book's own lookup then
compares a cached hash. A price is also validated only the first time its text is seen.

Values are exact: the cache maps the *text* the exchange sent, so ``"86700.0"`` and ``"86700"`` stay
two objects (they still compare and hash equal, as Decimal requires). Quantities are not interned:
they repeat far less and are never hashed.

Bounded: past ``max_size`` texts the older half is dropped (insertion order), so a drifting market
keeps its current range without unbounded growth. One process-wide cache serves every feed: the
wire Structs intern while they decode, and decoding has no feed to ask.
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from itertools import islice
from typing import Iterable, Sequence

from msgspec.structs import force_setattr

from ..errors import BackpackConfigError
from .common import MAX_ADJUSTED_EXPONENT, ZERO, check_amount

DEFAULT_MAX_SIZE = 1 << 16


class PriceCache:
    """``cache[text]`` is the interned Decimal for ``text``; a text that is not a finite price above 0
    raises ValueError (inside a Struct's ``__post_init__`` msgspec reports it as a ValidationError).

    The hot Structs call ``lookup(text) or add(text)`` themselves: ``lookup`` is the map's bound
    ``dict.get``, so a hit is one C call and no Python frame (a hit is a positive Decimal, so truthy)."""

    __slots__ = ("_map", "lookup", "max_size", "misses")

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE):
        if max_size < 2:
            raise BackpackConfigError.for_field("PriceCache.max_size", f"is {max_size}", "give at least 2 (default 65536)")
        self._map: dict[str, Decimal] = {}
        self.lookup = self._map.get  # stays valid: eviction empties the same dict, never replaces it
        self.max_size = max_size
        self.misses = 0  # Decimals built; hits are not counted, that would cost on every level

    def __len__(self) -> int:
        return len(self._map)

    def __getitem__(self, text: str) -> Decimal:
        return self.lookup(text) or self.add(text)

    def add(self, text: str) -> Decimal:
        """The validated, pre-hashed Decimal for a text not in the cache, which then holds it."""
        try:
            value = Decimal(text)
        except (InvalidOperation, TypeError):
            raise ValueError(f"price {text!r} is not a decimal number") from None
        if not (value.is_finite() and value > ZERO and value.adjusted() < MAX_ADJUSTED_EXPONENT):
            raise ValueError(f"price {text!r} must be a finite price above 0")
        self.misses += 1
        hash(value)  # computed once here, then kept inside the object
        texts = self._map
        if len(texts) >= self.max_size:
            for old in list(islice(texts, len(texts) // 2)):  # the older half, by insertion order
                del texts[old]
        texts[text] = value
        return value

    def levels(self, levels: Iterable[Sequence], name: str) -> list[tuple[Decimal, Decimal]]:
        """``[(price text, quantity), ...]`` -> ``[(interned price, quantity), ...]``, every quantity checked."""
        lookup, add, limit = self.lookup, self.add, MAX_ADJUSTED_EXPONENT
        # one comprehension, the check inline: no append call per level (docs/performance.md)
        return [(lookup(text) or add(text),
                 quantity if quantity.is_finite() and not quantity.is_signed() and quantity.adjusted() < limit
                 else _checked_amount(quantity, name))
                for text, quantity in levels]


def _checked_amount(quantity: Decimal, name: str) -> Decimal:
    """The rare quantity the inline test refuses: ``-0`` passes, anything else raises ValueError."""
    check_amount(quantity, f"{name} quantity")
    return quantity


PRICES = PriceCache()


def intern_levels(struct, field: str, name: str) -> None:
    """Inside a frozen Struct's ``__post_init__``: replace its text levels by interned, validated ones."""
    levels = getattr(struct, field)
    if levels:  # most realtime deltas touch one side only
        force_setattr(struct, field, PRICES.levels(levels, name))
