"""sentinelone-api-evidence.md as tests: each fact pins the request we send or how we read
the documented answers (`responses` mocks, the real HTTP layer).

Evidence → test:

* DV init-query body, ISO ms `Z`, `(from, to]`, cap 20000: test_dv_init_query_body
* DV `ApiToken`; pages of `limit` 1000 by `cursor`; cancel `{"queryId"}`:
  test_dv_paging_auth_and_cancel
* DV 1 init-query/min/token, ~1 status poll/s: test_dv_init_query_spacing_and_status_polling
* DV "could not parse query" → configuration error: test_dv_could_not_parse_query_is_a_config_error
* DV 4040010 while paging → the query runs again: test_dv_query_not_found_relaunches
* DV retention message → window clamped: test_dv_retention_message_clamps
* S1QL enum fields take `=`/`!=`/`In`/`Not In` and documented values:
  test_s1ql_enum_fields_as_documented (and test_pushdown_enums.py over all rules)
* SDL paths, `Bearer`, forward tag on GET/DELETE, `lastStepSeen`, DELETE 204, 1 s polls:
  test_sdl_lifecycle
* SDL LOG/PQ bodies, `tenant`/`accountIds`, `queryPriority` (LOW by default), `ascending`:
  test_sdl_bodies
* SDL filter: `contains` any case, `=`/`in` exact, `'…'` quoting: test_sdl_filter_language
* LRQ progress in `totalSteps`, `stepsTotal` or both: test_lrq_progress_field_variants
* LRQ results at the end or in pieces: test_lrq_results_in_pieces_or_at_the_end,
  test_lrq_pieces_that_repeat_earlier_rows_count_each_row_once
* PowerQuery partial flags → narrow and re-run, else DATA LOSS:
  test_partial_results_narrow_the_window, test_partial_result_at_minimum_window_is_data_loss,
  test_a_complete_pq_result_with_zero_flags_is_complete
* LOG `event.time` in ms, `timestamp` in ns; LRQ times in s/ms/µs/ns: test_times_in_any_unit,
  test_log_timestamp_in_ns_stands_in_for_a_missing_event_time
* not confirmed anywhere → what the console answered is logged at debug level:
  test_unconfirmed_answers_are_logged_at_debug
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from connector.config import ConsoleConfig
from connector.detection.rules import load_rules
from connector.errors import ConfigError
from connector.simulator.query import compile_sdl_filter
from connector.sources.deep_visibility import DeepVisibilitySource
from connector.sources.pushdown import build_pushdown
from connector.sources.pushdown_ir import sdl_quote
from connector.sources.query import Pushdown
from connector.sources.sdl import FORWARD_TAG, PQ_COLUMNS, SdlSource
from connector.timeutil import Window, to_epoch_ms
from tests.sources.fakes import BASE, T0, FakeDV, FakeSDL, FakeTime, body_of, calls, dv_event

TOKEN = "tok-SECRET-evidence-42"
WINDOW = Window(T0, T0 + timedelta(minutes=10))
S1QL = 'EventType = "Process Creation"'


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def dv(clock: FakeTime, **console: Any) -> DeepVisibilitySource:
    console.setdefault("max_retries", 2)
    return DeepVisibilitySource(
        ConsoleConfig(url=BASE, **console), SecretStr(TOKEN), Pushdown(S1QL, ""),
        clock=clock.monotonic, sleep=clock.sleep, wall=clock.wall,
    )  # fmt: skip


def sdl(clock: FakeTime, **console: Any) -> SdlSource:
    console.setdefault("max_retries", 2)
    return SdlSource(
        ConsoleConfig(url=BASE, **console), SecretStr(TOKEN), Pushdown("", "x='1'"),
        clock=clock.monotonic, sleep=clock.sleep, wall=clock.wall,
    )  # fmt: skip


def cf(n: int, at_minute: float, **extra: Any) -> dict[str, Any]:
    return {
        "event.id": f"E_{n}",
        "event.time": to_epoch_ms(T0 + timedelta(minutes=at_minute)),
        "event.type": "Process Creation",
        **extra,
    }


def events(count: int) -> list[dict[str, Any]]:
    return [cf(i, 10 * (i + 1) / (count + 1)) for i in range(count)]


# -- Deep Visibility ------------------------------------------------------------------------


def test_dv_init_query_body(rsps, clock):
    FakeDV(rsps, [])
    list(dv(clock, account_ids=["A1"], site_ids=["S1"]).fetch(WINDOW))
    assert body_of(rsps.calls[0]) == {
        "query": S1QL,
        "fromDate": "2026-11-20T09:59:59.999Z",  # DV bounds are (from, to]: start - 1 ms
        "toDate": "2026-11-20T10:10:00.000Z",
        "limit": 20000,
        "queryType": ["events"],
        "isVerbose": True,
        "accountIds": ["A1"],
        "siteIds": ["S1"],
    }


def test_dv_paging_auth_and_cancel(rsps, clock):
    fake = FakeDV(rsps, [dv_event(i, T0 + timedelta(minutes=1 + i)) for i in range(3)])
    fake.page_size = 2
    got = list(dv(clock).fetch(WINDOW))
    assert len(got) == 3
    pages = [c for c in rsps.calls if "/dv/events" in (c.request.url or "")]
    assert all("limit=1000" in (c.request.url or "") for c in pages)
    assert "cursor=" in (pages[1].request.url or "")
    assert all(c.request.headers["Authorization"] == f"ApiToken {TOKEN}" for c in rsps.calls)
    # a query abandoned mid-way is cancelled with {"queryId": ...}
    rsps.calls.reset()
    source = dv(clock)
    stream = source.fetch(WINDOW)
    next(stream)
    stream.close()
    source.close()
    assert calls(rsps)[-1] == "POST cancel-query"
    assert set(body_of(rsps.calls[-1])) == {"queryId"}


def test_dv_init_query_spacing_and_status_polling(rsps, clock):
    FakeDV(rsps, [], states=("RUNNING", "RUNNING", "FINISHED"))
    source = dv(clock)
    list(source.fetch(WINDOW))
    list(source.fetch(Window(WINDOW.end, WINDOW.end + timedelta(minutes=10))))
    assert sum(clock.sleeps) >= 60  # the second init-query waited out the 1/min limit
    assert 1.0 in clock.sleeps  # query-status polled once a second


def test_dv_could_not_parse_query_is_a_config_error(rsps, clock):
    fake = FakeDV(rsps, [])
    detail = {"errors": [{"code": 4000040, "detail": "could not parse query", "title": "x"}]}
    fake.inject("init-query", (400, {}, detail))
    with pytest.raises(ConfigError, match="could not parse query") as info:
        list(dv(clock).fetch(WINDOW))
    assert S1QL in str(info.value)


def test_dv_query_not_found_relaunches(rsps, clock):
    fake = FakeDV(rsps, [dv_event(1, T0 + timedelta(minutes=1))])
    gone = {"errors": [{"code": 4040010, "detail": "QueryId not found"}]}
    fake.inject("events", (404, {}, gone))
    source = dv(clock, min_query_interval="0s")
    assert len(list(source.fetch(WINDOW))) == 1
    assert source.stats.relaunches == 1


def test_dv_retention_message_clamps(rsps, clock, caplog):
    fake = FakeDV(rsps, [])
    retention = {"errors": [{"code": 4000010, "detail": "your account retains data for 1 day"}]}
    fake.inject("init-query", (400, {}, retention))
    source = dv(clock, min_query_interval="0s")
    list(source.fetch(Window(T0 - timedelta(days=3), T0 + timedelta(minutes=10))))
    assert source.stats.clamped_windows == 1
    assert "clamped" in caplog.text or "retention" in caplog.text


def test_s1ql_enum_fields_as_documented():
    s1ql = build_pushdown(load_rules()).s1ql
    assert 'EndpointOS = "windows"' in s1ql
    assert 'EventType = "Process Creation"' in s1ql and 'EventType != "Process Creation"' in s1ql
    for refused in ('Anycase ("Process', "EndpointOS ContainsCIS", "ProcessCreation"):
        assert refused not in s1ql


# -- SDL long-running queries ----------------------------------------------------------------


def test_sdl_lifecycle(rsps, clock):
    fake = FakeSDL(rsps, events(2), steps=2)
    with sdl(clock) as source:
        assert len(list(source.fetch(WINDOW))) == 2
    assert calls(rsps) == ["POST queries", "GET lrq1", "GET lrq1", "DELETE lrq1"]
    assert [c.request.url.split("?")[0] for c in rsps.calls[1:]] == [
        f"{BASE}/sdl/v2/api/queries/lrq1"
    ] * 3
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in rsps.calls)
    assert all(c.request.headers[FORWARD_TAG] == fake.forward_tag for c in rsps.calls[1:])
    assert "lastStepSeen=0" in (rsps.calls[1].request.url or "")
    assert [s for s in clock.sleeps if s >= 1.0] == [1.0, 1.0]  # one poll a second
    assert fake.deleted == ["lrq1"]  # and the 204 is taken as done


def test_sdl_bodies(rsps, clock):
    fake = FakeSDL(rsps, [])
    list(sdl(clock).fetch(WINDOW))
    list(
        sdl(clock, sdl_query_priority="HIGH", sdl_query_type="PQ", account_ids=["A"]).fetch(WINDOW)
    )
    log_body, pq_body = fake.launched
    assert log_body["queryType"] == "LOG" and log_body["queryPriority"] == "LOW"
    assert log_body["startTime"] == "2026-11-20T10:00:00.000Z"
    assert log_body["endTime"] == "2026-11-20T10:10:00.000Z"
    assert log_body["tenant"] is True and "accountIds" not in log_body
    assert log_body["log"]["limit"] == 5000 and log_body["log"]["ascending"] is True
    assert pq_body["queryType"] == "PQ" and pq_body["queryPriority"] == "HIGH"
    assert pq_body["tenant"] is False and pq_body["accountIds"] == ["A"]
    assert pq_body["pq"]["resultType"] == "TABLE"
    assert pq_body["pq"]["query"].endswith(f"| columns {', '.join(PQ_COLUMNS)} | limit 5000")


def test_sdl_filter_language():
    assert sdl_quote("it's C:\\x") == "'it\\'s C:\\\\x'"
    record = {"k": "It's C:\\X", "t": "Process Creation"}
    assert compile_sdl_filter("k contains 'it\\'s c:\\\\x'")(record)  # contains: any case
    assert not compile_sdl_filter("k = 'it\\'s c:\\\\x'")(record)  # =: exact case
    assert compile_sdl_filter("k = 'It\\'s C:\\\\X'")(record)
    assert not compile_sdl_filter("t in ('process creation')")(record)  # in: exact case
    assert compile_sdl_filter("t contains:matchcase 'Process'")(record)


@pytest.mark.parametrize("field", ["totalSteps", "stepsTotal", "both"])
def test_lrq_progress_field_variants(rsps, clock, field):
    FakeSDL(rsps, events(3), steps=3, progress=field)
    source = sdl(clock)
    assert [r["event.id"] for _, r in source.fetch(WINDOW)] == ["E_0", "E_1", "E_2"]
    assert source.stats.api_calls["sdl/queries:GET"] == 3  # finished at step 3, not timed out


@pytest.mark.parametrize("pieces", [False, True], ids=["at-the-end", "in-pieces"])
@pytest.mark.parametrize("mode", ["LOG", "PQ"])
def test_lrq_results_in_pieces_or_at_the_end(rsps, clock, pieces, mode):
    FakeSDL(rsps, events(7), steps=3, pieces=pieces)
    source = sdl(clock, sdl_query_type=mode)
    got = sorted(r["event.id"] for _, r in source.fetch(WINDOW))
    assert got == [f"E_{i}" for i in range(7)]
    assert dict(source.stats.skipped) == {}


def test_lrq_pieces_that_repeat_earlier_rows_count_each_row_once(rsps, clock):
    fake = FakeSDL(rsps, [])
    rows = [{"values": r} for r in events(3)]
    first = {"id": "lrq1", "stepsCompleted": 1, "totalSteps": 2, "data": {"matches": rows[:2]}}
    fake.inject("POST", (200, {FORWARD_TAG: "fwd-7"}, first))
    last = {"id": "lrq1", "stepsCompleted": 2, "totalSteps": 2, "data": {"matches": rows}}
    fake.inject("GET", (200, {}, last))
    source = sdl(clock)
    assert [r["event.id"] for _, r in source.fetch(WINDOW)] == ["E_0", "E_1", "E_2"]


@pytest.mark.parametrize(
    "flag",
    [
        ("partialResultsDueToTimeLimit", True),
        ("omittedEvents", 12.0),
        ("discardedArrayItems", 3),
        ("truncatedAtLimit", True),
    ],
)
@pytest.mark.parametrize("mode", ["PQ", "LOG"])
def test_partial_results_narrow_the_window(rsps, clock, flag, mode):
    records = events(8)
    FakeSDL(rsps, records, steps=1, partial_above=3, partial_flag=flag)
    source = sdl(clock, sdl_query_type=mode)
    got = sorted(r["event.id"] for _, r in source.fetch(WINDOW))
    assert got == sorted(r["event.id"] for r in records)  # nothing lost
    assert source.stats.bisections >= 2
    assert source.stats.truncated_windows == 0


def test_partial_result_at_minimum_window_is_data_loss(rsps, clock, caplog):
    FakeSDL(rsps, events(8), steps=1, partial_above=3)
    source = sdl(clock, sdl_query_type="PQ", min_window="10m")
    with caplog.at_level(logging.WARNING):
        got = list(source.fetch(WINDOW))
    assert len(got) == 3  # kept, but never taken as complete:
    assert source.stats.truncated_windows == 1
    assert "DATA LOSS" in caplog.text and "partialResultsDueToTimeLimit" in caplog.text


def test_a_complete_pq_result_with_zero_flags_is_complete(rsps, clock):
    fake = FakeSDL(rsps, [])
    data = {
        "columns": [{"name": "event.id"}, {"name": "event.time"}],
        "values": [["E_1", to_epoch_ms(T0 + timedelta(minutes=1))]],
        "partialResultsDueToTimeLimit": False, "omittedEvents": 0.0, "discardedArrayItems": 0,
    }  # fmt: skip
    done = {"id": "lrq1", "stepsCompleted": 1, "totalSteps": 1, "data": data}
    fake.inject("POST", (200, {FORWARD_TAG: "fwd-7"}, done))
    source = sdl(clock, sdl_query_type="PQ")
    assert len(list(source.fetch(WINDOW))) == 1
    assert source.stats.bisections == 0 and source.stats.truncated_windows == 0


@pytest.mark.parametrize("scale", [1 / 1000, 1, 1000, 1_000_000], ids=["s", "ms", "us", "ns"])
def test_times_in_any_unit(rsps, clock, scale):
    fake = FakeSDL(rsps, [])
    ms = to_epoch_ms(T0 + timedelta(minutes=1))
    data = {
        "columns": [
            {"name": "event.id"},
            {"name": "event.time"},
            {"name": "tgt.process.startTime"},
        ],
        "values": [["E_1", int(ms * scale), int(ms * scale)]],
    }
    done = {"id": "lrq1", "stepsCompleted": 1, "stepsTotal": 1, "data": data}
    fake.inject("POST", (200, {FORWARD_TAG: "fwd-7"}, done))
    got = list(sdl(clock, sdl_query_type="PQ").fetch(WINDOW))
    assert [r["event.time"] for _, r in got] == [ms]  # inside the window, read as ms
    assert got[0][1]["tgt.process.startTime"] == ms


def test_log_timestamp_in_ns_stands_in_for_a_missing_event_time(rsps, clock):
    fake = FakeSDL(rsps, [])
    ns = to_epoch_ms(T0 + timedelta(minutes=2)) * 1_000_000
    match = {"values": {"event.id": "E_1", "timestamp": ns}}
    done = {"id": "lrq1", "stepsCompleted": 1, "stepsTotal": 1, "data": {"matches": [match]}}
    fake.inject("POST", (200, {FORWARD_TAG: "fwd-7"}, done))
    got = list(sdl(clock).fetch(WINDOW))
    assert got[0][1]["event.time"] == ns // 1_000_000


def test_unconfirmed_answers_are_logged_at_debug(rsps, clock, caplog):
    FakeSDL(rsps, events(1), steps=1, progress="both")
    FakeDV(rsps, [dv_event(1, T0 + timedelta(minutes=1))])
    with caplog.at_level(logging.DEBUG, logger="connector.sources"):
        list(sdl(clock).fetch(WINDOW))
        list(dv(clock).fetch(WINDOW))
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert any("stepsTotal" in m and "totalSteps" in m for m in debug)  # progress fields
    assert any("totalItems" in m for m in debug)  # DV pagination as answered


def test_a_partial_flag_on_an_earlier_piece_makes_the_result_partial(rsps, clock):
    fake = FakeSDL(rsps, [])
    rows = [{"values": r} for r in events(2)]
    first = {"id": "lrq1", "stepsCompleted": 1, "totalSteps": 2,
             "data": {"matches": rows[:1], "omittedEvents": 5}}  # fmt: skip
    last = {"id": "lrq1", "stepsCompleted": 2, "totalSteps": 2, "data": {"matches": rows[1:]}}
    fake.inject("POST", (200, {FORWARD_TAG: "fwd-7"}, first))
    fake.inject("GET", (200, {}, last))
    source = sdl(clock, min_window="10m")
    assert len(list(source.fetch(WINDOW))) == 2
    assert source.stats.truncated_windows == 1  # reported, never taken as complete
