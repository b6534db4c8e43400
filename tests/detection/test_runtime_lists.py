"""The runtime helpers walk a list-valued field with plain loops (and `StringMatcher`
checks the strings of a list inline, `matches_some`): each answers exactly "some element
satisfies the one-value check", the form they had as `any(<generator>)`. Compared here for
lists of every JSON type, case variants (`ß`/`SS`, `İ`) and matchers of every kind."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.detection.eql.functions import compare
from connector.detection.eql.patterns import CidrSet, StringMatcher
from connector.detection.eql.runtime import (
    cidr_any,
    cmp_any,
    eq_any,
    in_any,
    in_fold_any,
    in_str_any,
    match_any,
    true_any,
)

_TEXTS = st.sampled_from(
    ["a", "A", "abc", "xAbY", "ß", "SS", "ss", "İ", "i̇", "", "88", "10.0.0.1", "C:\\Temp\\x.BAT"]
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=100),
    st.sampled_from([88, 88.0, 1.0, 0, 4.5, float("nan"), 2**70]),
    _TEXTS,
    st.text(max_size=4),
    st.dictionaries(st.just("k"), st.integers(), max_size=1),
    st.lists(st.integers(), max_size=1),
)
_LISTS = st.lists(_SCALARS, max_size=5)
_CONSTANTS = _SCALARS.filter(lambda v: v.__class__ not in (dict, list))
"""What a rule compares with (a literal: never a dict or a list)."""
_PATTERNS = st.lists(
    st.sampled_from(
        ["a", "ABC", "*b*", "*.bat", "c:\\*", "x?b*", "*", "ß*", "*ss", "İ", "*a*b*", "88"]
    ),
    min_size=1,
    max_size=4,
)


def _some(items: list[Any], check: Any) -> bool:
    return any(check(item) for item in items)


def _in(item: Any, options: frozenset[Any]) -> bool:
    if item is None or item.__class__ is bool:
        return item in options and any(o is item for o in options)
    try:
        return item in options
    except TypeError:
        return False


@settings(max_examples=500, deadline=None)
@given(items=_LISTS, patterns=_PATTERNS, fold=st.booleans(), kind=st.sampled_from("wlr"))
def test_matches_some_is_matches_of_some_string(
    items: list[Any], patterns: list[str], fold: bool, kind: str
) -> None:
    if kind == "w":
        matcher = StringMatcher.wildcards(patterns, fold)
    elif kind == "l":
        matcher = StringMatcher.literal("contains", [p.strip("*?") or "a" for p in patterns], fold)
    else:
        matcher = StringMatcher.regexes([p.replace("*", ".*") for p in patterns], fold)
    expected = _some(items, lambda i: i.__class__ is str and matcher.matches(i))
    assert matcher.matches_some(items) is expected
    assert match_any(items, matcher) is expected


@settings(max_examples=500, deadline=None)
@given(
    items=_LISTS,
    options=st.frozensets(_CONSTANTS, max_size=4),
    constant=_CONSTANTS,
)
def test_the_list_helpers_are_some_element(
    items: list[Any], options: frozenset[Any], constant: Any
) -> None:
    folded = frozenset(o.casefold() if isinstance(o, str) else o for o in options)
    assert in_any(items, options) is _some(items, lambda i: _in(i, options))
    strings = frozenset(o for o in options if isinstance(o, str))
    assert in_str_any(items, strings) is _some(items, lambda i: _in(i, strings))
    assert in_fold_any(items, folded) is _some(
        items, lambda i: _in(i.casefold() if i.__class__ is str else i, folded)
    )
    assert eq_any(items, constant) is _some(items, lambda i: compare("==", i, constant) is True)
    for op in ("<", ">="):
        assert cmp_any(items, op, constant) is _some(
            items, lambda i, op=op: compare(op, i, constant) is True
        )
    assert true_any(items) is _some(items, lambda i: i is True)
    networks = CidrSet(["10.0.0.0/8"])
    assert cidr_any(items, networks) is _some(items, networks.contains)


class _Text(str):
    """A string of another type: never a JSON string, so never matched as one."""


def test_a_list_changed_in_place_is_folded_again() -> None:
    matcher = StringMatcher.wildcards(["-ENC"], True)
    folded = frozenset({"-enc"})

    def same(items: list[Any]) -> bool:
        """Both helpers answer as the one-value checks do, and say whether it matched."""
        found = _some(items, lambda i: i.__class__ is str and matcher.matches(i))
        assert matcher.matches_some(items) is found
        assert in_fold_any(items, folded) is _some(
            items, lambda i: _in(i.casefold() if i.__class__ is str else i, folded)
        )
        return found

    args = ["powershell.exe", "-Enc"]
    assert same(args)
    args[1] = "-nop"  # the same list object, another item
    assert not same(args)
    args[1] = "-enc"
    assert same(args)
    args[1] = _Text("-enc")  # an equal item of another type (not a string to the matcher)
    assert not same(args)
    args.append("-ENC")  # longer
    assert same(args)
    del args[:]
    assert not same(args)
    assert same(["-enc"]) and not same(["x"])
