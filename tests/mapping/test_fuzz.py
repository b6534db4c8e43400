"""Malformed input never raises: arbitrary JSON values and records with wrong-typed fields."""

from __future__ import annotations

import itertools
import re
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping import (
    CF_TO_DV,
    DV_TO_CF,
    LIST_FIELDS,
    SKIP_REASONS,
    Mapper,
    Skip,
    detect_shape,
    to_ecs,
)
from connector.mapping import tables as t

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SHAPES = ("dv", "cloud-funnel", "pq", "ecs", "auto")

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

LEGACY_KEYS = sorted(
    {*t.LEGACY_SUBJECT.values(), *t.LEGACY_PARENT.values(), *t.LEGACY_SUBJECT_SIGNATURE.values()}
    | {key for keys in t.DV_FALLBACKS.values() for key in keys}
    | {"createdAt", "eventIndex", "os.name", "src.process.eUserName", "tgt.process.eUserName"}
)
REQUIRED_KEYS = {
    "id",
    "event.id",
    "eventTime",
    "event.time",
    "createdAt",
    "eventType",
    "event.type",
}
KNOWN_KEYS = sorted({*DV_TO_CF, *CF_TO_DV, *LEGACY_KEYS} - REQUIRED_KEYS)
EVENT_TYPES = [
    "Process Creation",
    "IP Connect",
    "ProcessCreation",
    "File Creation",
    "DNS Resolved",
    "Registry Value Modified",
    "Module Load",
    "URL",
    "IP Listen",
    "Something New",
]

# A record with a valid id and time, so the field rows run, and any values under known keys.
records = st.fixed_dictionaries(
    {
        "id": st.just("1"),
        "event.id": st.just("1"),
        "eventTime": st.just(1763900000000),
        "event.time": st.just(1763900000000),
        "eventType": st.sampled_from(EVENT_TYPES),
        "event.type": st.sampled_from(EVENT_TYPES),
    },
    optional=dict.fromkeys(KNOWN_KEYS, json_values),
)
likely_values = (
    json_values
    | st.sampled_from(["", "null", "8.8.8.8", "::1", "443", "-1", "CORP\\bob", '"a b" c\\"'])
    | st.integers(min_value=-(2**70), max_value=2**70)
)
typed_records = st.dictionaries(st.sampled_from(KNOWN_KEYS), likely_values, max_size=40).map(
    lambda extra: {"id": "1", "event.id": "1", "eventTime": 1, "event.time": 1, **extra}
)


def check_event(event: dict[str, Any], *, mapped: bool = True) -> None:
    """Invariants of every event (spec §1); `mapped` adds those of events the mapper builds
    (an ECS-shaped input keeps its own extra fields and list values)."""
    assert TIMESTAMP.match(event["@timestamp"])
    assert isinstance(event["event.id"], str) and event["event.id"]
    assert event["event.kind"] == "event" or not mapped
    for key, value in event.items():
        assert value is not None and value != "" and value != [], key
        if key in LIST_FIELDS:
            assert isinstance(value, list), key
        elif mapped:
            assert not isinstance(value, list), key
    if not mapped:
        return
    keys = sorted(event)
    for shorter, longer in itertools.pairwise(keys):
        assert not longer.startswith(shorter + "."), (shorter, longer)
    for prefix in ("process.", "process.parent."):
        if prefix + "args" in event:
            assert event[prefix + "args_count"] == len(event[prefix + "args"])


@settings(max_examples=200, deadline=None)
@given(json_values, st.sampled_from(SHAPES))
def test_any_json_value_never_raises(value: Any, shape: Any) -> None:
    mapper = Mapper()
    result = mapper.map(value, shape)
    if result is None:
        assert set(mapper.skipped) <= set(SKIP_REASONS) - {"mapper_error"}
        assert sum(mapper.skipped.values()) == 1
    else:
        check_event(result, mapped=(detect_shape(value) if shape == "auto" else shape) != "ecs")


@settings(max_examples=200, deadline=None)
@given(records, st.sampled_from(("dv", "cloud-funnel")))
def test_wrong_types_in_known_fields_never_raise(record: dict[str, Any], shape: Any) -> None:
    bad: Counter[str] = Counter()
    result = to_ecs(record, shape, bad=bad)
    assert not isinstance(result, Skip), result
    check_event(result)
    assert all(label.startswith("bad_field:") or label == "parent_equals_self" for label in bad)


@settings(max_examples=200, deadline=None)
@given(typed_records, st.sampled_from(("dv", "cloud-funnel")))
def test_plausible_values_never_raise(record: dict[str, Any], shape: Any) -> None:
    result = to_ecs(record, shape)
    assert not isinstance(result, Skip), result
    check_event(result)
