"""The seed rule's hand-made scenarios (eql-semantics.md §6), with exactly those outcomes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connector.detection.engine import Engine
from connector.detection.rules import load_rules
from tests.detection.seed import SEED_RULE_ID, connect, start

Scenario = Callable[[], list[dict[str, Any]]]

SCENARIOS: dict[str, tuple[Scenario, int]] = {
    "1 public IPv4 5 s after the start": (lambda: [start(0), connect(5)], 1),
    "2 connection 16 s after the start": (lambda: [start(0), connect(16)], 0),
    "3 connection exactly 15 s after": (lambda: [start(0), connect(15)], 1),
    "4 connection to 192.168.1.10": (lambda: [start(0), connect(5, "192.168.1.10")], 0),
    "5 network event without destination.ip": (lambda: [start(0), connect(5, None)], 1),
    "6 public IPv6": (lambda: [start(0), connect(5, "2001:4860:4860::8888")], 1),
    "7 link-local IPv6": (lambda: [start(0), connect(5, "fe80::1")], 0),
    "8 process.args as one string": (
        lambda: [start(0, **{"process.args": "cmd.exe /c run.bat"}), connect(5)],
        0,
    ),
    "9 upper-case CMD.EXE and RUN.BAT": (
        lambda: [
            start(
                0,
                **{
                    "process.name": "CMD.EXE",
                    "process.args": ["CMD.EXE", "/C", "RUN.BAT"],
                    "process.command_line": "CMD.EXE /C RUN.BAT",
                },
            ),
            connect(5, **{"process.name": "CMD.EXE"}),
        ],
        1,
    ),
    "10 host.os.type Windows (== is case-sensitive)": (
        lambda: [
            start(0, **{"host.os.type": "Windows"}),
            connect(5, **{"host.os.type": "Windows"}),
        ],
        0,
    ),
    "12 process.entity_id missing on both": (
        lambda: [
            start(0, **{"process.entity_id": None}),
            connect(5, **{"process.entity_id": None}),
        ],
        0,
    ),
    "13 two connections after one start": (lambda: [start(0), connect(3), connect(6)], 1),
    "14 Office parent, /k, no script argument": (
        lambda: [
            start(
                0,
                **{
                    "process.parent.name": "WINWORD.EXE",
                    "process.args": ["cmd.exe", "/k", "whoami"],
                    "process.command_line": "cmd.exe /k whoami",
                },
            ),
            connect(5),
        ],
        1,
    ),
}


@pytest.fixture(scope="module")
def rules() -> list[Any]:
    return load_rules(builtin=True)


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario(name: str, rules: list[Any]) -> None:
    build, expected = SCENARIOS[name]
    events = build()
    matches = Engine(rules).process(events)
    assert len(matches) == expected
    for match in matches:
        assert match.rule.rule_id == SEED_RULE_ID
        assert match.join_key == ("E1",)
        assert [e["event.id"] for e in match.events] == [e["event.id"] for e in events[:2]]


def test_scenario_11_newest_start_wins(rules: list[Any]) -> None:
    first, second, network = start(0), start(10), connect(20)
    matches = Engine(rules).process([first, second, network])
    assert len(matches) == 1
    assert matches[0].events == (second, network)


def test_events_arriving_out_of_order_are_sorted(rules: list[Any]) -> None:
    events = [connect(5), start(0)]
    assert len(Engine(rules).process(events)) == 1


def test_other_entity_does_not_join(rules: list[Any]) -> None:
    events = [start(0), connect(5, **{"process.entity_id": "E2"})]
    assert Engine(rules).process(events) == []
