"""decimal_cache: exact values, one object per price text, bounded size, book application."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cryptofeed_backpack.book_sync import apply_levels
from cryptofeed_backpack.decimal_cache import DecimalCache
from cryptofeed_backpack.errors import BackpackConfigError


def test_same_text_gives_the_same_exact_object():
    cache = DecimalCache()
    first = cache["86655.9"]
    assert first == Decimal("86655.9") and str(first) == "86655.9"
    assert cache["86655.9"] is first
    assert cache.misses == 1


def test_texts_of_equal_value_stay_distinct_but_match_as_book_keys():
    cache = DecimalCache()
    a, b = cache["86700.0"], cache["86700"]
    assert a is not b and str(a) == "86700.0" and str(b) == "86700"
    book = {a: Decimal("1")}
    assert b in book  # REST "86700" and WS "86700.0" still address one level


def test_bounded_keeps_the_newest_entries():
    cache = DecimalCache(max_size=4)
    objs = [cache[f"{100 + i}.5"] for i in range(10)]
    assert len(cache) <= 4
    assert cache["109.5"] is objs[-1]
    assert cache.misses == 10


def test_rejects_a_size_below_two():
    with pytest.raises(BackpackConfigError):
        DecimalCache(max_size=1)


def test_levels_interns_prices_and_keeps_quantities():
    cache = DecimalCache()
    qty = Decimal("0.50000")
    out = cache.levels([("100.1", qty), ("100.1", Decimal("0"))])
    assert out == [(Decimal("100.1"), qty), (Decimal("100.1"), Decimal("0"))]
    assert out[0][0] is out[1][0]
    assert out[0][1] is qty


def test_apply_matches_the_plain_book_rule():
    levels = [("100.1", Decimal("2")), ("100.2", Decimal("0")), ("100.3", Decimal("1.5")), ("100.1", Decimal("0.00000")),
              ("100.4", Decimal("0"))]
    expected = {Decimal("100.2"): Decimal("7"), Decimal("100.9"): Decimal("1")}
    apply_levels(expected, [(Decimal(p), q) for p, q in levels])
    side = {Decimal("100.2"): Decimal("7"), Decimal("100.9"): Decimal("1")}
    delta = DecimalCache().apply(side, levels)
    assert side == expected == {Decimal("100.3"): Decimal("1.5"), Decimal("100.9"): Decimal("1")}
    assert delta == [(Decimal(p), q) for p, q in levels]
    assert all(isinstance(p, Decimal) for p, _ in delta)
