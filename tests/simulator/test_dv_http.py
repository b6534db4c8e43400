"""Deep Visibility v2.1 over real HTTP on 127.0.0.1: lifecycle, paging, validation, expiry."""

from __future__ import annotations

import socket
from typing import Any

import pytest
import requests

from connector.simulator import Clock, Simulator
from tests.simulator.support import TOKEN, Client, cf_record, window

LIMIT_BODY = {
    "errors": [
        {
            "code": 4000010,
            "detail": "Limit must be greater than or equals to 1 and less than equals to 1000",
            "title": "Validation Error",
        }
    ]
}


def test_state_goes_planning_running_finished_over_the_status_delay(
    client: Client, clock: Clock
) -> None:
    query_id = client.init()
    assert client.state(query_id) == "PLANNING"
    clock.advance(0.5)
    response = client.dv("GET", "query-status", params={"queryId": query_id})
    assert response.json()["data"]["responseState"] == "RUNNING"
    assert response.json()["data"]["progressStatus"] == 50
    clock.advance(0.5)
    status = client.dv("GET", "query-status", params={"queryId": query_id}).json()["data"]
    assert status["responseState"] == "FINISHED"
    assert status["progressStatus"] == 100
    assert status["queryModeInfo"]["mode"] == "scalyr"


def test_init_query_answers_the_documented_shape(client: Client) -> None:
    start, end = window(0, 10)
    response = client.dv(
        "POST", "init-query", json={"query": 'EventType = "Process Creation"', "fromDate": start,
                                    "toDate": end, "queryType": ["events"], "limit": 20000}
    )  # fmt: skip
    assert response.status_code == 200
    data = response.json()["data"]
    assert data["queryId"].startswith("q") and len(data["queryId"]) == 32
    assert set(data["queryModeInfo"]) == {"lastActivatedAt", "mode"}
    assert response.headers["X-RQID"]


def test_events_are_dv_camel_case_in_the_from_exclusive_to_inclusive_window(
    client: Client, clock: Clock
) -> None:
    query_id = client.init(start_s=5, end_s=10)
    clock.advance(1)
    events = client.all_events(query_id)
    times = sorted(e["eventTime"] for e in events)
    assert times == [window(n, n)[0] for n in range(6, 11)]  # (fromDate, toDate]
    sample = events[0]
    assert sample["tgtProcName"] == "cmd.exe"
    assert isinstance(sample["tgtProcPid"], str)
    assert sample["eventType"] == "Process Creation"
    assert "tgt.process.name" not in sample


def test_epoch_millisecond_dates_are_accepted(
    client: Client, clock: Clock, records: list[dict[str, Any]]
) -> None:
    start, end = records[2]["event.time"], records[4]["event.time"]
    query_id = client.init(fromDate=start, toDate=str(end))
    clock.advance(1)
    assert len(client.all_events(query_id)) == 2


def test_cursor_pagination_returns_every_event_once(client: Client, clock: Clock) -> None:
    query_id = client.init()
    clock.advance(1)
    first = client.dv("GET", "events", params={"queryId": query_id, "limit": 7}).json()
    assert len(first["data"]) == 7
    assert first["pagination"]["totalItems"] == 30
    assert first["pagination"]["nextCursor"]
    events = client.all_events(query_id, limit=7)
    assert len(events) == 30
    assert len({e["id"] for e in events}) == 30


def test_pages_come_newest_created_first(client: Client, clock: Clock) -> None:
    query_id = client.init()
    clock.advance(1)
    created = [e["createdAt"] for e in client.all_events(query_id)]
    assert created == sorted(created, reverse=True)


def test_default_page_size_is_ten(client: Client, clock: Clock) -> None:
    query_id = client.init()
    clock.advance(1)
    body = client.dv("GET", "events", params={"queryId": query_id}).json()
    assert len(body["data"]) == 10


@pytest.mark.parametrize("limit", [0, 1001, 5000])
def test_limit_outside_1_to_1000_gets_the_verbatim_400(
    client: Client, clock: Clock, limit: int
) -> None:
    query_id = client.init()
    clock.advance(1)
    response = client.dv("GET", "events", params={"queryId": query_id, "limit": limit})
    assert response.status_code == 400
    assert response.json() == LIMIT_BODY


