"""`nest` keeps every value, shallow keys first (reference: the plain step-by-step form)."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

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
_VALUES = st.one_of(st.integers(), st.text(max_size=3), st.lists(st.integers(), max_size=2))


@settings(max_examples=500, deadline=None)
@given(flat=st.dictionaries(_KEYS, _VALUES, max_size=8))
def test_nest_matches_the_reference(flat: dict[str, Any]) -> None:
    nested = nest(flat)
    assert nested == _reference(flat)
    assert list(nested) == list(_reference(flat)), "the same key order (the JSON text)"


def test_flatten_undoes_nest() -> None:
    flat = {"@timestamp": "t", "process.name": "x", "process.parent.pid": 4, "event.type": ["a"]}
    assert flatten(nest(flat)) == flat
