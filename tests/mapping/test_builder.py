"""The compiled per-record builders do what the rows (`Plan.interpret`) and the documented
id, time and cross-field rules say, written here the slow and obvious way."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping import Skip, to_ecs
from connector.mapping.classify import CF, DV, ShapeKeys, route
from connector.mapping.plan import PLANS
from connector.mapping.values import to_timestamp
from tests.mapping.test_fuzz import records, typed_records


def absent(value: object) -> bool:
    return value is None or value in ("", "null")


def reference(record: dict[str, Any], keys: ShapeKeys, bad: Counter[str]) -> dict[str, Any] | str:
    """`to_ecs` spelled out: the event, or the skip reason."""
    found = route(record, keys)
    event_id = record.get(keys.id)
    if type(event_id) is int:
        event_id = str(event_id)
    if type(event_id) is not str or absent(event_id):
        return "missing_event_id"
    when = record.get(keys.time)
    if keys.time_fallback is not None and absent(when):
        when = record.get(keys.time_fallback)
    timestamp = None if when is None else to_timestamp(when)
    if timestamp is None:
        return "bad_timestamp"
    event: dict[str, Any] = {"@timestamp": timestamp, "event.kind": "event", "event.id": event_id}
    if found.category:
        event["event.category"] = list(found.category)
    event["event.type"] = list(found.type)
    if found.action is not None:
        event["event.action"] = found.action
    PLANS[keys.dv, found.kind].interpret(record, event, bad)
    parent = event.get("process.parent.entity_id")
    if parent is not None and parent == event.get("process.entity_id"):
        del event["process.parent.entity_id"]
        bad["parent_equals_self"] += 1
    if keys.index is not None:
        trace, index = record.get(keys.trace), record.get(keys.index)
        if isinstance(trace, str) and trace and type(index) in (str, int) and not absent(index):
            event["sentinel_one.event.id"] = f"{trace}_{index}"
    return event


def with_cross_fields(record: dict[str, Any], index: object, same: bool) -> dict[str, Any]:
    """Make the cross-field rules bite: a DV trace and index, a parent id equal to its child's."""
    extra: dict[str, Any] = {"traceId": "01JTRACE", "eventIndex": index}
    if same:
        extra |= dict.fromkeys(("tgtProcUid", "srcProcUid", "srcProcParentUid"), "U1")
        extra |= dict.fromkeys(
            ("tgt.process.uid", "src.process.uid", "src.process.parent.uid"), "U1"
        )
    return {**record, **extra}


cross_field_records = st.builds(
    with_cross_fields,
    records | typed_records,
    st.sampled_from([0, 7, "3", "", "null", None, True]),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(records | typed_records | cross_field_records, st.sampled_from(("dv", "cloud-funnel")))
def test_builders_match_the_rows_and_the_documented_rules(
    record: dict[str, Any], shape: str
) -> None:
    keys = DV if shape == "dv" else CF
    bad_built: Counter[str] = Counter()
    bad_expected: Counter[str] = Counter()
    built = to_ecs(record, shape, bad=bad_built)  # type: ignore[arg-type]
    expected = reference(record, keys, bad_expected)
    if isinstance(expected, str):
        assert built == Skip(expected)
    else:
        assert built == expected
        assert list(built) == list(expected)  # the same key order: nesting keeps it
        assert bad_built == bad_expected