def test_paging_an_unfinished_query_is_refused(client: Client) -> None:
    query_id = client.init()
    response = client.dv("GET", "events", params={"queryId": query_id, "limit": 10})
    assert response.status_code == 400
    assert "not finished" in response.json()["errors"][0]["detail"]


def test_a_foreign_or_garbled_cursor_is_refused(client: Client, clock: Clock) -> None:
    first, second = client.init(), client.init()
    clock.advance(1)
    cursor = client.dv("GET", "events", params={"queryId": first, "limit": 5}).json()["pagination"][
        "nextCursor"
    ]
    for bad in (cursor, "%%%not-base64", "e30"):
        response = client.dv("GET", "events", params={"queryId": second, "cursor": bad})
        assert response.status_code == 400, bad


def test_unparsable_s1ql_gets_4000040_could_not_parse_query(client: Client) -> None:
    start, end = window(0, 10)
    response = client.dv(
        "POST",
        "init-query",
        json={"query": "A = 1 AND B = 2 OR C = 3", "fromDate": start, "toDate": end},
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == 4000040
    assert "could not parse query" in error["detail"]


@pytest.mark.parametrize(
    "query",
    [
        'EventType In Anycase ("Process Creation", "ProcessCreation")',
        'EndpointOS ContainsCIS "windows"',
        'EventType = "ProcessCreation"',
    ],
)
def test_enum_misuse_gets_400_could_not_parse_query(client: Client, query: str) -> None:
    start, end = window(0, 10)
    response = client.dv(
        "POST", "init-query", json={"query": query, "fromDate": start, "toDate": end}
    )
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == 4000040
    assert error["detail"].startswith("could not parse query")


def test_unknown_field_in_s1ql_is_a_parse_error(client: Client) -> None:
    start, end = window(0, 10)
    body = {"query": 'TgtProcNmae = "cmd.exe"', "fromDate": start, "toDate": end}
    response = client.dv("POST", "init-query", json=body)
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == 4000040


_Q = {"query": 'EventType = "Login"'}
_DATES = {"fromDate": "2026-11-20T10:00:00Z", "toDate": "2026-11-20T11:00:00Z"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (_DATES, "query is required"),
        ({**_Q, "toDate": "2026-11-20T11:00:00Z"}, "fromDate is required"),
        ({**_Q, **_DATES, "fromDate": "yesterday"}, "not a valid date"),
        ({**_Q, **_DATES, "fromDate": "2026-11-20T12:00:00Z"}, "earlier"),
        ({**_Q, **_DATES, "limit": 100001}, "limit"),
        ({**_Q, **_DATES, "queryType": ["processes"]}, "queryType"),
        ({**_Q, **_DATES, "siteIds": []}, "siteIds"),
        ({**_Q, **_DATES, "accountIds": "900"}, "accountIds"),
    ],
)
def test_malformed_init_query_bodies_get_a_400_naming_the_problem(
    client: Client, body: dict[str, Any], fragment: str
) -> None:
    response = client.dv("POST", "init-query", json=body)
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error["code"] == 4000010
    assert fragment in error["detail"]


def test_non_json_body_is_a_400(client: Client) -> None:
    response = client.dv("POST", "init-query", data=b"{not json")
    assert response.status_code == 400


def test_site_and_account_ids_filter(client: Client, clock: Clock) -> None:
    site_only = client.init(siteIds=["111"])
    both = client.init(siteIds=["111", "222"], accountIds=["900"])
    other_account = client.init(accountIds=["901"])
    clock.advance(1)
    assert len(client.all_events(site_only)) == 15
    assert len(client.all_events(both)) == 30
    assert client.all_events(other_account) == []
    assert client.state(other_account) == "EMPTY_RESULTS"


def test_query_limit_and_cap_truncate_and_total_items_reports_the_cap(
    records: list[dict[str, Any]], clock: Clock
) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, query_cap=12, clock=clock,
                   retention_days=None) as sim:  # fmt: skip
        client = Client(sim.url)
        capped = client.init()
        limited = client.init(limit=5)
        page = client.dv("GET", "events", params={"queryId": capped, "limit": 100}).json()
        assert page["pagination"] == {"nextCursor": None, "totalItems": 12}
        assert len(page["data"]) == 12
        assert len(client.all_events(limited)) == 5


