"""SDL v2 long-running queries over real HTTP: steps, forward tag, expiry, caps, scope, PQ."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connector.simulator import Clock, Simulator
from tests.simulator.support import SDL, TOKEN, Client, window

TAG = "X-Dataset-Query-Forward-Tag"


def _poll(client: Client, query_id: str, tag: str | None, last: int = 0) -> requests.Response:
    headers = {} if tag is None else {TAG: tag}
    return client.sdl("GET", f"/{query_id}", params={"lastStepSeen": last}, headers=headers)


def test_launch_poll_until_done_then_delete(client: Client, clock: Clock) -> None:
    launched = client.launch("tgt.process.name='cmd.exe'", 0, 10)
    assert launched.status_code == 200
    body = launched.json()
    assert (body["stepsCompleted"], body["stepsTotal"], body["data"]) == (0, 0, None)
    tag = launched.headers[TAG]
    clock.advance(0.5)
    midway = _poll(client, body["id"], tag).json()
    assert 0 < midway["stepsCompleted"] < midway["stepsTotal"]
    assert midway["data"] is None
    clock.advance(0.5)
    done = _poll(client, body["id"], tag, midway["stepsCompleted"]).json()
    assert done["stepsCompleted"] == done["stepsTotal"] > 0
    assert done["error"] is None
    matches = done["data"]["matches"]
    assert [m["values"]["tgt.process.pid"] for m in matches] == list(range(1000, 1010))
    assert all(m["cursor"] for m in matches)
    assert done["data"]["estimatedMatchCount"] == 10
    assert set(done["resolvedTimeRange"]) == {"start", "end"}
    assert client.sdl("DELETE", f"/{body['id']}", headers={TAG: tag}).status_code == 204
    assert _poll(client, body["id"], tag).status_code == 404


def test_values_are_cloud_funnel_records_as_stored(
    client: Client, clock: Clock, records: list[dict[str, Any]]
) -> None:
    launched = client.launch("", 0, 1)
    clock.advance(1)
    done = _poll(client, launched.json()["id"], launched.headers[TAG]).json()
    assert [m["values"] for m in done["data"]["matches"]] == [records[0]]  # [start, end)


def test_forward_tag_is_required_and_must_match(client: Client) -> None:
    launched = client.launch()
    query_id = launched.json()["id"]
    missing = _poll(client, query_id, None)
    assert missing.status_code == 400
    assert TAG in missing.json()["message"]
    assert _poll(client, query_id, "0000wrongtag0000").status_code == 404
    assert client.sdl("DELETE", f"/{query_id}").status_code == 400
    assert _poll(client, query_id, launched.headers[TAG]).status_code == 200


def test_last_step_seen_is_required(client: Client) -> None:
    launched = client.launch()
    response = client.sdl("GET", f"/{launched.json()['id']}", headers={TAG: launched.headers[TAG]})
    assert response.status_code == 400


def test_query_expires_30_s_after_the_last_poll(client: Client, clock: Clock) -> None:
    launched = client.launch()
    query_id, tag = launched.json()["id"], launched.headers[TAG]
    clock.advance(29)
    assert _poll(client, query_id, tag).status_code == 200  # a poll renews the TTL
    clock.advance(29)
    assert _poll(client, query_id, tag).status_code == 200
    clock.advance(31)
    assert _poll(client, query_id, tag).status_code == 404


def test_zero_delay_completes_in_the_post(records: list[dict[str, Any]]) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0) as sim:
        body = Client(sim.url).launch("", 0, 5).json()
        assert body["stepsCompleted"] == body["stepsTotal"] > 0
        assert len(body["data"]["matches"]) == 5


def test_log_limit_truncates_and_the_cursor_resumes_inclusively(
    records: list[dict[str, Any]],
) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, sdl_limit=8) as sim:
        client = Client(sim.url)
        capped = client.launch("", 0, 100, log={"filter": "", "limit": 50}).json()["data"]
        assert len(capped["matches"]) == 8  # sdl_limit caps log.limit
        assert capped["estimatedMatchCount"] == 30
        small = client.launch("", 0, 100, log={"filter": "", "limit": 4}).json()["data"]
        assert len(small["matches"]) == 4
        resume = small["matches"][-1]["cursor"]
        nxt = client.launch("", 0, 100, log={"filter": "", "limit": 4, "cursor": resume}).json()
        pids = [m["values"]["tgt.process.pid"] for m in nxt["data"]["matches"]]
        assert pids == [1003, 1004, 1005, 1006]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"queryType": None}, "Query type must be specified"),
        ({"queryType": "SQL"}, "Unexpected value 'SQL'"),
        ({"queryType": "PLOT"}, "not supported by the simulator"),
        (
            {"tenant": True, "accountIds": ["900"]},
            "tenant=false should be used when querying accountIds",
        ),
        ({"startTime": "soon"}, "startTime is not a valid date"),
        ({"log": {"filter": "a="}}, "could not parse filter"),
        ({"log": {"filter": "", "limit": 0}}, "log.limit"),
        ({"log": {"filter": "", "cursor": "!!"}}, "invalid log.cursor"),
        ({"log": None}, "'log' must be an object"),
    ],
)
def test_malformed_launches_get_400_with_the_lrq_error_body(
    client: Client, body: dict[str, Any], message: str
) -> None:
    if body.get("queryType", "LOG") is None:
        body = {k: v for k, v in body.items() if k != "queryType"}
        start, end = window(0, 10)
        response = client.sdl("POST", json={"tenant": True, "startTime": start, "endTime": end})
    else:
        response = client.launch(**body)
    assert response.status_code == 400
    error = response.json()
    assert message in error["message"]
    assert error["code"] == 4000010
    assert error["details"] == []


def test_no_scope_gives_200_and_zero_matches(client: Client, clock: Clock) -> None:
    start, end = window(0, 100)
    body = {"queryType": "LOG", "startTime": start, "endTime": end, "log": {"filter": ""}}
    launched = client.sdl("POST", json=body)
    assert launched.status_code == 200
    clock.advance(1)
    done = _poll(client, launched.json()["id"], launched.headers[TAG]).json()
    assert done["data"]["matches"] == []


def test_account_ids_without_tenant_is_a_scope(client: Client, clock: Clock) -> None:
    launched = client.launch("", 0, 3, tenant=False, accountIds=["900"])
    clock.advance(1)
    done = _poll(client, launched.json()["id"], launched.headers[TAG]).json()
    assert len(done["data"]["matches"]) == 3


def test_pq_query(client: Client, clock: Clock) -> None:
    query = "tgt.process.name='cmd.exe' | group ct=count() by endpoint.name | sort -ct | limit 2"
    launched = client.launch(start_s=0, end_s=4, queryType="PQ", pq={"query": query})
    clock.advance(1)
    data = _poll(client, launched.json()["id"], launched.headers[TAG]).json()["data"]
    assert data["columns"] == [{"name": "endpoint.name"}, {"name": "ct"}]
    assert data["values"] == [["H0", 2], ["H1", 1]]  # seconds 0-3: H0 twice, H1 and H2 once


def test_api_token_header_on_lrq_gets_the_500_from_the_reference(sim: Simulator) -> None:
    response = requests.post(
        sim.url + SDL, json={"queryType": "LOG"}, headers={"Authorization": f"ApiToken {TOKEN}"},
        timeout=10,
    )  # fmt: skip
    assert response.status_code == 500
    assert (
        response.json()["message"]
        == 'Header must start with Bearer, but actually starts with "ApiTok"'
    )


@pytest.mark.parametrize("header", [None, "Bearer wrong"])
def test_lrq_auth_failures_get_401(sim: Simulator, header: str | None) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = requests.post(sim.url + SDL, json={"queryType": "LOG"}, headers=headers, timeout=10)
    assert response.status_code == 401
    assert response.json()["errors"][0]["code"] == 4010010


def test_delete_unknown_query_is_404(client: Client) -> None:
    assert client.sdl("DELETE", "/nosuchquery", headers={TAG: "x"}).status_code == 404
