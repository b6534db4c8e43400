"""ECS input: the fast path (every value truthy, one copy) gives the documented result.

`_reference` is the normalisation written out plainly, step by step, as the module docstring
states it; `from_ecs` must agree with it on any record, flat or nested, with or without
empty values, falsy values to keep (0, false) and list fields in any form.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.ecsutil import flatten
from connector.mapping.ecs_input import LIST_FIELDS, from_ecs
from connector.mapping.skip import Skip
from connector.mapping.values import to_timestamp

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-2, max_value=3),
    st.sampled_from(["", " ", "x", "cmd.exe", "0"]),
    st.just([]),
    st.just({}),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))
_FIELDS = st.sampled_from(
    [
        *sorted(LIST_FIELDS),
        *("event.action", "process.name", "process.pid", "event.kind", "process.args_count"),
    ]
)


def _reference(record: dict[str, Any]) -> dict[str, Any] | Skip:
    flat = flatten(record)
    event = {k: v for k, v in flat.items() if v is not None and v not in ("", [], {})}
    event_id = event.get("event.id")
    if type(event_id) is int:
        event["event.id"] = str(event_id)
    elif type(event_id) is not str or not event_id.strip():
        return Skip("missing_event_id")
    timestamp = to_timestamp(event.get("@timestamp", ""))
    if timestamp is None:
        return Skip("bad_timestamp")
    event["@timestamp"] = timestamp
    event.setdefault("event.kind", "event")
    for name in LIST_FIELDS:
        if name in event and not isinstance(event[name], list):
            event[name] = [event[name]]
    if isinstance(event.get("event.action"), list):
        event["event.action"] = event["event.action"][0]
    for prefix in ("process.", "process.parent."):
        if prefix + "args" in event:
            event.setdefault(prefix + "args_count", len(event[prefix + "args"]))
    return event


@st.composite
def _records(draw: st.DrawFn) -> dict[str, Any]:
    record: dict[str, Any] = dict(draw(st.dictionaries(_FIELDS, _VALUES, max_size=6)))
    record["event.id"] = draw(st.sampled_from(["7", 7, "", " ", None, True]))
    record["@timestamp"] = draw(st.sampled_from(["2025-11-23T12:13:20.007Z", 1700000000123, ""]))
    if draw(st.booleans()):
        record["host"] = draw(st.sampled_from([{"name": "h"}, {"os": {"type": "windows"}}, {}]))
    return record


@settings(max_examples=1500, deadline=None)
@given(record=_records())
def test_from_ecs_agrees_with_the_plain_normalisation(record: dict[str, Any]) -> None:
    before = repr(record)
    assert from_ecs(record) == _reference(record)
    assert repr(record) == before, "the input record is never changed"
