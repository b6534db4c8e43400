"""SDL long-running query source against a fake LRQ endpoint: exact call sequences."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import responses
from pydantic import SecretStr

from connector.config import ConsoleConfig
from connector.errors import AuthError, ConfigError, DeadlineReached, Unavailable
from connector.sources.lrq import Pieces
from connector.sources.query import EDR_FILTER, Pushdown
from connector.sources.sdl import FORWARD_TAG, SdlSource, scoped_filter
from connector.timeutil import Window, to_epoch_ms
from tests.sources.fakes import BASE, T0, FakeSDL, FakeTime, body_of, calls

TOKEN = "tok-SECRET-sdl-987654321"
FILTER = "endpoint.os='windows' and tgt.process.name contains 'cmd.exe'"
WINDOW = Window(T0, T0 + timedelta(minutes=10))
POST = "POST queries"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def pieces(data: dict[str, Any]) -> Pieces:
    gathered = Pieces()
    gathered.add(data)
    return gathered


def make(clock: FakeTime, deadline: float | None = None, mode: Any = "log", **console: Any):
    console.setdefault("max_retries", 2)
    return SdlSource(
        ConsoleConfig(url=BASE, **console),
        SecretStr(TOKEN),
        Pushdown(s1ql="", sdl_filter=FILTER),
        mode=mode,
        deadline=deadline,
        clock=clock.monotonic,
        sleep=clock.sleep,
        wall=clock.wall,
    )


def cf(n: int, offset: timedelta) -> dict[str, Any]:
    return {
        "event.id": f"TRACE_{n}",
        "event.time": to_epoch_ms(T0 + offset),
        "event.type": "Process Creation",
        "tgt.process.name": "cmd.exe",
    }


def spread(count: int) -> list[dict[str, Any]]:
    step = WINDOW.span / (count + 1)
    return [cf(i, step * (i + 1)) for i in range(count)]


def test_log_happy_path_echoes_forward_tag_and_deletes(rsps, clock):
    records = spread(3)
    fake = FakeSDL(rsps, records, steps=2)
    with make(clock) as source:
        got = list(source.fetch(WINDOW))
    assert got == [("cloud-funnel", r) for r in records]
    assert calls(rsps) == [POST, "GET lrq1", "GET lrq1", "DELETE lrq1"]
    assert body_of(rsps.calls[0]) == {
        "queryType": "LOG",
        "startTime": "2026-11-20T10:00:00.000Z",
        "endTime": "2026-11-20T10:10:00.000Z",
        "queryPriority": "LOW",
        "tenant": True,
        "log": {"filter": f"{EDR_FILTER} and ({FILTER})", "limit": 5000, "ascending": True},
    }
    assert all(c.request.headers["Authorization"] == f"Bearer {TOKEN}" for c in rsps.calls)
    assert all(c.request.headers.get(FORWARD_TAG) == "fwd-7" for c in rsps.calls[1:])
    assert FORWARD_TAG not in rsps.calls[0].request.headers
    assert "lastStepSeen=0" in (rsps.calls[1].request.url or "")
    assert "lastStepSeen=1" in (rsps.calls[2].request.url or "")
    assert fake.deleted == ["lrq1"]
    assert source.stats.api_calls == {
        "sdl/queries:POST": 1,
        "sdl/queries:GET": 2,
        "sdl/queries:DELETE": 1,
    }


def test_account_scope_and_site_filter(rsps, clock):
    fake = FakeSDL(rsps, [])
    list(make(clock, account_ids=["A1"], site_ids=["S1", "S2"]).fetch(WINDOW))
    body = fake.launched[0]
    assert body["tenant"] is False and body["accountIds"] == ["A1"]
    assert body["log"]["filter"].endswith("and site.id in ('S1', 'S2')")


def test_pq_projects_the_mapper_columns_and_yields_rows(rsps, clock):
    records = spread(2)
    fake = FakeSDL(rsps, records, steps=1)
    got = list(make(clock, mode="pq").fetch(WINDOW))
    assert got == [("pq", r) for r in records]
    query = fake.launched[0]["pq"]["query"]
    assert query.startswith(EDR_FILTER)
    assert "| columns event.time, event.id, event.type" in query
    assert query.endswith("| limit 5000")
    assert fake.launched[0]["pq"]["resultType"] == "TABLE"
    assert calls(rsps) == [POST, "GET lrq1", "DELETE lrq1"]


def test_result_at_the_limit_bisects_and_yields_each_record_once(rsps, clock):
    records = spread(4)
    fake = FakeSDL(rsps, records, steps=1)
    source = make(clock, sdl_limit=3)
    got = list(source.fetch(WINDOW))
    assert sorted(r["event.id"] for _, r in got) == sorted(r["event.id"] for r in records)
    assert len(got) == 4
    assert calls(rsps) == [
        POST, "GET lrq1", "DELETE lrq1",
        POST, "GET lrq2", "DELETE lrq2",
        POST, "GET lrq3", "DELETE lrq3",
    ]  # fmt: skip
    assert [b["endTime"] for b in fake.launched] == [
        "2026-11-20T10:10:00.000Z",
        "2026-11-20T10:05:00.000Z",
        "2026-11-20T10:10:00.000Z",
    ]
    assert source.stats.bisections == 1 and source.max_window == timedelta(minutes=5)


def test_result_at_the_limit_at_minimum_width_is_reported(rsps, clock, caplog):
    FakeSDL(rsps, spread(5), steps=1)
    source = make(clock, sdl_limit=3, min_window="10m")
    assert len(list(source.fetch(WINDOW))) == 3
    assert source.stats.truncated_windows == 1
    assert "DATA LOSS" in caplog.text


def test_delete_is_sent_after_a_server_error(rsps, clock):
    fake = FakeSDL(rsps, [], steps=3)
    fake.inject("GET", None, *[(503, {}, {"message": "busy"})] * 3)
    with pytest.raises(Unavailable, match="HTTP 503"):
        list(make(clock).fetch(WINDOW))
    assert calls(rsps) == [POST, "GET lrq1", "GET lrq1", "GET lrq1", "GET lrq1", "DELETE lrq1"]
    assert rsps.calls[-1].request.headers[FORWARD_TAG] == "fwd-7"


def test_delete_is_sent_after_a_syntax_error(rsps, clock):
    fake = FakeSDL(rsps, [], steps=2)
    failed = {"id": "lrq1", "stepsCompleted": 1, "stepsTotal": 1, "data": None,
              "error": {"message": "Unexpected token 'contains'", "details": []}}  # fmt: skip
    fake.inject("GET", (200, {}, failed))
    with pytest.raises(ConfigError) as info:
        list(make(clock).fetch(WINDOW))
    assert FILTER in str(info.value) and TOKEN not in str(info.value)
    assert calls(rsps) == [POST, "GET lrq1", "DELETE lrq1"]


def test_delete_is_sent_when_the_deadline_interrupts_polling(rsps, clock):
    FakeSDL(rsps, [], steps=10)
    with pytest.raises(DeadlineReached):
        list(make(clock, deadline=clock.now + 2.5).fetch(WINDOW))
    assert calls(rsps) == [POST, "GET lrq1", "GET lrq1", "DELETE lrq1"]


def test_expired_query_is_relaunched(rsps, clock):
    fake = FakeSDL(rsps, spread(1), steps=1)
    fake.inject("GET", (404, {}, {"message": "query not found"}))
    source = make(clock)
    assert len(list(source.fetch(WINDOW))) == 1
    assert calls(rsps) == [POST, "GET lrq1", "DELETE lrq1", POST, "GET lrq2", "DELETE lrq2"]
    assert source.stats.relaunches == 1


def test_failed_query_is_relaunched(rsps, clock):
    fake = FakeSDL(rsps, [], steps=1)
    failed = {"id": "lrq1", "stepsCompleted": 1, "stepsTotal": 1, "error": {"message": "OOM"}}
    fake.inject("GET", (200, {}, failed))
    list(make(clock).fetch(WINDOW))
    assert calls(rsps) == [POST, "GET lrq1", "DELETE lrq1", POST, "GET lrq2", "DELETE lrq2"]


def test_query_done_at_launch_needs_no_poll(rsps, clock):
    fake = FakeSDL(rsps, [])
    record = cf(1, timedelta(minutes=1))
    done = {"id": "lrq9", "stepsCompleted": 1, "stepsTotal": 1,
            "data": {"matches": [{"values": record}]}}  # fmt: skip
    fake.inject("POST", (200, {FORWARD_TAG: "fwd-7"}, done))
    assert list(make(clock).fetch(WINDOW)) == [("cloud-funnel", record)]
    assert calls(rsps) == [POST, "DELETE lrq9"]


def test_auth_error_on_launch_is_not_retried_and_nothing_to_delete(rsps, clock):
    fake = FakeSDL(rsps, [])
    fake.inject("POST", (401, {}, {"errors": [{"code": 4010010, "title": "Unauthorized"}]}))
    with pytest.raises(AuthError):
        list(make(clock).fetch(WINDOW))
    assert calls(rsps) == [POST]


def test_wrong_scheme_500_is_retried_then_unavailable(rsps, clock):
    fake = FakeSDL(rsps, [])
    wrong = {"message": 'Header must start with Bearer, but actually starts with "ApiTok"'}
    fake.inject("POST", *[(500, {}, wrong)] * 3)
    with pytest.raises(Unavailable, match="Header must start with Bearer"):
        list(make(clock).fetch(WINDOW))
    assert calls(rsps) == [POST] * 3


def test_records_outside_the_window_and_repeats_are_dropped(rsps, clock):
    inside = cf(1, timedelta(minutes=1))
    late = cf(2, timedelta(minutes=10))
    fake = FakeSDL(rsps, [])
    matches = [{"values": inside}, {"values": late}, {"values": inside}]
    done = {"id": "lrq1", "stepsCompleted": 1, "stepsTotal": 1, "data": {"matches": matches}}
    fake.inject("POST", (200, {FORWARD_TAG: "fwd-7"}, done))
    source = make(clock)
    assert list(source.fetch(WINDOW)) == [("cloud-funnel", inside)]
    assert source.stats.skipped == {"outside-window": 1, "duplicate": 1}


def test_scoped_filter_adds_edr_clause_once():
    assert scoped_filter("") == EDR_FILTER
    assert scoped_filter(f"{EDR_FILTER} and x='1'") == f"{EDR_FILTER} and x='1'"
    assert scoped_filter("x='1'", ["9"]) == f"{EDR_FILTER} and (x='1') and site.id in ('9')"


def test_malformed_rows_are_counted_by_reason_and_still_count_towards_the_limit(clock):
    source = make(clock, mode="pq")
    table = {"columns": [{"name": "event.id"}, {"name": "event.time"}],
             "values": [["A_1", 1], ["short"], ["B_2", 2]]}  # fmt: skip
    rows, returned = source._rows(pieces(table))
    # event.time 1 and 2 are epoch seconds by magnitude: read as ms
    assert rows == [
        {"event.id": "A_1", "event.time": 1000},
        {"event.id": "B_2", "event.time": 2000},
    ]
    assert returned == 3
    assert source.stats.skipped["malformed_row"] == 1
    log_source = make(clock)
    rows, returned = log_source._rows(
        pieces({"matches": [{"values": {"event.id": "C_3"}}, "junk"]})
    )
    assert (rows, returned) == ([{"event.id": "C_3"}], 2)
    assert log_source.stats.skipped["malformed_row"] == 1
