"""FeedMetrics (names, labels, legacy mapping) and the pure health judgement."""
import pytest
from prometheus_client.parser import text_string_to_metric_families

from cryptofeed_backpack.observability.health import (BookState, FeedState, HealthThresholds, StreamState, evaluate,
                                                      stream_status)
from cryptofeed_backpack.observability.metrics import FeedMetrics, Recent, stream_labels


@pytest.mark.parametrize("stream, labels", [
    ("trade.SOL_USDC", ("trade", "SOL_USDC")),
    ("depth.SOL_USDC", ("depth", "SOL_USDC")),
    ("depth.200ms.BTC_USDC_PERP", ("depth", "BTC_USDC_PERP")),
    ("depth.AAPL.US_USDC_PERP", ("depth", "AAPL.US_USDC_PERP")),  # a tokenised equity: the dot is the symbol's
    ("kline.1m.AAPL.US_USDC_PERP", ("kline", "AAPL.US_USDC_PERP")),
    ("account.orderUpdate", ("account.orderUpdate", "")),
    ("account.positionUpdate.SOL_USDC_PERP", ("account.positionUpdate", "SOL_USDC_PERP")),
    ("liquidation", ("liquidation", "")),
])
def test_stream_labels(stream, labels):
    assert stream_labels(stream) == labels


def exposition(metrics):
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(metrics.prometheus()) for s in f.samples}


def test_expected_series_exist_at_zero_and_every_family_has_help():
    m = FeedMetrics()
    m.expect_streams(["trade.SOL_USDC", "depth.200ms.SOL_USDC"])
    values = exposition(m)
    assert values[("backpack_ws_frames_total", frozenset({"exchange": "BACKPACK", "channel": "trade", "symbol": "SOL_USDC"}.items()))] == 0
    assert values[("backpack_book_events_total", frozenset({"exchange": "BACKPACK", "symbol": "SOL_USDC", "event": "gaps"}.items()))] == 0
    assert values[("backpack_dropped_frames_total", frozenset({"exchange": "BACKPACK", "reason": "unknown_symbol"}.items()))] == 0
    text = m.prometheus()
    families = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")]
    helps = [line.split()[2] for line in text.splitlines() if line.startswith("# HELP")]
    assert families == helps and all(name.startswith("backpack_") for name in families)
    assert not any(name.endswith("_created") for name, _ in values)


def test_old_names_count_into_labelled_series_and_read_back():
    m = FeedMetrics()
    m.frame("trade.SOL_USDC", 1.0)
    m.frame("trade.SOL_USDC", 2.0)
    m.frame("depth.SOL_USDC", 2.0)
    m.inc("dropped_undecodable"), m.inc("dropped_messages")
    m.inc("dropped_error_4006"), m.inc("dropped_messages"), m.inc("ws_error_4006")
    m.inc("book_gaps")
    m.book_event("SOL_USDC", "gaps")
    m.inc("rest_429")
    m.set("rest_breaker_open", 1.0)
    assert m.counters["ws_messages"] == 3
    assert m.counters["dropped_messages"] == 2 and m.counters["dropped_undecodable"] == 1
    assert m.counters["ws_error_4006"] == 1 and m.counters["book_gaps"] == 2
    assert m.counters["never_counted"] == 0 and m.gauges["rest_breaker_open"] == 1.0
    values = exposition(m)
    assert values[("backpack_dropped_frames_total", frozenset({"exchange": "BACKPACK", "reason": "ws_error"}.items()))] == 1
    assert values[("backpack_ws_error_frames_total", frozenset({"exchange": "BACKPACK", "code": "4006"}.items()))] == 1
    assert values[("backpack_rest_rate_limited_total", frozenset({"exchange": "BACKPACK"}.items()))] == 1
    assert m.snapshot()["counters"]["ws_messages"] == 3 and m.last_frame_by_stream["trade.SOL_USDC"] == 2.0


def test_two_feeds_in_one_process_keep_separate_registries():
    a, b = FeedMetrics(), FeedMetrics(feed="ccxt")
    a.inc("ws_connects")
    assert a.counters["ws_connects"] == 1 and b.counters["ws_connects"] == 0


def test_recent_counts_only_the_window():
    r = Recent()
    for t in (100.0, 150.0, 155.0):
        r.add(t)
    assert r.count(10.0, 160.0) == 2 and r.count(60.0, 160.0) == 3 and r.count(10.0, 200.0) == 0


NOW = 1000.0


def state(**overrides) -> FeedState:
    base = dict(kind="native", running=True, connected=True, ever_connected=True, subscribed_at=NOW - 60, connect_error=None,
                streams=(StreamState("trade.SOL_USDC", "trade", NOW - 1), StreamState("depth.SOL_USDC", "depth", NOW - 1),
                         StreamState("liquidation.SOL_USDC", "liquidation", None)),
                books=(BookState("SOL_USDC", True, 42, NOW - 1, NOW - 50),),
                recent_errors=0, recent_drops=0, recent_gaps=0, stream_silence_s=30.0)
    base.update(overrides)
    return FeedState(**base)


def codes(report):
    return [r.code for r in report.reasons]


