"""wire/prices.py: exact values, one object per price text, bounded size, validation on a miss, and the
Structs that decode depth hand the book interned prices."""
from __future__ import annotations

from decimal import Decimal

import pytest

from cryptofeed_backpack.wire.market import DEPTH_DECODER
from cryptofeed_backpack.wire.market_rest import DEPTH_SNAPSHOT
from cryptofeed_backpack.wire.prices import PriceCache
from cryptofeed_backpack.errors import BackpackConfigError


def test_same_text_gives_the_same_exact_object():
    cache = PriceCache()
    first = cache["86655.9"]
    assert first == Decimal("86655.9") and str(first) == "86655.9"
    assert cache["86655.9"] is first
    assert cache.misses == 1


def test_texts_of_equal_value_stay_distinct_but_match_as_book_keys():
    cache = PriceCache()
    a, b = cache["86700.0"], cache["86700"]
    assert a is not b and str(a) == "86700.0" and str(b) == "86700"
    book = {a: Decimal("1")}
    assert b in book  # REST "86700" and WS "86700.0" still address one level


def test_bounded_keeps_the_newest_entries():
    cache = PriceCache(max_size=4)
    objs = [cache[f"{100 + i}.5"] for i in range(10)]
    assert len(cache) <= 4
    assert cache["109.5"] is objs[-1]
    assert cache.misses == 10


def test_rejects_a_size_below_two():
    with pytest.raises(BackpackConfigError):
        PriceCache(max_size=1)


def test_levels_interns_prices_and_keeps_quantities():
    cache = PriceCache()
    qty = Decimal("0.50000")
    out = cache.levels([("100.1", qty), ("100.1", Decimal("0"))], "test")
    assert out == [(Decimal("100.1"), qty), (Decimal("100.1"), Decimal("0"))]
    assert out[0][0] is out[1][0]
    assert out[0][1] is qty


@pytest.mark.parametrize("text", ["NaN", "sNaN", "Infinity", "-1", "0", "abc", "1e40"])
def test_a_text_that_is_no_price_is_refused_and_not_cached(text):
    cache = PriceCache()
    with pytest.raises(ValueError):
        cache[text]
    assert len(cache) == 0


def test_decoded_depth_and_snapshot_share_one_object_per_price():
    snapshot = DEPTH_SNAPSHOT.decode(b'{"asks":[["3.4250","1"]],"bids":[["3.42","2"]],"lastUpdateId":"7","timestamp":1}')
    delta = DEPTH_DECODER.decode(b'{"e":"depth","s":"X","U":8,"u":8,"a":[["3.4250","0.0"]],"b":[["3.42","5"]]}')
    assert snapshot.asks[0][0] is delta.asks[0][0] and snapshot.bids[0][0] is delta.bids[0][0]
    assert type(delta.bids[0][0]) is Decimal and delta.bids[0] == (Decimal("3.42"), Decimal("5"))
