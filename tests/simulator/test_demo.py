"""The demo scenario: deterministic, realistic in size, and it plants exactly what it says.

An independent oracle, written from the rule text in `../shared/reference/detection.md`, finds
the seed rule's matches in the generated records; they must be exactly the planted chains,
and no near miss may contribute an event to them.
"""

from __future__ import annotations

import importlib.util
import ipaddress
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connector.simulator import demo_records, demo_scenario
from connector.simulator.demo import DemoScenario
from connector.timeutil import to_epoch_ms
from tests.conftest import SHARED

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
EXCLUDED_TEXT = """
10.0.0.0/8 127.0.0.0/8 169.254.0.0/16 172.16.0.0/12 192.0.0.0/24 192.0.0.0/29 192.0.0.8/32
192.0.0.9/32 192.0.0.10/32 192.0.0.170/32 192.0.0.171/32 192.0.2.0/24 192.31.196.0/24
192.52.193.0/24 192.168.0.0/16 192.88.99.0/24 224.0.0.0/4 100.64.0.0/10 192.175.48.0/24
198.18.0.0/15 198.51.100.0/24 203.0.113.0/24 240.0.0.0/4 ::1/128 fe80::/10 ff00::/8
"""
EXCLUDED = [ipaddress.ip_network(n) for n in EXCLUDED_TEXT.split()]
OFFICE = {"excel.exe", "msaccess.exe", "mspub.exe", "powerpnt.exe", "winword.exe", "outlook.exe"}


@pytest.fixture(scope="module")
def scenario() -> DemoScenario:
    return demo_scenario(NOW, seed=7)


@pytest.fixture(scope="module")
def split_windows() -> Callable[[str], list[str]]:
    """The reference Windows argv splitter from ../shared/bench/workload.py."""
    path = SHARED / "bench" / "workload.py"
    spec = importlib.util.spec_from_file_location("shared_workload", path)
    assert spec is not None and spec.loader is not None, f"cannot load {path}"
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.split_windows  # type: ignore[no-any-return]


def _stage1(record: dict[str, Any], split: Callable[[str], list[str]]) -> bool:
    if record.get("event.type") != "Process Creation":
        return False
    if str(record.get("tgt.process.name", "")).lower() != "cmd.exe":
        return False
    cmdline = str(record.get("tgt.process.cmdline", ""))
    args = [a.lower() for a in split(cmdline)]
    if not {"/c", "/k"} & set(args):
        return False
    script = any(a.endswith((".bat", ".cmd")) for a in args)
    url = any(s in cmdline.lower() for s in ("http://", "https://", "ftp://"))
    office = str(record.get("src.process.name", "")).lower() in OFFICE
    return script or url or office


def _stage2(record: dict[str, Any]) -> bool:
    if record.get("event.type") != "IP Connect":
        return False
    if str(record.get("src.process.name", "")).lower() != "cmd.exe":
        return False
    address = ipaddress.ip_address(record["dst.ip.address"])
    return not any(address in net for net in EXCLUDED)


def _oracle(
    records: list[dict[str, Any]], split: Callable[[str], list[str]]
) -> set[tuple[str, str]]:
    """(stage-1 id, stage-2 id) of every match: same process uid, 0–15 000 ms, first one wins."""
    starts = {r["tgt.process.uid"]: r for r in records if _stage1(r, split)}
    found = {}
    for conn in sorted((r for r in records if _stage2(r)), key=lambda r: r["event.time"]):
        start = starts.get(conn["src.process.uid"])
        if start is None or start["tgt.process.uid"] in found:
            continue
        if 0 <= conn["event.time"] - start["event.time"] <= 15_000:
            found[start["tgt.process.uid"]] = (start["event.id"], conn["event.id"])
    return set(found.values())


def test_the_rule_matches_exactly_the_planted_chains(
    scenario: DemoScenario, split_windows: Callable[[str], list[str]]
) -> None:
    planted = {(p.stage1_id, p.stage2_id) for p in scenario.planted}
    assert len(planted) == 5
    assert _oracle(scenario.records, split_windows) == planted


def test_near_misses_are_present_and_none_alerts(
    scenario: DemoScenario, split_windows: Callable[[str], list[str]]
) -> None:
    ids = {r["event.id"] for r in scenario.records}
    names = {m.name for m in scenario.near_misses}
    assert {"private-destination", "gap-16s", "benign-cmd-dir"} <= names
    alerted = {i for pair in _oracle(scenario.records, split_windows) for i in pair}
    for miss in scenario.near_misses:
        assert set(miss.event_ids) <= ids, miss.name
        assert not set(miss.event_ids) & alerted, miss.name


