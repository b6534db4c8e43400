"""The demo day served over HTTP: both APIs return the same candidate events, chains included."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connector.simulator import Simulator, demo_scenario
from connector.simulator.demo import DemoScenario
from connector.timeutil import format_utc
from tests.simulator.support import CMD_QUERY, TOKEN, Client

NOW = datetime.now(UTC).replace(microsecond=0)
SDL_FILTER = (
    "dataSource.name='SentinelOne' and dataSource.category='security' and endpoint.os='windows' "
    "and ((event.type='Process Creation' and tgt.process.name contains 'cmd.exe') or "
    "(event.type='IP Connect' and src.process.name contains 'cmd.exe'))"
)


@pytest.fixture(scope="module")
def demo() -> DemoScenario:
    return demo_scenario(NOW, seed=7)


@pytest.fixture(scope="module")
def served(demo: DemoScenario) -> Iterator[Client]:
    with Simulator(demo.records, token=TOKEN, status_delay_s=0) as sim:
        yield Client(sim.url)


def _dv_ids(client: Client, start: datetime, end: datetime) -> set[str]:
    body = {"query": CMD_QUERY, "fromDate": format_utc(start), "toDate": format_utc(end),
            "limit": 20000, "queryType": ["events"], "isVerbose": True}  # fmt: skip
    query_id = client.dv("POST", "init-query", json=body).json()["data"]["queryId"]
    assert client.state(query_id) == "FINISHED"
    return {e["id"] for e in client.all_events(query_id)}


def _sdl_ids(client: Client, start: datetime, end: datetime) -> set[str]:
    body = {"queryType": "LOG", "tenant": True, "startTime": format_utc(start),
            "endTime": format_utc(end), "log": {"filter": SDL_FILTER, "limit": 5000}}  # fmt: skip
    data = client.sdl("POST", json=body).json()["data"]
    assert data["estimatedMatchCount"] == len(data["matches"])
    return {m["values"]["event.id"] for m in data["matches"]}


def test_both_apis_return_the_same_candidates_with_every_planted_event(
    served: Client, demo: DemoScenario
) -> None:
    start, end = demo.start - timedelta(seconds=1), demo.end + timedelta(seconds=1)
    dv, sdl = _dv_ids(served, start, end), _sdl_ids(served, start, end)
    assert dv == sdl
    planted = {i for p in demo.planted for i in (p.stage1_id, p.stage2_id)}
    assert planted <= dv
    near = {i for m in demo.near_misses for i in m.event_ids}
    assert len(near & dv) >= 10  # near misses are candidates too: the engine must reject them


def test_the_last_hour_holds_three_chains(served: Client, demo: DemoScenario) -> None:
    ids = _dv_ids(served, demo.end - timedelta(hours=1), demo.end)
    recent = [p for p in demo.planted if p.stage1_id in ids and p.stage2_id in ids]
    assert len(recent) == 3
