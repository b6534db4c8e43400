"""Deep Visibility source against a stateful fake console: exact call sequences."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta
from email.utils import formatdate
from typing import Any

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.config import ConsoleConfig
from connector.errors import (
    AuthError,
    ConfigError,
    DeadlineReached,
    RateLimited,
    Unavailable,
)
from connector.sources.base import RawRecord
from connector.sources.deep_visibility import DeepVisibilitySource
from connector.sources.query import Pushdown
from connector.timeutil import Window, format_utc
from tests.sources.fakes import BASE, T0, FakeDV, FakeTime, body_of, calls, dv_event

TOKEN = "tok-SECRET-dv-0123456789"
S1QL = 'EndpointOS = "windows" AND (EventType = "Process Creation")'
WINDOW = Window(T0, T0 + timedelta(minutes=10))
INIT, STATUS, EVENTS, CANCEL = (
    "POST init-query",
    "GET query-status",
    "GET events",
    "POST cancel-query",
)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def make(clock: FakeTime, deadline: float | None = None, **console: Any) -> DeepVisibilitySource:
    console.setdefault("max_retries", 3)
    config = ConsoleConfig(url=BASE, **console)
    return DeepVisibilitySource(
        config,
        SecretStr(TOKEN),
        Pushdown(s1ql=S1QL, sdl_filter=""),
        deadline=deadline,
        clock=clock.monotonic,
        sleep=clock.sleep,
        wall=clock.wall,
    )


def spread(count: int, window: Window = WINDOW) -> list[dict[str, Any]]:
    step = window.span / (count + 1)
    return [dv_event(i, window.start + step * (i + 1)) for i in range(count)]


def ids(records: Iterable[RawRecord]) -> list[str]:
    return [event["id"] for _, event in records]


# -- happy path --------------------------------------------------------------------------


def test_happy_path_pages_in_order_with_exact_calls(rsps, clock):
    events = spread(5)
    FakeDV(rsps, events, page_size=2)
    with make(clock) as source:
        records = list(source.fetch(WINDOW))

    assert records == [("dv", e) for e in events]
    assert calls(rsps) == [INIT, STATUS, STATUS, EVENTS, EVENTS, EVENTS]
    assert body_of(rsps.calls[0]) == {
        "query": S1QL,
        "fromDate": "2026-11-20T09:59:59.999Z",
        "toDate": "2026-11-20T10:10:00.000Z",
        "limit": 20000,
        "queryType": ["events"],
        "isVerbose": True,
    }
    assert "cursor=2" in (rsps.calls[4].request.url or "")
    assert "limit=1000" in (rsps.calls[3].request.url or "")
    headers = rsps.calls[0].request.headers
    assert headers["Authorization"] == f"ApiToken {TOKEN}"
    assert headers["User-Agent"].startswith("s1-dv-connector/0.1.0")
    # status polled 1/s; every request at least 0.5 s after the previous one
    assert clock.sleeps == [0.5, 1.0, 0.5, 0.5, 0.5]
    stats = source.stats
    assert (stats.pages, stats.records, stats.retries, stats.bisections) == (3, 5, 0, 0)
    assert dict(stats.api_calls) == {"dv/init-query": 1, "dv/query-status": 2, "dv/events": 3}
    assert stats.bytes == sum(len(c.response.content) for c in rsps.calls)


def test_scoping_ids_are_sent(rsps, clock):
    FakeDV(rsps, [])
    source = make(clock, account_ids=["11"], site_ids=["22", "33"])
    list(source.fetch(WINDOW))
    body = body_of(rsps.calls[0])
    assert body["accountIds"] == ["11"]
    assert body["siteIds"] == ["22", "33"]
    assert "timeFrame" not in body


def test_events_outside_window_and_repeats_are_dropped(rsps, clock):
    inside = dv_event(1, T0)
    at_end = dv_event(2, WINDOW.end)  # (from, to] includes it; half-open [start, end) not
    repeat = dict(inside)
    fake = FakeDV(rsps, [inside, at_end])
    fake.inject(
        "events",
        (200, {}, {"data": [inside, at_end, repeat], "pagination": {"nextCursor": None}}),
    )
    source = make(clock)
    assert ids(list(source.fetch(WINDOW))) == ["1"]
    assert source.stats.skipped == {"outside-window": 1, "duplicate": 1}


# -- responseState -----------------------------------------------------------------------


def test_empty_results_reads_no_pages(rsps, clock):
    FakeDV(rsps, [], states=["EMPTY_RESULTS"])
    source = make(clock)
    assert list(source.fetch(WINDOW)) == []
    assert calls(rsps) == [INIT, STATUS]


@pytest.mark.parametrize(
    "state",
    [
        "FAILED",
        "FAILED_CLIENT",
        "ERROR",
        "TIMED_OUT",
        "QUERY_CANCEL",
        "QUERY_CANCELLED",
        "QUERY_EXPIRED",
        "QUERY_NOT_FOUND",
    ],
)
def test_each_failed_state_relaunches_the_window(rsps, clock, state):
    events = spread(3)
    fake = FakeDV(rsps, events)
    fake.script_states([state], ["FINISHED"])
    source = make(clock)
    assert ids(list(source.fetch(WINDOW))) == ["0", "1", "2"]
    assert calls(rsps) == [INIT, STATUS, INIT, STATUS, EVENTS]
    assert source.stats.relaunches == 1
    # the relaunch waits for the init-query rate limit (60 s since the first launch)
    assert clock.sleeps == [0.5, 2.0, 57.5, 0.5, 0.5]


def test_failed_client_parse_error_is_a_config_error_naming_the_query(rsps, clock):
    fake = FakeDV(rsps, [])
    fake.inject(
        "query-status",
        (
            200,
            {},
            {
                "data": {
                    "responseState": "FAILED_CLIENT",
                    "responseError": {"message": "could not parse query at 12"},
                }
            },
        ),
    )
    with pytest.raises(ConfigError) as info:
        list(make(clock).fetch(WINDOW))
    assert S1QL in str(info.value)
    assert "could not parse query" in str(info.value)
    assert calls(rsps) == [INIT, STATUS]


def test_always_failing_query_gives_up_as_unavailable(rsps, clock):
    FakeDV(rsps, [], states=["FAILED"])
    with pytest.raises(Unavailable, match="failed 4 times"):
        list(make(clock, min_query_interval="0s").fetch(WINDOW))
    assert calls(rsps) == [INIT, STATUS] * 4


def test_two_timeouts_bisect_the_window(rsps, clock):
    events = spread(4)
    fake = FakeDV(rsps, events)
    fake.script_states(["TIMED_OUT"], ["TIMED_OUT"])
    source = make(clock, min_query_interval="0s")
    assert ids(list(source.fetch(WINDOW))) == ["0", "1", "2", "3"]
    assert calls(rsps) == [INIT, STATUS, INIT, STATUS] + [INIT, STATUS, STATUS, EVENTS] * 2
    assert source.stats.bisections == 1
    assert source.max_window == timedelta(minutes=5)


def test_unknown_state_is_treated_as_in_progress(rsps, clock, caplog):
    FakeDV(rsps, spread(1), states=["SOMETHING_NEW", "FINISHED"])
    assert len(list(make(clock).fetch(WINDOW))) == 1
    assert calls(rsps) == [INIT, STATUS, STATUS, EVENTS]
    assert "SOMETHING_NEW" in caplog.text


def test_query_that_never_finishes_is_cancelled_and_transient(rsps, clock):
    FakeDV(rsps, [], states=["RUNNING"])
    with pytest.raises(Unavailable, match="did not finish within 5 s"):
        list(make(clock, query_timeout="5s").fetch(WINDOW))
    assert calls(rsps) == [INIT] + [STATUS] * 5 + [CANCEL]
    assert body_of(rsps.calls[-1]) == {"queryId": "q1"}


# -- HTTP behaviour (through the real retry policy) ----------------------------------------


def test_429_with_retry_after_seconds_is_honoured(rsps, clock):
    fake = FakeDV(rsps, spread(1), states=["FINISHED"])
    fake.inject("query-status", (429, {"Retry-After": "7"}, {"errors": []}))
    source = make(clock)
    assert len(list(source.fetch(WINDOW))) == 1
    assert calls(rsps) == [INIT, STATUS, STATUS, EVENTS]
    assert 7.0 in clock.sleeps
    assert source.stats.retries == 1


def test_429_with_retry_after_http_date_is_honoured(rsps, clock):
    fake = FakeDV(rsps, spread(1), states=["FINISHED"])
    when = format_utc_http(clock.wall() + 30)
    fake.inject("events", (429, {"Retry-After": when}, ""))
    assert len(list(make(clock).fetch(WINDOW))) == 1
    assert calls(rsps) == [INIT, STATUS, EVENTS, EVENTS]
    assert any(29 <= s <= 31 for s in clock.sleeps)


def format_utc_http(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def test_429_without_retry_after_on_init_backs_off_from_a_minute(rsps, clock):
    fake = FakeDV(rsps, [], states=["EMPTY_RESULTS"])
    fake.inject("init-query", (429, {}, {"errors": [{"code": 4290010, "title": "Too many"}]}))
    list(make(clock).fetch(WINDOW))
    assert calls(rsps) == [INIT, INIT, STATUS]
    assert 60.0 <= clock.sleeps[0] <= 61.0


def test_429_without_retry_after_elsewhere_backs_off_from_two_seconds(rsps, clock):
    fake = FakeDV(rsps, [], states=["EMPTY_RESULTS"])
    fake.inject("query-status", (429, {}, ""), (429, {}, ""))
    list(make(clock).fetch(WINDOW))
    assert calls(rsps) == [INIT, STATUS, STATUS, STATUS]
    waits = [s for s in clock.sleeps if s > 1]
    assert 2.0 <= waits[0] <= 3.0 and 4.0 <= waits[1] <= 5.0


def test_500_and_503_then_success(rsps, clock):
    fake = FakeDV(rsps, spread(2), states=["FINISHED"])
    fake.inject("events", (500, {}, {"errors": [{"code": 5000010}]}), (503, {}, "<html>"))
    source = make(clock)
    assert ids(list(source.fetch(WINDOW))) == ["0", "1"]
    assert calls(rsps) == [INIT, STATUS, EVENTS, EVENTS, EVENTS]
    assert source.stats.retries == 2


def test_5xx_until_retries_are_spent_is_unavailable(rsps, clock):
    fake = FakeDV(rsps, [])
    fake.inject("init-query", *[(502, {}, "bad gateway")] * 5)
    with pytest.raises(Unavailable, match="HTTP 502"):
        list(make(clock, max_retries=2).fetch(WINDOW))
    assert calls(rsps) == [INIT] * 3


@pytest.mark.parametrize(("status", "words"), [(401, "authentication"), (403, "permission")])
def test_401_403_are_auth_errors_without_retry(rsps, clock, caplog, status, words):
    fake = FakeDV(rsps, [])
    body = {"errors": [{"code": status * 10000 + 10, "title": "Nope", "detail": "Bad token"}]}
    fake.inject("init-query", (status, {"X-RQID": "rq-1"}, body))
    with pytest.raises(AuthError) as info:
        list(make(clock).fetch(WINDOW))
    message = str(info.value)
    assert words in message and "Bad token" in message and "rq-1" in message
    assert TOKEN not in message and TOKEN not in caplog.text
    assert calls(rsps) == [INIT]
    assert info.value.exit_code == 77


def test_400_parse_error_on_init_is_config_error_with_the_query(rsps, clock):
    fake = FakeDV(rsps, [])
    detail = {"errors": [{"code": 4000040, "detail": "could not parse query"}]}
    fake.inject("init-query", (400, {}, detail))
    with pytest.raises(ConfigError) as info:
        list(make(clock).fetch(WINDOW))
    assert S1QL in str(info.value) and TOKEN not in str(info.value)
    assert calls(rsps) == [INIT]


def test_connection_reset_mid_pagination_is_retried(rsps, clock):
    events = spread(6)
    fake = FakeDV(rsps, events, page_size=2, states=["FINISHED"])
    fake.inject("events", None, requests.ConnectionError("Connection reset by peer"))
    source = make(clock)
    assert ids(list(source.fetch(WINDOW))) == [e["id"] for e in events]
    assert calls(rsps) == [INIT, STATUS, EVENTS, EVENTS, EVENTS, EVENTS]
    assert source.stats.retries == 1
    assert source.stats.api_calls["dv/events"] == 4


def test_query_expired_during_paging_reruns_the_window_once_each(rsps, clock):
    events = spread(5)
    fake = FakeDV(rsps, events, page_size=2, states=["FINISHED"])
    gone = {"errors": [{"code": 4040010, "detail": "QueryId not found"}]}
    fake.inject("events", None, (404, {}, gone))
    source = make(clock)
    assert ids(list(source.fetch(WINDOW))) == [e["id"] for e in events]
    assert calls(rsps) == [INIT, STATUS, EVENTS, EVENTS, INIT, STATUS, EVENTS, EVENTS, EVENTS]
    assert source.stats.relaunches == 1
    assert source.stats.skipped["duplicate"] == 2


def test_expired_as_400_during_paging_also_reruns(rsps, clock):
    fake = FakeDV(rsps, spread(2), states=["FINISHED"])
    fake.inject("events", (400, {}, {"errors": [{"detail": "Query expired"}]}))
    source = make(clock, min_query_interval="0s")
    assert ids(list(source.fetch(WINDOW))) == ["0", "1"]
    assert calls(rsps) == [INIT, STATUS, EVENTS, INIT, STATUS, EVENTS]


# -- cap and bisection --------------------------------------------------------------------


def test_cap_hit_bisects_and_yields_every_event_exactly_once(rsps, clock):
    events = spread(6)
    FakeDV(rsps, events, states=["FINISHED"])
    source = make(clock, query_limit=4, min_query_interval="0s")
    records = list(source.fetch(WINDOW))
    assert sorted(ids(records)) == sorted(e["id"] for e in events)
    assert len(records) == 6
    # first query: totalItems 6 >= 4 -> cancel, then each half fits
    assert calls(rsps) == [INIT, STATUS, EVENTS, CANCEL] + [INIT, STATUS, EVENTS] * 2
    first_half = body_of(rsps.calls[4])
    assert (first_half["fromDate"], first_half["toDate"]) == (
        "2026-11-20T09:59:59.999Z",
        "2026-11-20T10:05:00.000Z",
    )
    assert source.stats.bisections == 1
    assert source.max_window == timedelta(minutes=5)


def test_cap_hit_without_total_is_found_by_counting(rsps, clock):
    events = spread(6)
    FakeDV(rsps, events, states=["FINISHED"], report_total=False)
    source = make(clock, query_limit=4, min_query_interval="0s")
    records = list(source.fetch(WINDOW))
    assert sorted(ids(records)) == sorted(e["id"] for e in events)
    assert len(records) == 6  # the 4 read before the split are not yielded twice
    assert calls(rsps) == [INIT, STATUS, EVENTS] + [INIT, STATUS, EVENTS] * 2
    assert source.stats.skipped["duplicate"] == 4


def test_cap_hit_at_minimum_width_is_reported_loudly(rsps, clock, caplog):
    events = spread(6)
    FakeDV(rsps, events, states=["FINISHED"])
    source = make(clock, query_limit=4, min_window="10m")
    with caplog.at_level(logging.WARNING):
        records = list(source.fetch(WINDOW))
    assert len(records) == 4
    assert source.stats.truncated_windows == 1
    assert "DATA LOSS" in caplog.text
    assert calls(rsps) == [INIT, STATUS, EVENTS]


# -- retention, rate limit, deadline, abort ------------------------------------------------


def test_retention_error_clamps_the_window_start(rsps, clock, caplog):
    now = T0 + timedelta(hours=1)  # FakeTime's wall clock
    old = Window(now - timedelta(days=20), now - timedelta(minutes=5))
    fake = FakeDV(rsps, [dv_event(1, now - timedelta(days=2))], states=["FINISHED"])
    retention = {"errors": [{"code": 4000010, "detail": "DV retains data for 14 days"}]}
    fake.inject("init-query", (400, {}, retention))
    source = make(clock, min_query_interval="0s")
    assert ids(list(source.fetch(old))) == ["1"]
    assert calls(rsps) == [INIT, INIT, STATUS, EVENTS]
    clamped = body_of(rsps.calls[1])["fromDate"]
    assert clamped == format_utc(now - timedelta(days=13, milliseconds=1))
    assert source.stats.clamped_windows == 1
    assert "14-day" in caplog.text or "14 days" in caplog.text


def test_window_wholly_beyond_retention_yields_nothing(rsps, clock):
    now = T0 + timedelta(hours=1)
    old = Window(now - timedelta(days=30), now - timedelta(days=20))
    fake = FakeDV(rsps, [])
    fake.inject("init-query", (400, {}, {"errors": [{"detail": "retains data for 14 days"}]}))
    assert list(make(clock).fetch(old)) == []
    assert calls(rsps) == [INIT]


def test_init_queries_are_spaced_across_windows(rsps, clock):
    FakeDV(rsps, [], states=["EMPTY_RESULTS"])
    source = make(clock)
    list(source.fetch(WINDOW))
    list(source.fetch(Window(WINDOW.end, WINDOW.end + timedelta(minutes=10))))
    assert calls(rsps) == [INIT, STATUS, INIT, STATUS]
    assert clock.sleeps == [0.5, 59.5, 0.5]


def test_persisted_last_init_query_time_is_respected(rsps, clock):
    FakeDV(rsps, [], states=["EMPTY_RESULTS"])
    source = make(clock)
    source.last_init_query_at = clock.wall() - 10
    list(source.fetch(WINDOW))
    assert clock.sleeps[0] == pytest.approx(50.0)
    assert source.last_init_query_at == pytest.approx(clock.wall() - 0.5)


def test_rate_limit_beyond_the_deadline_raises_without_calling(rsps, clock):
    FakeDV(rsps, [])
    source = make(clock, deadline=clock.now + 20)
    source.last_init_query_at = clock.wall() - 10
    with pytest.raises(RateLimited) as info:
        list(source.fetch(WINDOW))
    assert info.value.retry_after == pytest.approx(50.0)
    assert info.value.exit_code == 75
    assert calls(rsps) == []


def test_deadline_during_polling_cancels_the_query(rsps, clock):
    FakeDV(rsps, [], states=["RUNNING"])
    source = make(clock, deadline=clock.now + 3)
    with pytest.raises(DeadlineReached):
        list(source.fetch(WINDOW))
    assert calls(rsps)[-1] == CANCEL
    assert calls(rsps).count(STATUS) == 3


def test_retry_after_beyond_the_deadline_is_rate_limited(rsps, clock):
    fake = FakeDV(rsps, [])
    fake.inject("query-status", (429, {"Retry-After": "120"}, ""))
    with pytest.raises(RateLimited) as info:
        list(make(clock, deadline=clock.now + 30).fetch(WINDOW))
    assert info.value.retry_after == 120
    assert calls(rsps) == [INIT, STATUS, CANCEL]


def test_abandoning_the_iteration_cancels_the_query(rsps, clock):
    FakeDV(rsps, spread(4), page_size=2, states=["FINISHED"])
    source = make(clock)
    records = source.fetch(WINDOW)
    next(records)
    records.close()
    assert calls(rsps) == [INIT, STATUS, EVENTS, CANCEL]
    assert body_of(rsps.calls[-1]) == {"queryId": "q1"}
    source.close()
    assert calls(rsps) == [INIT, STATUS, EVENTS, CANCEL]  # nothing left to cancel


def test_deprecation_notice_is_logged_once(rsps, clock, caplog):
    notice = {"deprecation_date": "2026-02-15", "sunset_date": "2027-02-15"}
    FakeDV(rsps, [], states=["EMPTY_RESULTS"], init_extra=notice)
    source = make(clock, min_query_interval="0s")
    list(source.fetch(WINDOW))
    list(source.fetch(WINDOW))
    assert caplog.text.count("deprecated") == 1
    assert "sunset_date=2027-02-15" in caplog.text