def test_near_misses_differ_from_a_chain_only_in_what_they_say(scenario: DemoScenario) -> None:
    by_id = {r["event.id"]: r for r in scenario.records}
    gap = next(m for m in scenario.near_misses if m.name == "gap-16s")
    start, conn = (by_id[i] for i in gap.event_ids)
    assert conn["event.time"] - start["event.time"] == 16_000
    assert conn["src.process.uid"] == start["tgt.process.uid"]
    private = next(m for m in scenario.near_misses if m.name == "private-destination")
    dsts = [by_id[i]["dst.ip.address"] for i in private.event_ids[1:]]
    assert all(ipaddress.ip_address(d).is_private for d in dsts)


def test_each_planted_chain_links_its_two_events(scenario: DemoScenario) -> None:
    by_id = {r["event.id"]: r for r in scenario.records}
    for chain in scenario.planted:
        start, conn = by_id[chain.stage1_id], by_id[chain.stage2_id]
        assert start["tgt.process.uid"] == conn["src.process.uid"] == chain.entity_id
        assert start["endpoint.name"] == conn["endpoint.name"] == chain.host
        assert start["agent.uuid"] == conn["agent.uuid"]
        assert chain.time == datetime.fromtimestamp(start["event.time"] / 1000, UTC)


def test_three_chains_in_the_last_hour_and_all_in_the_day(scenario: DemoScenario) -> None:
    recent = [p for p in scenario.planted if NOW - p.time <= timedelta(hours=1)]
    assert len(recent) == 3
    assert all(
        NOW - timedelta(hours=24) <= p.time < NOW - timedelta(minutes=5) for p in scenario.planted
    )


def test_the_day_ends_now_and_is_a_modest_realistic_size(scenario: DemoScenario) -> None:
    times = [r["event.time"] for r in scenario.records]
    assert times == sorted(times)
    assert to_epoch_ms(NOW - timedelta(hours=24)) <= times[0]
    assert times[-1] <= to_epoch_ms(NOW)
    assert 3000 <= len(scenario.records) <= 20000
    hosts = {r["endpoint.name"] for r in scenario.records}
    assert len(hosts) == 50
    assert {r["endpoint.os"] for r in scenario.records} == {"windows"}
    assert len({r["event.id"] for r in scenario.records}) == len(scenario.records)
    types = {r["event.type"] for r in scenario.records}
    assert {"Process Creation", "IP Connect", "DNS Resolved", "File Modification"} <= types


def test_records_look_like_the_verbatim_cloud_funnel_samples(scenario: DemoScenario) -> None:
    start = next(r for r in scenario.records if r["event.type"] == "Process Creation")
    conn = next(r for r in scenario.records if r["event.type"] == "IP Connect")
    assert isinstance(start["tgt.process.pid"], int)
    assert isinstance(start["src.process.isStorylineRoot"], bool)
    assert start["meta.event.name"] == "PROCESSCREATION"
    assert start["process.unique.key"] == start["tgt.process.uid"]
    assert conn["meta.event.name"] in ("TCPV4", "TCPV6")
    assert isinstance(conn["dst.port.number"], int)
    assert conn["event.id"].startswith(conn["trace.id"] + "_")
    assert start["dataSource.name"] == "SentinelOne" and start["i.scheme"] == "edr"


def test_same_now_and_seed_give_identical_records(scenario: DemoScenario) -> None:
    again = demo_scenario(NOW, seed=7)
    assert again.records == scenario.records
    assert again.planted == scenario.planted


def test_another_seed_gives_another_day(scenario: DemoScenario) -> None:
    other = demo_scenario(NOW, seed=8)
    assert {r["event.id"] for r in other.records} != {r["event.id"] for r in scenario.records}


def test_event_ids_do_not_depend_on_now(scenario: DemoScenario) -> None:
    later = demo_scenario(NOW + timedelta(hours=5, milliseconds=3), seed=7)
    assert [r["event.id"] for r in later.records] == [r["event.id"] for r in scenario.records]
    shift = 5 * 3_600_000 + 3
    assert later.records[0]["event.time"] == scenario.records[0]["event.time"] + shift


def test_demo_records_is_the_scenario_in_short() -> None:
    records, planted = demo_records(NOW)
    assert len(planted) == 5
    assert records == demo_scenario(NOW).records


def test_default_now_is_the_current_time() -> None:
    before = datetime.now(UTC)
    scenario = demo_scenario()
    assert before - timedelta(seconds=1) <= scenario.end <= datetime.now(UTC)
