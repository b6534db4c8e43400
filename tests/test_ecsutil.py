"""`nest` keeps every value, shallow keys first (reference: the plain step-by-step form), and
its compiled plans (one per key set) give exactly what the steps give."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import ecsutil
from connector.ecsutil import flatten, nest


def _reference(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(flat, key=lambda k: k.count(".")):
        value = flat[key]
        parts = key.split(".")
        node = out
        for index, part in enumerate(parts[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            elif not isinstance(child, dict):
                node[".".join(parts[index:])] = value
                break
            node = child
        else:
            node[parts[-1]] = value
    return out


_KEYS = st.lists(st.sampled_from(["a", "b", "@timestamp"]), min_size=1, max_size=4).map(".".join)
_VALUES = st.one_of(
    st.integers(),
    st.text(max_size=3),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.sampled_from(["a", "x"]), st.integers(), max_size=2),
)
# Odd key text too: quotes, backslashes, braces, empty parts (keys never enter plan source).
_ODD_KEYS = st.lists(st.sampled_from(["a", "'", '"', "\\", "{", "", "n[0]", "é"]), min_size=1,
                     max_size=3).map(".".join)  # fmt: skip


def _same(flat: dict[str, Any]) -> None:
    nested = nest(flat)
    assert nested == _reference(flat)
    # Nested key order too: the JSON text must not change.
    assert json.dumps(nested) == json.dumps(_reference(flat))


@settings(max_examples=500, deadline=None)
@given(flat=st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_nest_matches_the_reference(flat: dict[str, Any]) -> None:
    _same(flat)
    _same(dict(flat))  # again: now from the remembered plan of this key set


@settings(max_examples=300, deadline=None)
@given(flat=st.dictionaries(_ODD_KEYS, _VALUES, max_size=6))
def test_nest_matches_the_reference_for_odd_key_text(flat: dict[str, Any]) -> None:
    _same(flat)
    _same(flat)


def test_a_plan_takes_new_values_each_time() -> None:
    keys = ("@timestamp", "process.parent.name", "host.name", "process.name")
    first = nest(dict(zip(keys, (1, 2, 3, [4]), strict=True)))
    second = nest(dict(zip(keys, ("t", "p", "h", "x"), strict=True)))
    assert json.dumps(first) == (
        '{"@timestamp": 1, "host": {"name": 3}, "process": {"name": [4], "parent": {"name": 2}}}'
    )
    assert second == {"@timestamp": "t", "host": {"name": "h"},
                      "process": {"name": "x", "parent": {"name": "p"}}}  # fmt: skip
    assert first["process"] is not second["process"], "fresh dicts every time"


def test_a_value_and_prefix_key_set_is_nested_step_by_step(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ecsutil, "_PLANS", {})
    flat = {"a.b.c": 2, "a.b": {"x": 1}, "z": 0}
    assert nest(dict(flat)) == _reference(dict(flat)) == {"z": 0, "a": {"b": {"x": 1, "c": 2}}}
    assert ecsutil._PLANS[tuple(flat)] is None


def test_plans_stop_at_the_limit_and_nesting_still_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ecsutil, "_PLANS", {})
    monkeypatch.setattr(ecsutil, "_MAX_PLANS", 2)
    for index in range(5):
        flat = {f"k{index}.a": index, "k.b": "v"}
        _same(flat)
        _same(flat)
    assert len(ecsutil._PLANS) == 2


def test_flatten_undoes_nest() -> None:
    flat = {"@timestamp": "t", "process.name": "x", "process.parent.pid": 4, "event.type": ["a"]}
    assert flatten(nest(flat)) == flat
