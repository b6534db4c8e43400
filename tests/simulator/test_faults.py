"""Fault injection: triggers, determinism, each fault over HTTP, and the admin endpoint."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from connector.simulator import Clock, Faults, Simulator, Trigger
from connector.simulator.faults import FaultInjector
from connector.simulator.request import Request
from tests.simulator.support import TOKEN, Client, cf_record

# -- triggers and settings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0.25, Trigger(0.25)),
        ("0.5", Trigger(0.5)),
        ("@3", Trigger(0.0, (3,))),
        ("0.1@2,5", Trigger(0.1, (2, 5))),
        ({"rate": 1, "nth": [4]}, Trigger(1.0, (4,))),
    ],
)
def test_trigger_parse(value: Any, expected: Trigger) -> None:
    assert Trigger.parse(value) == expected


@pytest.mark.parametrize("value", [1.5, -0.1, "@0", "often", True, {"rate": 0.1, "every": 2}])
def test_bad_triggers_are_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        Trigger.parse(value)


def test_faults_from_mapping_round_trips_and_names_unknown_keys() -> None:
    faults = Faults.from_mapping(
        {"http_503": 0.2, "slow": "@1", "slow_s": 0.5, "result_cap": 10, "only": ["dv/events"]}
    )
    assert faults.http_503 == Trigger(0.2)
    assert faults.only == ("dv/events",)
    assert Faults.from_mapping(faults.to_dict()) == faults
    with pytest.raises(ValueError, match="unknown fault keys \\['http_404'\\]"):
        Faults.from_mapping({"http_404": 0.1})
    with pytest.raises(ValueError, match="result_cap"):
        Faults.from_mapping({"result_cap": -1})


def test_with_rate_sets_many_faults_at_once() -> None:
    faults = Faults().with_rate(0.2, ("http_429", "drop"))
    assert faults.http_429 == faults.drop == Trigger(0.2)
    assert faults.http_500 == Trigger()


def _sequence(seed: int, faults: Faults, n: int = 200) -> list[str | None]:
    injector = FaultInjector(faults, seed)
    return [injector.decide("dv/events").failure for _ in range(n)]


def test_same_seed_same_faults_different_seed_different_faults() -> None:
    faults = Faults().with_rate(0.2, ("http_500", "http_429", "drop"))
    first = _sequence(11, faults)
    assert first == _sequence(11, faults)
    assert first != _sequence(12, faults)
    rate = sum(f is not None for f in first) / len(first)
    assert 0.3 < rate < 0.65  # three faults at 20 % each: about 49 % of requests


def test_nth_request_fires_exactly_there() -> None:
    sequence = _sequence(0, Faults(http_502=Trigger(nth=(2, 5))), 6)
    assert sequence == [None, "http_502", None, None, "http_502", None]


def test_only_limits_faults_to_some_endpoints() -> None:
    injector = FaultInjector(Faults(http_500=Trigger(1.0), only=("dv/events",)))
    assert injector.decide("dv/init-query").failure is None
    assert injector.decide("dv/events").failure == "http_500"


# -- over HTTP ----------------------------------------------------------------------------


@pytest.fixture
def fast(records: list[dict[str, Any]], clock: Clock) -> Any:
    with Simulator(records, token=TOKEN, status_delay_s=0, clock=clock, retention_days=None) as sim:
        yield sim


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [("http_500", 500, 5000010), ("http_502", 502, 5020010), ("http_503", 503, 5030010)],
)
def test_server_errors_use_the_console_envelope(
    fast: Simulator, fault: str, status: int, code: int
) -> None:
    fast.set_faults(Faults.from_mapping({fault: "@1"}))
    client = Client(fast.url)
    first = client.dv("POST", "init-query", json={})
    assert first.status_code == status
    assert first.json()["errors"][0]["code"] == code
    assert (
        client.dv("GET", "query-status", params={"queryId": "x"}).status_code == 404
    )  # only the 1st
    assert fast.stats["faults"] == {fault: 1}


def test_429_with_and_without_retry_after(fast: Simulator) -> None:
    fast.set_faults(
        Faults(http_429=Trigger(nth=(1,)), http_429_bare=Trigger(nth=(2,)), retry_after_s=7)
    )
    client = Client(fast.url)
    first = client.dv("GET", "query-status", params={"queryId": "x"})
    second = client.dv("GET", "query-status", params={"queryId": "x"})
    assert (first.status_code, first.headers.get("Retry-After")) == (429, "7")
    assert (second.status_code, second.headers.get("Retry-After")) == (429, None)
    assert second.json()["errors"][0]["code"] == 4290010


def test_dropped_connection(fast: Simulator) -> None:
    fast.set_faults(Faults(drop=Trigger(nth=(1,))))
    with pytest.raises(requests.ConnectionError):
        requests.get(fast.url + "/web/api/v2.1/dv/query-status", params={"queryId": "x"}, timeout=5)
    after = requests.get(fast.url + "/web/api/v2.1/dv/query-status", params={"queryId": "x"},
                         headers={"Authorization": f"ApiToken {TOKEN}"}, timeout=5)  # fmt: skip
    assert after.status_code == 404
    assert fast.stats["statuses"]["dv/query-status 0"] == 1


def test_slow_responses_are_delayed(fast: Simulator) -> None:
    fast.set_faults(Faults(slow=Trigger(1.0), slow_s=0.3))
    response = Client(fast.url).dv("GET", "query-status", params={"queryId": "x"})
    assert response.status_code == 404
    assert response.elapsed.total_seconds() >= 0.3


def test_slow_response_can_exceed_a_client_timeout(fast: Simulator) -> None:
    fast.set_faults(Faults(slow=Trigger(1.0), slow_s=0.5))
    with pytest.raises(requests.Timeout):
        requests.get(fast.url + "/web/api/v2.1/system/status", timeout=0.1)


def test_query_expiry_fault_dv_and_sdl(fast: Simulator) -> None:
    client = Client(fast.url)
    query_id = client.init()
    launched = client.launch()
    fast.set_faults(Faults(expire=Trigger(1.0)))
    assert client.state(query_id) == "QUERY_EXPIRED"
    tag = launched.headers["X-Dataset-Query-Forward-Tag"]
    poll = client.sdl("GET", f"/{launched.json()['id']}", params={"lastStepSeen": 0},
                      headers={"X-Dataset-Query-Forward-Tag": tag})  # fmt: skip
    assert poll.status_code == 404


def test_failed_queries(fast: Simulator) -> None:
    fast.set_faults(Faults(fail=Trigger(1.0)))
    client = Client(fast.url)
    query_id = client.init()
    status = client.dv("GET", "query-status", params={"queryId": query_id}).json()["data"]
    assert status["responseState"] == "FAILED"
    assert status["responseError"]
    assert client.dv("GET", "events", params={"queryId": query_id}).status_code == 404
    body = client.launch().json()
    assert body["error"]["message"]
    assert body["data"] is None


def test_result_cap_fault_truncates_both_apis(fast: Simulator) -> None:
    fast.set_faults(Faults(result_cap=4))
    client = Client(fast.url)
    query_id = client.init()
    page = client.dv("GET", "events", params={"queryId": query_id, "limit": 100}).json()
    assert page["pagination"]["totalItems"] == 4
    data = client.launch().json()["data"]
    assert len(data["matches"]) == 4
    assert data["estimatedMatchCount"] == 30


def test_init_query_rate_limit(fast: Simulator, clock: Clock) -> None:
    fast.set_faults(Faults(init_query_per_minute=1))
    client = Client(fast.url)
    client.init()
    limited = client.dv("POST", "init-query", json={})
    assert limited.status_code == 429
    clock.advance(60)
    client.init()


# -- admin endpoint -------------------------------------------------------------------------


def test_admin_endpoint_sets_reads_and_resets_faults(fast: Simulator) -> None:
    admin = fast.url + "/_sim/"
    set_ = requests.post(admin + "faults", json={"http_503": "@1", "seed": 3}, timeout=5)
    assert set_.status_code == 400  # seed is not a fault setting
    assert "unknown fault keys" in set_.json()["errors"][0]["detail"]
    assert requests.post(admin + "faults", json={"http_503": "@1"}, timeout=5).status_code == 200
    assert requests.get(admin + "faults", timeout=5).json()["http_503"] == {"rate": 0.0, "nth": [1]}
    assert Client(fast.url).dv("GET", "query-status", params={"queryId": "x"}).status_code == 503
    stats = requests.get(admin + "stats", timeout=5).json()
    assert stats["calls"] == {"dv/query-status": 1}
    assert stats["faults"] == {"http_503": 1}
    assert stats["records"] == 30
    assert requests.post(admin + "reset", timeout=5).json() == {"reset": True}
    assert requests.get(admin + "stats", timeout=5).json()["calls"] == {}
    assert fast.faults == Faults()


def test_admin_endpoint_adds_records(fast: Simulator) -> None:
    lines = "\n".join(json.dumps(cf_record(n)) for n in (50, 51))
    added = requests.post(fast.url + "/_sim/records", data=lines, timeout=5)
    assert added.json() == {"added": 2, "records": 32}
    bad = requests.post(fast.url + "/_sim/records", data="{}\n", timeout=5)
    assert bad.status_code == 400
    assert "event.time" in bad.json()["errors"][0]["detail"]


def test_admin_needs_the_token_when_not_on_loopback(records: list[dict[str, Any]]) -> None:
    # Not started: the console is driven directly, so nothing listens beyond loopback.
    sim = Simulator(records, token=TOKEN, host="192.0.2.10", retention_days=None)
    assert sim.console.handle(Request("GET", "/_sim/stats")).status == 401
    headers = {"authorization": f"ApiToken {TOKEN}"}
    assert sim.console.handle(Request("GET", "/_sim/stats", headers=headers)).status == 200
    local = Simulator(records, token=TOKEN, host="::1", retention_days=None)
    assert local.console.handle(Request("GET", "/_sim/stats")).status == 200


def test_request_log_lists_api_calls(fast: Simulator) -> None:
    Client(fast.url).dv("GET", "query-status", params={"queryId": "x"})
    entry = fast.request_log[-1]
    assert (entry.method, entry.label, entry.status, entry.fault) == (
        "GET",
        "dv/query-status",
        404,
        None,
    )


def test_faults_from_cli_options() -> None:
    faults = Faults.from_options(
        ["http_503=0.2", "drop=@3", "slow_s=1.5", "only=dv/events,dv/query-status"]
    )
    assert faults.http_503 == Trigger(0.2)
    assert faults.drop == Trigger(0.0, (3,))
    assert faults.slow_s == 1.5
    assert faults.only == ("dv/events", "dv/query-status")
    with pytest.raises(ValueError, match="NAME=VALUE"):
        Faults.from_options(["http_503"])
    with pytest.raises(ValueError, match="http_503"):
        Faults.from_options(["http_503=lots"])


def test_query_damage_faults_are_counted_where_they_take_effect(fast: Simulator) -> None:
    fast.set_faults(Faults(fail=Trigger(nth=(1,)), expire=Trigger(nth=(2,))))
    client = Client(fast.url)
    query_id = client.init()  # request 1: fails
    client.state(query_id)  # request 2: expires
    assert fast.stats["faults"] == {"fail": 1, "expire": 1}
    assert [e.fault for e in fast.request_log] == ["fail", "expire"]
