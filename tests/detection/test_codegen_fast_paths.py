"""The inline fast paths of generated conditions agree with the runtime helpers they skip.

`codegen.py` tests an int, a string or a missing field inline instead of calling
`_eq_any`, `_cmp_any`, `_in_*_any`, `_is_null` or `_match_any`; every other value still goes
through the helper. Here each compiled condition is compared with the helper called on the
same value (the plain evaluation), for values of every JSON type and lists of them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.detection.eql import ast
from connector.detection.eql.compiler import compile_condition
from connector.detection.eql.parser import parse
from connector.detection.eql.patterns import StringMatcher
from connector.detection.eql.runtime import (
    cmp_any,
    eq_any,
    in_any,
    in_fold_any,
    in_str_any,
    is_null,
    match_any,
)

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=100),
    st.sampled_from([88, 88.0, 4.5, 0.0, -0.0, float("nan"), 2**70]),
    st.sampled_from(["88", "a", "A", "abc", "xaby", "ß", "SS", ""]),
    st.dictionaries(st.just("k"), st.integers(), max_size=1),
)
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=3))


def _fn(text: str) -> Callable[[dict[str, Any]], bool]:
    body = parse(f"any where {text}").body
    assert isinstance(body, ast.EventQuery)
    return compile_condition(body.condition).fn


_NUMBERS = frozenset({1, 2, 88})
_STRINGS = frozenset({"a", "abc"})
_FOLDED = frozenset({"a", "ss"})
_CASES: list[tuple[str, Callable[[Any], bool]]] = [
    ("f == 88", lambda v: eq_any(v, 88)),
    ("f == 4.5", lambda v: eq_any(v, 4.5)),
    ("f != 88", lambda v: not eq_any(v, 88)),
    ("f >= 5", lambda v: cmp_any(v, ">=", 5)),
    ("f < 4.5", lambda v: cmp_any(v, "<", 4.5)),
    ("f in (1, 2, 88)", lambda v: in_any(v, _NUMBERS)),
    ('f in ("a", "abc")', lambda v: in_str_any(v, _STRINGS)),
    ('f in~ ("A", "SS")', lambda v: in_fold_any(v, _FOLDED)),
    ('f in ("a", null)', lambda v: in_any(v, frozenset({"a", None})) or is_null(v)),
    ("f == null", is_null),
    ("f != null", lambda v: not is_null(v)),
    (
        'f : ("*a*b*", "x?y")',
        lambda v: match_any(v, StringMatcher.wildcards(["*a*b*", "x?y"], True)),
    ),
]


@pytest.mark.parametrize(("text", "helper"), _CASES, ids=[text for text, _ in _CASES])
@settings(max_examples=300, deadline=None)
@given(value=_VALUES)
def test_fast_path_equals_the_helper(text: str, helper: Callable[[Any], bool], value: Any) -> None:
    event = {} if value is None else {"f": value}
    assert _fn(text)(event) is helper(event.get("f")), (text, value)


def test_fast_paths_are_used() -> None:
    """The cases above do exercise the inline code (else they would test only the helpers)."""
    body = parse("any where f == 88 and g >= 5 and h in (1, 2)").body
    assert isinstance(body, ast.EventQuery)
    source = compile_condition(body.condition).source
    assert ".__class__ is int" in source and "_eq_any" in source and "_cmp_any" in source
