"""Time per agent (issue 12): each lane (poll: `host.id`) has its own frontier, reorder buffer
and sequence expiry, so a late agent completes its chains and does not delay the others."""

from __future__ import annotations

import json
from typing import Any

from connector.detection.engine import Engine
from connector.detection.model import Rule
from connector.detection.sequence import SequenceMatcher

PAIR = Rule(
    rule_id="pair",
    name="pair",
    query="sequence by k with maxspan=10s [a where x == 1] [b where x == 2]",
)
HOUR = 3_600_000
NOW = 1_790_000_000_000  # the poll's "now", in epoch ms
LATENESS = 5 * 60_000


def ev(t_ms: int, category: str, x: int, host: str, k: str) -> dict[str, Any]:
    return {
        "@timestamp": t_ms,
        "event.category": category,
        "x": x,
        "k": k,
        "host.id": f"id-{host}",
        "host.name": host,
    }


def engine() -> Engine:
    return Engine([PAIR], allowed_lateness_ms=LATENESS, partition_field="host.id")


def persisted(old: Engine) -> Engine:
    """What the next poll run starts from: the state through JSON, into a new engine."""
    fresh = engine()
    fresh.load(json.loads(json.dumps(old.dump())))
    return fresh


def test_a_chain_three_hours_late_across_two_runs_is_found_once() -> None:
    late_start = NOW - 3 * HOUR
    run1 = engine()
    # Run 1: the healthy agent is current; the laptop uploads the first event of its chain.
    run1.process([ev(NOW - 10 * 60_000, "a", 1, "healthy", "h1")], watermark_ms=NOW - LATENESS)
    assert run1.process([ev(late_start, "a", 1, "laptop", "L")], NOW - LATENESS) == []
    # Run 2, ten minutes later: the chain's second event (4 s after its first) arrives.
    run2 = persisted(run1)
    later = NOW + 10 * 60_000
    found = run2.process([ev(late_start + 4_000, "b", 2, "laptop", "L")], later - LATENESS)
    assert [m.join_key for m in found] == [("L",)]
    assert run2.stats.late_events == 0  # late against the world, on time for its agent
    run3 = persisted(run2)
    assert run3.process([], later + 10 * 60_000) == []  # completion consumed it: once


def test_against_one_world_clock_the_laptops_events_are_late() -> None:
    """The same stream in one lane (how poll kept time before): both laptop events fall
    behind what was already evaluated and are counted late."""
    single = Engine([PAIR], allowed_lateness_ms=LATENESS)
    single.process([ev(NOW - 10 * 60_000, "a", 1, "healthy", "h1")], NOW - LATENESS)
    single.process([ev(NOW - 3 * HOUR, "a", 1, "laptop", "L")], NOW - LATENESS)
    single.process([ev(NOW - 3 * HOUR + 4_000, "b", 2, "laptop", "L")], NOW)
    assert single.stats.late_events == 2


def test_a_late_agent_does_not_delay_a_healthy_agents_alert() -> None:
    run = engine()
    healthy = [
        ev(NOW - 9 * 60_000, "a", 1, "healthy", "h"),
        ev(NOW - 9 * 60_000 + 2_000, "b", 2, "healthy", "h"),
    ]
    laptop = [ev(NOW - 3 * HOUR, "a", 1, "laptop", "L")]  # its chain stays open
    found = run.process([*laptop, *healthy], watermark_ms=NOW - LATENESS)
    assert [m.join_key for m in found] == [("h",)]
    assert run.stats.pending == 1  # the laptop's, still waiting for its own time


def test_an_event_behind_its_own_agent_is_late_and_named() -> None:
    run = engine()
    run.process([ev(NOW - 60 * 60_000, "a", 1, "wks-7", "w")], watermark_ms=NOW - LATENESS)
    run.process([ev(NOW - 61 * 60_000, "b", 2, "wks-7", "w")], watermark_ms=NOW - LATENESS)
    assert run.stats.late_events == 1
    assert run.stats.as_dict()["late_hosts"] == {"wks-7": 1}


def test_idle_agents_are_evicted_with_their_chains_and_counted() -> None:
    run = Engine([PAIR], allowed_lateness_ms=LATENESS, partition_field="host.id", idle_ms=HOUR)
    run.process([ev(NOW - 2 * HOUR, "a", 1, "gone", "g")], watermark_ms=NOW - 2 * HOUR)
    assert run.stats.lanes == 1
    run.process([ev(NOW, "a", 1, "other", "o")], watermark_ms=NOW)
    assert run.stats.lanes_evicted == 1 and run.stats.lanes == 1
    assert "id-gone" not in run.lanes
    assert run.stats.evicted_pending >= 1  # its open chain went with it


def test_state_version_1_still_loads() -> None:
    v1 = {
        "version": 1,
        "arrival": 3,
        "frontier": [NOW, 2, 0, 3],
        "watermark_ms": NOW,
        "buffer": [[[NOW + 1, 2, 0, 2], ev(NOW + 1, "a", 1, "wks", "k")]],
        "rules": {},
    }
    run = engine()
    run.load(v1)
    assert list(run.lanes) == ["id-wks"] and len(run.lanes["id-wks"].buffer) == 1
    found = run.process([ev(NOW + 2_000, "b", 2, "wks", "k")], watermark_ms=None)
    assert [m.join_key for m in found] == [("k",)]


def test_expired_sequences_do_not_pile_up_in_memory() -> None:
    """Expiry runs on the lane queues; the creation-order queue must shed the dead too."""
    matcher = SequenceMatcher(2, 10, 100_000)
    for n in range(10_000):
        matcher.advance(0, [(n,)], (n * 100, 0, 0, n), {"n": n}, "lane")
        matcher.expire(n * 100, "lane")
    assert matcher.pending_count == 1
    assert len(matcher._order) <= 2 * matcher.pending_count + 1024
