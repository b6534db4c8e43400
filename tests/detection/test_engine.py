"""Engine behaviour: reorder buffer and watermark, late events, eviction, stats, persistence."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connector.detection.engine import Engine
from connector.detection.model import Rule
from connector.detection.rules import load_rules
from connector.errors import StateError
from tests.detection.seed import connect, start

PAIR = Rule(
    rule_id="pair",
    name="pair",
    query="sequence by k with maxspan=10s [a where x == 1] [b where x == 2]",
)
NO_SPAN = Rule(rule_id="nospan", name="nospan", query="sequence by k [a where true] [b where true]")


def ev(t_ms: int, category: str, x: int, k: Any = "k1", **more: Any) -> dict[str, Any]:
    return {"@timestamp": t_ms, "event.category": category, "x": x, "k": k, **more}


def test_watermark_keeps_later_events_buffered() -> None:
    engine = Engine([PAIR])
    first, second = ev(1_000, "a", 1), ev(3_000, "b", 2)
    assert engine.process([second, first], watermark_ms=2_000) == []
    assert engine.stats.buffered == 1
    matches = engine.process([], watermark_ms=None)
    assert [m.events for m in matches] == [(first, second)]


def test_buffer_sorts_by_timestamp_then_tiebreaker_then_arrival() -> None:
    engine = Engine([PAIR], tiebreaker_field="seq")
    b = ev(1_000, "b", 2, seq=2)
    a = ev(1_000, "a", 1, seq=1)
    assert len(engine.process([b, a])) == 1


def test_late_event_is_counted_and_still_evaluated() -> None:
    engine = Engine(load_rules(builtin=True))
    engine.process([start(0), start(3, **{"process.entity_id": "OTHER"})])
    matches = engine.process([connect(2)])
    assert engine.stats.late_events == 1
    assert len(matches) == 1


def test_late_event_never_fills_a_stage_before_its_predecessor() -> None:
    engine = Engine([PAIR])
    engine.process([ev(5_000, "a", 1)])
    assert engine.process([ev(4_000, "b", 2)]) == []
    assert engine.stats.late_events == 1


def test_maxspan_eviction_bounds_memory() -> None:
    engine = Engine([PAIR])
    events = [ev(i * 1_000, "a", 1, k=f"key{i}") for i in range(100)]
    engine.process(events)
    matcher = engine.matcher_of(0)
    assert matcher is not None
    assert matcher.pending_count <= 11
    assert engine.stats.evicted_pending >= 89


def test_cap_without_maxspan_evicts_oldest() -> None:
    engine = Engine([NO_SPAN], max_pending=5)
    engine.process([ev(i, "a", 0, k=i) for i in range(20)])
    matcher = engine.matcher_of(0)
    assert matcher is not None
    assert matcher.pending_count == 5
    assert engine.stats.evicted_pending == 15
    # the newest five survive
    assert len(engine.process([ev(100, "b", 0, k=19)])) == 1
    assert engine.process([ev(101, "b", 0, k=0)]) == []


def test_events_without_timestamp_are_counted_not_fatal() -> None:
    engine = Engine([PAIR])
    assert engine.process([{"event.category": "a", "x": 1, "k": "k"}]) == []
    assert engine.stats.no_timestamp == 1


def test_malformed_event_is_counted_not_fatal() -> None:
    engine = Engine([PAIR])
    weird = {"@timestamp": 1, "event.category": [{"not": "hashable"}], "x": 1}
    assert engine.process([weird, ev(2, "a", 1), ev(3, "b", 2)]) != []
    assert engine.stats.evaluation_errors == 1


def test_iso_and_numeric_timestamps() -> None:
    engine = Engine([PAIR])
    events = [
        ev(0, "a", 1) | {"@timestamp": "2026-11-20T10:15:01.870Z"},
        ev(0, "b", 2) | {"@timestamp": "2026-11-20T10:15:11.870Z"},
    ]
    assert len(engine.process(events)) == 1
    late = [
        ev(0, "a", 1) | {"@timestamp": "2026-11-20T10:16:00.000Z"},
        ev(0, "b", 2) | {"@timestamp": "2026-11-20T10:16:10.001Z"},
    ]
    assert engine.process(late) == []


def test_stats_as_dict() -> None:
    engine = Engine([PAIR])
    engine.process([ev(1, "a", 1), ev(2, "b", 2), ev(3, "c", 0)])
    stats = engine.stats.as_dict()
    assert stats["events_seen"] == 3
    assert stats["candidates"] == 2
    assert stats["hits"] == {"pair": 1}
    assert (stats["pending"], stats["buffered"]) == (0, 0)


def test_stats_show_pending_and_buffered() -> None:
    engine = Engine([PAIR])
    engine.process([ev(1_000, "a", 1), ev(5_000, "a", 1, k="k2")], watermark_ms=2_000)
    assert (engine.stats.pending, engine.stats.buffered) == (1, 1)


def test_state_is_json_and_resumes_a_sequence() -> None:
    engine = Engine([PAIR])
    engine.process([ev(1_000, "a", 1), ev(9_000, "b", 2, k="other")], watermark_ms=5_000)
    state = json.loads(json.dumps(engine.dump()))
    assert state["version"] == 2 and state["watermark_ms"] == 5_000
    fresh = Engine([PAIR])
    fresh.load(state)
    assert fresh.watermark_ms == 5_000 and len(fresh.lanes[""].buffer) == 1
    matches = fresh.process([ev(6_000, "b", 2)])
    assert [m.join_key for m in matches] == [("k1",)]


@pytest.mark.parametrize(
    ("state", "problem"),
    [
        ({"version": 99}, "version"),
        ({"version": 1}, "malformed"),
        (
            {
                "version": 1,
                "arrival": 0,
                "frontier": None,
                "buffer": [[[1, 2, 0, 1], 5]],
                "rules": {},
            },
            "malformed",
        ),
        ([], "not an object"),
    ],
)
def test_bad_state_is_a_state_error(state: Any, problem: str) -> None:
    with pytest.raises(StateError, match=problem):
        Engine([PAIR]).load(state)


def test_state_of_a_changed_rule_is_dropped() -> None:
    engine = Engine([PAIR])
    engine.process([ev(1_000, "a", 1)])
    changed = Rule(rule_id="pair", name="pair", query=PAIR.query.replace("x == 2", "x == 3"))
    fresh = Engine([changed])
    fresh.load(engine.dump())
    assert fresh.process([ev(2_000, "b", 3)]) == []
