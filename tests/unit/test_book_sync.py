import os
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from cryptofeed_backpack.book_sync import BookSync, Outcome, apply_levels
from cryptofeed_backpack.wire.market import DepthMsg
from cryptofeed_backpack.wire.market_rest import DepthSnapshot


def dict_book():
    bids, asks = {}, {}
    return (bids, asks), bids, asks


def delta(first, last, bids=(), asks=()):
    return DepthMsg(symbol="BTC_USDC_PERP", first_id=first, last_id=last,
                    bids=[(D(p), D(q)) for p, q in bids], asks=[(D(p), D(q)) for p, q in asks])


def snapshot(last_id, bids=(("100", "1"), ("101", "2")), asks=(("102", "3"), ("103", "4"))):
    # REST order: bids ascending (best bid last), asks ascending.
    return DepthSnapshot(asks=[(D(p), D(q)) for p, q in asks], bids=[(D(p), D(q)) for p, q in bids],
                         lastUpdateId=last_id, timestamp=1)


def test_deltas_buffer_until_a_snapshot_bridges_them():
    book = BookSync("BTC-USDC-PERP", dict_book)
    assert book.on_delta(delta(9, 10, bids=[("100", "5")])) is Outcome.BUFFERED
    assert book.on_delta(delta(11, 11, asks=[("102", "0")])) is Outcome.BUFFERED
    assert book.on_delta(delta(12, 12, bids=[("99.5", "7")])) is Outcome.BUFFERED
    assert not book.synced
    # L = 10: the delta ending at 10 is already inside the snapshot and must be dropped;
    # 11 bridges (U <= L+1 <= u) and 12 follows.
    assert book.on_snapshot(snapshot(10)) is Outcome.SYNCED
    assert book.last_id == 12
    assert book.bids == {D("100"): D("1"), D("101"): D("2"), D("99.5"): D("7")}
    assert book.asks == {D("103"): D("4")}


def test_straddling_first_delta_bridges():
    book = BookSync("X", dict_book)
    book.on_delta(delta(8, 12, asks=[("102", "9")]))
    assert book.on_snapshot(snapshot(10)) is Outcome.SYNCED
    assert book.last_id == 12
    assert book.asks[D("102")] == D("9")


def test_snapshot_older_than_the_buffer_is_refused():
    book = BookSync("X", dict_book)
    book.on_delta(delta(15, 15))
    assert book.on_snapshot(snapshot(10)) is Outcome.SNAPSHOT_TOO_OLD
    assert not book.synced and book.buffered == 1
    # a newer snapshot then bridges
    assert book.on_snapshot(snapshot(14)) is Outcome.SYNCED
    assert book.last_id == 15


def test_snapshot_ahead_of_the_socket_waits_for_deltas_to_catch_up():
    book = BookSync("X", dict_book)
    book.on_delta(delta(5, 5, bids=[("100", "42")]))
    # REST is at 7: everything buffered is older, keep the snapshot and skip deltas <= 7
    assert book.on_snapshot(snapshot(7)) is Outcome.SYNCED
    assert book.bids[D("100")] == D("1")
    assert book.on_delta(delta(6, 6, bids=[("100", "43")])) is Outcome.STALE
    assert book.on_delta(delta(7, 7, bids=[("100", "44")])) is Outcome.STALE
    assert book.bids[D("100")] == D("1")
    assert book.on_delta(delta(8, 8, bids=[("100", "45")])) is Outcome.APPLIED
    assert book.bids[D("100")] == D("45")


def test_stale_and_duplicate_deltas_are_ignored():
    book = BookSync("X", dict_book)
    book.on_snapshot(snapshot(10))
    assert book.on_delta(delta(11, 11, bids=[("100", "2")])) is Outcome.APPLIED
    assert book.on_delta(delta(11, 11, bids=[("100", "999")])) is Outcome.STALE
    assert book.bids[D("100")] == D("2")
    assert book.last_id == 11


def test_gap_drops_the_book_and_never_applies_across_it():
    book = BookSync("X", dict_book)
    book.on_snapshot(snapshot(10))
    assert book.on_delta(delta(11, 11)) is Outcome.APPLIED
    gap = delta(13, 13, bids=[("100", "77")])
    assert book.on_delta(gap) is Outcome.GAP
    assert not book.synced and book.bids is None and book.gaps == 1
    # the gap delta itself is kept for the next snapshot, not applied to anything
    assert book.buffered == 1
    assert book.on_snapshot(snapshot(12)) is Outcome.SYNCED
    assert book.bids[D("100")] == D("77") and book.last_id == 13


