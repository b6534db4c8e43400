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
    assert (body["stepsCompleted"], body["totalSteps"], body["data"]) == (0, 0, None)
    tag = launched.headers[TAG]
    clock.advance(0.5)
    midway = _poll(client, body["id"], tag).json()
    assert 0 < midway["stepsCompleted"] < midway["totalSteps"]
    assert midway["data"] is None
    clock.advance(0.5)
    done = _poll(client, body["id"], tag, midway["stepsCompleted"]).json()
    assert done["stepsCompleted"] == done["totalSteps"] > 0
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
        assert body["stepsCompleted"] == body["totalSteps"] > 0
        assert len(body["data"]["matches"]) == 5


def test_log_limit_truncates_and_the_cursor_resumes_inclusively(
    records: list[dict[str, Any]],
) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, sdl_limit=8) as sim:
        client = Client(sim.url)
        capped = client.launch(
            "", 0, 100, log={"filter": "", "limit": 50, "ascending": True}
        ).json()["data"]
        assert len(capped["matches"]) == 8  # sdl_limit caps log.limit
        assert capped["estimatedMatchCount"] == 30
        small = client.launch("", 0, 100, log={"filter": "", "limit": 4, "ascending": True}).json()[
            "data"
        ]
        assert len(small["matches"]) == 4
        resume = small["matches"][-1]["cursor"]
        nxt = client.launch(
            "", 0, 100, log={"filter": "", "limit": 4, "cursor": resume, "ascending": True}
        ).json()
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


# -- how real consoles differ (sentinelone-api-evidence.md, differences 2-4 and 7) -----------


@pytest.mark.parametrize(
    ("progress", "fields"),
    [("totalSteps", {"totalSteps"}), ("stepsTotal", {"stepsTotal"}),
     ("both", {"totalSteps", "stepsTotal"})],
)  # fmt: skip
def test_progress_field_is_an_option(
    records: list[dict[str, Any]], progress: str, fields: set[str]
) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, sdl_progress=progress) as sim:
        body = Client(sim.url).launch("", 0, 10).json()
    assert {"totalSteps", "stepsTotal"} & set(body) == fields
    assert all(body[f] == body["stepsCompleted"] > 0 for f in fields)


def test_results_in_pieces_come_with_the_steps_after_last_step_seen(
    records: list[dict[str, Any]], clock: Clock
) -> None:
    with Simulator(
        records, token=TOKEN, status_delay_s=1.0, clock=clock, sdl_results="pieces",
        retention_days=None,
    ) as sim:  # fmt: skip
        client = Client(sim.url)
        launched = client.launch("", 0, 20)
        query_id, tag = launched.json()["id"], launched.headers[TAG]
        seen, last, pids = 0, 0, []
        while True:
            clock.advance(0.3)
            answer = _poll(client, query_id, tag, last).json()
            pids += [m["values"]["tgt.process.pid"] for m in answer["data"]["matches"]]
            seen += 1
            last = answer["stepsCompleted"]
            if last == answer["totalSteps"]:
                break
    assert seen > 1
    assert pids == list(range(1000, 1020))  # every row once, across the pieces
    assert "estimatedMatchCount" in answer["data"]  # counts come with the last piece


@pytest.mark.parametrize(
    ("flag", "value"),
    [("partialResultsDueToTimeLimit", True), ("omittedEvents", 7.0), ("discardedArrayItems", 7)],
)
def test_pq_partial_results_are_cut_and_flagged(
    records: list[dict[str, Any]], flag: str, value: Any
) -> None:
    with Simulator(
        records, token=TOKEN, status_delay_s=0, pq_partial_above=3, pq_partial_flag=flag,
        retention_days=None,
    ) as sim:  # fmt: skip
        client = Client(sim.url)
        query = "tgt.process.name='cmd.exe' | columns event.id"
        big = client.launch(start_s=0, end_s=10, queryType="PQ", pq={"query": query}).json()
        small = client.launch(start_s=0, end_s=3, queryType="PQ", pq={"query": query}).json()
    assert len(big["data"]["values"]) == 3 and big["data"][flag] == value
    assert len(small["data"]["values"]) == 3 and flag not in small["data"]


def test_log_order_is_newest_first_unless_ascending(records: list[dict[str, Any]]) -> None:
    with Simulator(records, token=TOKEN, status_delay_s=0, retention_days=None) as sim:
        client = Client(sim.url)
        default = client.launch("", 0, 5, log={"filter": ""}).json()["data"]["matches"]
        ascending = client.launch("", 0, 5).json()["data"]["matches"]
    assert [m["values"]["tgt.process.pid"] for m in default] == [1004, 1003, 1002, 1001, 1000]
    assert [m["values"]["tgt.process.pid"] for m in ascending] == [1000, 1001, 1002, 1003, 1004]