def test_without_is_verbose_non_priority_fields_are_left_out(client: Client, clock: Clock) -> None:
    start, end = window(0, 3)
    body = {"query": 'TgtProcName = "cmd.exe"', "fromDate": start, "toDate": end}
    query_id = client.dv("POST", "init-query", json=body).json()["data"]["queryId"]
    clock.advance(1)
    event = client.all_events(query_id)[0]
    assert "tgtProcName" in event
    assert "tgtProcUid" not in event


def test_cancel_query(client: Client, clock: Clock) -> None:
    query_id = client.init()
    response = client.dv("POST", "cancel-query", json={"queryId": query_id})
    assert response.status_code == 200
    assert response.json() == {"data": {"success": True}}
    clock.advance(1)
    assert client.state(query_id) == "QUERY_CANCELLED"
    assert client.dv("GET", "events", params={"queryId": query_id}).status_code == 404


def test_cancel_unknown_query_is_404(client: Client) -> None:
    response = client.dv("POST", "cancel-query", json={"queryId": "qnope"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 4040010


def test_idle_query_expires(records: list[dict[str, Any]], clock: Clock) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, dv_expiry_s=60, clock=clock,
                   retention_days=None) as sim:  # fmt: skip
        client = Client(sim.url)
        query_id = client.init()
        clock.advance(59)
        assert client.state(query_id) == "FINISHED"  # a call keeps it alive
        clock.advance(61)
        status = client.dv("GET", "query-status", params={"queryId": query_id}).json()["data"]
        assert status["responseState"] == "QUERY_EXPIRED"
        assert status["progressStatus"] == 100
        events = client.dv("GET", "events", params={"queryId": query_id})
        assert events.status_code == 404
        assert events.json()["errors"][0] == {
            "code": 4040010, "detail": "QueryId not found", "title": "Not Found"
        }  # fmt: skip


def test_unknown_query_id_is_404(client: Client) -> None:
    response = client.dv("GET", "query-status", params={"queryId": "qdoesnotexist"})
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == 4040010


def test_retention_refuses_old_from_dates(records: list[dict[str, Any]]) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, retention_days=14) as sim:
        client = Client(sim.url)
        start, end = window(0, 10)  # T0 is 2026-11-20; the test may run later
        old = {"query": 'EventType = "Login"', "fromDate": "2020-01-01T00:00:00Z", "toDate": end}
        response = client.dv("POST", "init-query", json=old)
        assert response.status_code == 400
        assert "retains data for 14 days" in response.json()["errors"][0]["detail"]
        assert start  # the recent bound is not what failed


@pytest.mark.parametrize(
    "header",
    [None, "ApiToken wrong", f"Bearer {TOKEN}", TOKEN, f"apitoken {TOKEN}"],
)
def test_dv_auth_failures_get_401_4010010(sim: Simulator, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    start, end = window(0, 10)
    response = requests.post(
        sim.url + "/web/api/v2.1/dv/init-query",
        json={"query": 'EventType = "Login"', "fromDate": start, "toDate": end},
        headers=headers,
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json() == {
        "errors": [
            {"code": 4010010, "detail": "Authentication failed", "title": "Authentication Failed"}
        ]
    }


def test_unknown_paths_are_404(client: Client) -> None:
    assert client.dv("GET", "no-such-endpoint").status_code == 404


def test_deprecation_notice_is_optional(records: list[dict[str, Any]]) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, deprecation_notice=True,
                   retention_days=None) as sim:  # fmt: skip
        body = Client(sim.url).dv(
            "POST", "init-query", json={"query": 'EventType = "Login"', "fromDate": window(0, 1)[0],
                                        "toDate": window(0, 1)[1]}
        ).json()  # fmt: skip
        assert body["deprecation"]["sunset_date"] == "2027-02-15"
        assert "queryId" in body["data"]


def test_add_records_makes_new_events_visible(sim: Simulator, client: Client, clock: Clock) -> None:
    sim.add_records([cf_record(40), cf_record(41)])
    query_id = client.init(start_s=39, end_s=45)
    clock.advance(1)
    assert sorted(e["tgtProcPid"] for e in client.all_events(query_id)) == ["1040", "1041"]


def test_a_malformed_content_length_gets_a_400(sim: Simulator) -> None:
    with socket.create_connection(("127.0.0.1", sim.port), timeout=5) as conn:
        conn.sendall(
            b"POST /web/api/v2.1/dv/init-query HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
        )
        assert conn.recv(4096).startswith(b"HTTP/1.1 400")