def test_gap_inside_the_buffer_is_detected_at_snapshot_time():
    book = BookSync("X", dict_book)
    book.on_delta(delta(11, 11))
    book.on_delta(delta(13, 13))  # 12 is missing
    assert book.on_snapshot(snapshot(10)) is Outcome.GAP
    assert not book.synced


@pytest.mark.parametrize("zero", ["0", "0.00", "0.00000"])
def test_zero_quantity_removes_a_level_in_any_spelling(zero):
    side = {D("86700"): D("1")}
    apply_levels(side, [(D("86700.0"), D(zero))])
    assert side == {}


def test_levels_are_keyed_by_value_not_by_string():
    side = {}
    apply_levels(side, [(D("86700"), D("1"))])  # REST spelling
    apply_levels(side, [(D("86700.0"), D("2"))])  # WS spelling of the same price
    assert side == {D("86700"): D("2")}


def test_deleting_an_unknown_level_is_harmless():
    side = {D("1"): D("1")}
    apply_levels(side, [(D("2"), D("0"))])
    assert side == {D("1"): D("1")}


# ---- the tracked best bid and ask --------------------------------------------------------------

def _sorted_book():
    from cryptofeed.types import OrderBook

    ob = OrderBook("BACKPACK", "BTC-USDC-PERP")
    return ob, ob.book.bids, ob.book.asks


def _feed_best(side, is_bid):
    from cryptofeed_backpack.feed.book import _best

    return _best(side, is_bid)


levels_st = st.lists(st.tuples(st.integers(90, 110), st.sampled_from(["0", "1", "2.5"])), max_size=4)


@settings(max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "300")), deadline=None)
@given(deltas=st.lists(st.tuples(levels_st, levels_st), min_size=1, max_size=30), sorted_sides=st.booleans())
def test_crossing_is_detected_exactly_as_a_full_scan_would(deltas, sorted_sides):
    """The best prices BookSync tracks across deltas (instead of looking them up on every delta)
    give the same verdict as scanning the whole book, on dict sides and on cryptofeed's sorted sides."""
    book = BookSync("X", _sorted_book, best=_feed_best) if sorted_sides else BookSync("X", dict_book)
    book.on_snapshot(snapshot(0, bids=(("95", "1"),), asks=(("105", "1"),)))
    for i, (bids, asks) in enumerate(deltas, start=1):
        before = (dict(book.bids), dict(book.asks))
        outcome = book.on_delta(delta(i, i, bids=[(str(p), q) for p, q in bids], asks=[(str(p), q) for p, q in asks]))
        ref_bids, ref_asks = before
        for side, levels in ((ref_bids, bids), (ref_asks, asks)):
            for p, q in levels:
                if D(q):
                    side[D(p)] = D(q)
                else:
                    side.pop(D(p), None)
        crossed = bool(ref_bids) and bool(ref_asks) and max(ref_bids) >= min(ref_asks)
        assert outcome is (Outcome.GAP if crossed else Outcome.APPLIED)
        if crossed:
            return
        assert book.best_bid in (None, max(ref_bids, default=None))
        assert book.best_ask in (None, min(ref_asks, default=None))


def test_a_snapshot_older_than_the_subscription_is_refetched_and_the_stream_continues():
    book = BookSync("BTC-USDC-PERP", dict_book)
    assert book.on_snapshot(snapshot(10)) is Outcome.SYNCED  # fetched before the subscription took effect
    assert book.on_delta(delta(14, 15, bids=[("100", "9")])) is Outcome.SNAPSHOT_TOO_OLD
    assert not book.synced and book.gaps == 0 and book.buffered == 1
    assert book.on_snapshot(snapshot(14)) is Outcome.SYNCED  # the newer one bridges the kept delta
    assert book.last_id == 15 and book.bids[D("100")] == D("9")
    assert book.on_delta(delta(17, 17)) is Outcome.GAP  # once bridged, a jump is a real gap
    assert book.gaps == 1


def test_a_lagging_consumer_reads_through_the_deltas_its_snapshot_already_holds():
    # The snapshot (L=1000) was taken while deltas 1..1000 were still queued for this consumer.
    book = BookSync("BTC-USDC-PERP", dict_book)
    book.on_snapshot(snapshot(1000))
    outcomes = {book.on_delta(delta(i, i)) for i in range(1, 1001)}
    assert outcomes == {Outcome.STALE} and book.synced and book.gaps == 0
    assert book.on_delta(delta(1001, 1001, bids=[("100", "4")])) is Outcome.APPLIED
    # once continued, a run of stale deltas means the book ran ahead of the stream
    assert [book.on_delta(delta(5, 5)) for _ in range(50)][-1] is Outcome.GAP
