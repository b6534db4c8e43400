"""Alert suppression on alert documents: groups, windows, counts, sequences, missing fields,
live (poll) versus final (hunt/replay) hand-out, and the persisted state."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector.detection.model import Suppression
from connector.detection.suppression import Suppressor, suppression_terms
from connector.errors import StateError
from connector.ops import RunSummary, write_textfile

HOUR = 3_600_000
T0 = "2026-11-20T10:00:00.000Z"


def alert(alert_id: str, minute: int, *events: dict[str, Any], rule: str = "r") -> dict[str, Any]:
    stamp = f"2026-11-20T{10 + minute // 60:02d}:{minute % 60:02d}:00.000Z"
    return {
        "@timestamp": stamp,
        "event": {"id": alert_id},
        "rule": {"id": rule},
        "sequence": {"events": list(events) or [{"host": {"name": "WKS-1"}}]},
    }


def host(name: str | None, **more: Any) -> dict[str, Any]:
    return {"host": {"name": name}, **more} if name is not None else dict(more)


def counts(docs: list[dict[str, Any]]) -> list[tuple[str, int]]:
    return [(d["event"]["id"], d["kibana"]["alert"]["suppression"]["docs_count"]) for d in docs]


def test_final_mode_emits_each_group_once_with_its_count() -> None:
    s = Suppressor({"r": Suppression(("host.name",), HOUR)}, live=False)
    out = []
    for n, (name, minute) in enumerate([("A", 0), ("B", 5), ("A", 10), ("A", 59), ("B", 30)]):
        out += s.offer(alert(f"a{n}", minute, host(name)))
    assert out == []  # nothing is final until its window closes or the run ends
    out += s.offer(alert("a5", 61, host("A")))  # closes A's first window (opened at 10:00)
    assert counts(out) == [("a0", 2)]
    out += s.flush()
    assert sorted(counts(out)) == [("a0", 2), ("a1", 1), ("a5", 0)]
    # every match is an alert or counted in one
    assert sum(1 + c for _, c in counts(out)) == 6 and s.suppressed == {"r": 3}


def test_suppression_fields_follow_kibana() -> None:
    s = Suppressor({"r": Suppression(("host.name", "user.name"), HOUR)}, live=False)
    s.offer(alert("a0", 3, host("A", user={"name": ["z", "b"]})))
    s.offer(alert("a1", 1, host("A", user={"name": ["b", "z"]})))
    [doc] = s.flush()
    fields = doc["kibana"]["alert"]["suppression"]
    assert fields["terms"] == [
        {"field": "host.name", "value": ["A"]},
        {"field": "user.name", "value": ["b", "z"]},  # sorted: same group whatever the order
    ]
    assert (fields["start"], fields["end"], fields["docs_count"]) == (
        "2026-11-20T10:01:00.000Z", "2026-11-20T10:03:00.000Z", 1,
    )  # fmt: skip
    assert doc["kibana"]["alert"]["instance"]["id"]


def test_a_sequence_groups_by_the_value_its_events_share() -> None:
    s = Suppressor({"r": Suppression(("host.name",), HOUR)}, live=False)
    shared = alert("a0", 0, host("A"), host("A"))
    mixed = alert("a1", 1, host("A"), host("B"))
    s.offer(shared)
    s.offer(mixed)
    terms = sorted(str(d["kibana"]["alert"]["suppression"]["terms"]) for d in s.flush())
    assert terms == [
        "[{'field': 'host.name', 'value': None}]",  # the events disagree: missing
        "[{'field': 'host.name', 'value': ['A']}]",
    ]
    assert suppression_terms(shared, ["host.name"]) == [{"field": "host.name", "value": ["A"]}]


def test_missing_fields_strategy() -> None:
    together = Suppressor({"r": Suppression(("host.name",), HOUR, "suppress")}, live=False)
    apart = Suppressor({"r": Suppression(("host.name",), HOUR, "doNotSuppress")}, live=False)
    for s in (together, apart):
        first = s.offer(alert("a0", 0, host(None)))
        second = s.offer(alert("a1", 1, host(None)))
        if s is apart:
            assert [d["event"]["id"] for d in first + second] == ["a0", "a1"]
            assert "kibana" not in first[0]  # an ordinary, unsuppressed alert
    assert counts(together.flush()) == [("a0", 1)]
    assert apart.flush() == []


def test_other_rules_pass_through() -> None:
    s = Suppressor({"r": Suppression(("host.name",), HOUR)}, live=False)
    other = alert("x", 0, rule="other")
    assert s.offer(other) == [other]


def test_without_duration_a_group_lasts_the_run() -> None:
    s = Suppressor({"r": Suppression(("host.name",), None)}, live=False)
    for n in range(5):
        assert s.offer(alert(f"a{n}", n * 59, host("A"))) == []
    assert counts(s.flush()) == [("a0", 4)]


def test_live_mode_hands_out_the_first_alert_then_updates() -> None:
    s = Suppressor({"r": Suppression(("host.name",), HOUR)}, live=True)
    first = s.offer(alert("a0", 0, host("A")))
    assert counts(first) == [("a0", 0)]
    assert s.offer(alert("a1", 1, host("A"))) == []
    assert s.offer(alert("a2", 2, host("A"))) == []
    assert counts(s.take_updates()) == [("a0", 2)]
    assert s.take_updates() == []  # nothing new since
    # a match after the window opens a new alert; the old group's last count is not lost
    s.offer(alert("a3", 3, host("A")))
    replaced = s.offer(alert("a4", 70, host("A")))
    assert counts(replaced) == [("a4", 0)]
    assert counts(s.take_updates()) == [("a0", 3)]


def test_live_state_round_trips_and_expires() -> None:
    s = Suppressor({"r": Suppression(("host.name",), HOUR)}, live=True)
    s.offer(alert("a0", 0, host("A")))
    s.offer(alert("a1", 1, host("A")))
    restored = Suppressor({"r": Suppression(("host.name",), HOUR)}, live=True)
    restored.load(s.dump())
    assert restored.offer(alert("a2", 2, host("A"))) == []
    assert counts(restored.take_updates()) == [("a0", 2)]  # the count carried over
    opened = restored.groups[next(iter(restored.groups))].opened_ms
    restored.expire(opened + HOUR)
    assert restored.groups == {}
    # groups of a rule that lost its suppression, or lasting one run, are not restored
    assert not _restored(s.dump(), {}).groups
    per_run = Suppressor({"r": Suppression(("host.name",), None)}, live=True)
    per_run.offer(alert("a0", 0, host("A")))
    assert not _restored(per_run.dump(), {"r": Suppression(("host.name",), None)}).groups


def _restored(state: dict[str, Any], specs: dict[str, Suppression]) -> Suppressor:
    s = Suppressor(specs, live=True)
    s.load(state)
    return s


def test_excepted_and_suppressed_counts_reach_summary_and_metrics(tmp_path: Path) -> None:
    summary = RunSummary("poll")
    summary.excepted = Counter({'rule "a"': 4})
    summary.suppressed = Counter({"r": 7})
    summary.alert_updates = 2
    assert "excepted=4 suppressed=7 alert_updates=2" in summary.line()
    assert summary.as_dict()["suppressed"] == {"r": 7}
    target = tmp_path / "s1.prom"
    write_textfile(target, summary)
    text = target.read_text(encoding="utf-8")
    assert 's1_connector_last_run_excepted_events{rule="rule \\"a\\""} 4' in text
    assert 's1_connector_last_run_suppressed_alerts{rule="r"} 7' in text
    assert "s1_connector_last_run_alert_updates 2" in text


@pytest.mark.parametrize(
    "state",
    [{"version": 99, "groups": []}, {"version": 1, "groups": [{"rule_id": "r"}]}, {"groups": []}],
)
def test_a_bad_saved_state_is_a_state_error(state: dict[str, Any]) -> None:
    s = Suppressor({"r": Suppression(("host.name",), HOUR)}, live=True)
    with pytest.raises(StateError):
        s.load(state)
