"""A bounded interning cache of price Decimals: decimal text -> one shared Decimal, hash computed.

Why: on a 1000-level book a depth frame's cost is mostly building a Decimal per price and hashing
it for the book's dict (docs/performance.md). Prices repeat constantly in a depth stream, and
CPython's decimal caches an object's hash after the first ``hash()``, so handing the book the same
Decimal object again makes both costs disappear: a ``dict`` lookup by the price text replaces
``Decimal(text)`` and the hash, and the book's own lookup then compares a cached hash.

Values are exact: the cache maps the *text* the exchange sent, so ``"86700.0"`` and ``"86700"``
stay distinct objects (they still compare and hash equal, as Decimal requires). Quantities are
left to msgspec: they repeat far less and are never hashed.

Pure and synchronous; no I/O. Not thread-safe by design: one cache per event loop (one per feed).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Iterable, MutableMapping, Sequence

from .errors import BackpackConfigError

DEFAULT_MAX_SIZE = 1 << 16


class DecimalCache:
    """``cache[text]`` returns the interned Decimal for ``text``, creating and hashing it on a miss.

    Bounded: when ``max_size`` entries are held, the older half is dropped (insertion order) so a
    drifting market keeps its current price range cached without unbounded growth.
    """

    __slots__ = ("_map", "max_size", "misses")

    def __init__(self, max_size: int = DEFAULT_MAX_SIZE):
        if max_size < 2:
            raise BackpackConfigError("DecimalCache.max_size", f"is {max_size}", "give at least 2 (default 65536)")
        self._map: dict[str, Decimal] = {}
        self.max_size = max_size
        self.misses = 0  # Decimals built; hits are not counted, that would cost on every level

    def __len__(self) -> int:
        return len(self._map)

    def __getitem__(self, text: str) -> Decimal:
        value = self._map.get(text)
        return value if value is not None else self._add(text)

    def _add(self, text: str) -> Decimal:
        self.misses += 1
        value = Decimal(text)
        hash(value)  # computed once here, then cached inside the object
        if len(self._map) >= self.max_size:
            self._evict_older_half()
        self._map[text] = value
        return value

    def _evict_older_half(self) -> None:
        keep = list(self._map.items())[len(self._map) // 2:]
        self._map = dict(keep)

    def levels(self, levels: Iterable[Sequence]) -> list[tuple[Decimal, Decimal]]:
        """``[(price_text, qty), ...]`` -> ``[(interned price, qty), ...]`` (qty as decoded)."""
        get, add = self._map.get, self._add
        # ``or``: a hit is a non-zero Decimal (truthy); a zero price is not a price and just misses.
        return [(get(text) or add(text), qty) for text, qty in levels]

    def apply(self, side: MutableMapping, levels: Iterable[Sequence]) -> list[tuple[Decimal, Decimal]]:
        """Set absolute levels on a book side (qty 0 deletes) with interned prices; returns the
        levels as ``(Decimal, Decimal)`` pairs for the callback's delta."""
        get = self._map.get
        out = []
        append = out.append
        for text, qty in levels:
            price = get(text)
            if price is None:
                price = self._add(text)
            if qty:
                side[price] = qty
            elif price in side:
                del side[price]
            append((price, qty))
        return out