def test_a_healthy_feed_is_ok_live_and_ready_and_quiet_streams_do_not_degrade():
    report = evaluate(state(), now=NOW)
    assert (report.status, report.live, report.ready, codes(report)) == ("ok", True, True, [])
    assert report.details["streams"]["liquidation.SOL_USDC"]["status"] == "silent"
    assert report.details["books"]["SOL_USDC"] == {"synced": True, "last_update_id": 42, "last_update_age_s": 1.0,
                                                    "snapshot_age_s": 50.0}


def test_subscribed_holds_with_every_quiet_stream_silent_and_fails_on_one_silent_live_stream():
    # 500 markets, 2000 streams: quiet kinds that never delivered do not count against "subscribed"
    streams = tuple(s for i in range(500) for s in (
        StreamState(f"trade.M{i}_USDC", "trade", NOW - 1), StreamState(f"depth.M{i}_USDC", "depth", NOW - 1),
        StreamState(f"openInterest.M{i}_USDC", "openInterest", None), StreamState(f"liquidation.M{i}_USDC", "liquidation", None)))
    report = evaluate(state(streams=streams), now=NOW)
    assert report.details["subscribed"] and report.ready and report.status == "ok"
    stopped = streams[:-4] + (StreamState("trade.M499_USDC", "trade", None),) + streams[-3:]
    report = evaluate(state(streams=stopped), now=NOW)
    assert not report.details["subscribed"] and not report.ready and codes(report) == ["stream_silent"]


def test_a_failed_backend_writer_degrades_and_is_not_ready_while_the_feed_stays_live():
    report = evaluate(state(backend_failure=(NOW - 5, "TradeStream", "ConnectionError: refused")), now=NOW)
    assert (report.status, report.live, report.ready, codes(report)) == ("degraded", True, False, ["backend_failed"])
    assert report.reasons[0].message == "the TradeStream backend stopped writing: ConnectionError: refused"


def test_never_connected_is_starting_and_after_a_failure_down():
    never = evaluate(state(connected=False, ever_connected=False, subscribed_at=None), now=NOW)
    assert (never.status, never.ready, never.live, codes(never)) == ("starting", False, True, ["not_connected"])
    failed = evaluate(state(connected=False, ever_connected=False, subscribed_at=None, connect_error="refused"), now=NOW)
    assert failed.status == "down" and "refused" in failed.reasons[0].message
    lost = evaluate(state(connected=False), now=NOW)
    assert lost.status == "down" and lost.details["streams"]["trade.SOL_USDC"]["status"] == "pending"


def test_each_threshold_degrades_at_its_limit_and_not_below():
    t = HealthThresholds()
    for field, code, limit in (("recent_errors", "errors", t.max_errors), ("recent_drops", "dropped_frames", t.max_drops),
                               ("recent_gaps", "book_gaps", t.max_gaps)):
        assert code not in codes(evaluate(state(**{field: limit - 1}), t, now=NOW))
        report = evaluate(state(**{field: limit}), t, now=NOW)
        assert report.status == "degraded" and code in codes(report) and report.ready  # still serving


def test_silence_and_staleness_follow_their_thresholds_and_clear():
    t = HealthThresholds(stream_silence_s=5.0)
    quiet = state(streams=(StreamState("trade.SOL_USDC", "trade", NOW - 6), StreamState("depth.SOL_USDC", "depth", NOW - 6)),
                  books=(BookState("SOL_USDC", True, 42, NOW - 6, NOW - 50),))
    report = evaluate(quiet, t, now=NOW)
    assert codes(report) == ["stream_silent", "book_stale"] and not report.ready
    assert report.details["streams"]["trade.SOL_USDC"]["status"] == "silent"
    assert evaluate(quiet, t, now=NOW - 2).status == "ok"  # the same state, 4 s after the frames: fine


def test_a_fresh_subscription_is_acknowledged_then_delivering():
    s = StreamState("trade.SOL_USDC", "trade", None)
    st = state(subscribed_at=NOW - 1)
    assert stream_status(s, st, 30.0, NOW) == "acknowledged"
    assert stream_status(StreamState("trade.SOL_USDC", "trade", NOW), st, 30.0, NOW) == "delivering"
    # a frame from before the current connection does not count as delivering on it
    assert stream_status(StreamState("trade.SOL_USDC", "trade", NOW - 2), st, 30.0, NOW) == "acknowledged"


def test_unsynced_book_auth_rejection_and_breaker_are_reasons_and_block_readiness_where_they_should():
    unsynced = evaluate(state(books=(BookState("SOL_USDC", False, None, NOW, None),)), now=NOW)
    assert codes(unsynced) == ["book_unsynced"] and not unsynced.ready
    auth = evaluate(state(auth_error="wrong key"), now=NOW)
    assert codes(auth) == ["auth_rejected"] and not auth.ready
    breaker = evaluate(state(rest_breaker="open"), now=NOW)
    assert codes(breaker) == ["rest_circuit_open"] and breaker.ready
    stopped = evaluate(state(running=False), now=NOW)
    assert not stopped.live and not stopped.ready
