"""Property: cutting a stream anywhere, persisting the state as JSON and resuming in a fresh
engine gives exactly the alerts of the uncut stream."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.detection.engine import Engine
from connector.detection.model import Match, Rule

RULES = [
    Rule(
        rule_id="runs-until",
        name="runs-until",
        query=(
            "sequence by host.id with maxspan=10s"
            ' [process where process.name == "a"]'
            ' [process where process.name : "B"] with runs=2'
            ' until [process where process.name == "x"]'
        ),
    ),
    Rule(
        rule_id="optional-key",
        name="optional-key",
        query='sequence by ?user [process where process.name == "a"] [network where port > 1000]',
    ),
    Rule(rule_id="single", name="single", query="network where port == 1"),
]

EVENT = st.fixed_dictionaries(
    {
        "gap": st.integers(min_value=0, max_value=3_000),
        "event.category": st.sampled_from(["process", "network", "process", "file"]),
        "process.name": st.sampled_from(["a", "b", "B", "x"]),
        "host.id": st.sampled_from(["h1", "h2", ["h1", "h2"], None]),
        "user": st.sampled_from(["u1", None]),
        "port": st.sampled_from([1, 80, 4444]),
    }
)


def _stream(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    events, now = [], 1_700_000_000_000
    for index, item in enumerate(raw):
        now += item["gap"]
        event = {k: v for k, v in item.items() if k != "gap" and v is not None}
        events.append({"@timestamp": now, "event.id": index, **event})
    return events


def _summary(matches: list[Match]) -> list[tuple[str, tuple[Any, ...], list[int]]]:
    return [(m.rule.rule_id, m.join_key, [e["event.id"] for e in m.events]) for m in matches]


@settings(max_examples=200, deadline=None)
@given(
    raw=st.lists(EVENT, min_size=2, max_size=40),
    cut_fraction=st.floats(min_value=0.0, max_value=1.0),
)
def test_cut_dump_load_resume_equals_uncut(raw: list[dict[str, Any]], cut_fraction: float) -> None:
    events = _stream(raw)
    cut = round(cut_fraction * len(events))
    whole = Engine(RULES).process(events)

    first = Engine(RULES)
    # Leave the events at the cut's timestamp in the reorder buffer, so it is persisted too.
    watermark = events[cut]["@timestamp"] if cut < len(events) else None
    part = first.process(events[:cut], watermark_ms=watermark)
    state = json.loads(json.dumps(first.dump()))
    second = Engine(RULES)
    second.load(state)
    part += second.process(events[cut:])

    assert _summary(part) == _summary(whole)
