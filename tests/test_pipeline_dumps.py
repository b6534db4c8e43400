"""`pipeline.dumps` (every JSON Lines record replay and hunt write) gives exactly the text
of `json.dumps(..., separators=(",", ":"), ensure_ascii=False)`, or raises its error: for
generated JSON-like values (floats of every magnitude, NaN and infinities, 64-bit edges and
beyond, any text, odd keys) and for the values orjson refuses or writes differently."""

from __future__ import annotations

import collections
import datetime
import enum
import json
import math
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.pipeline import dumps


def _stdlib(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _same(value: Any) -> None:
    try:
        expected = _stdlib(value)
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc)):
            dumps(value)
        return
    assert dumps(value) == expected


_FLOATS = st.one_of(
    st.floats(),  # NaN, ±inf, subnormals, every magnitude
    st.integers(min_value=0, max_value=2**64 - 1).map(
        lambda bits: struct.unpack("<d", struct.pack("<Q", bits))[0]
    ),
    st.sampled_from([1e-4, 9.99e-5, 1e-5, 1e-7, 1e15, 1e16, 9.9e15, -0.0, 4.2, 0.1]),
)
_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**64), max_value=2**65),
    _FLOATS,
    st.text(),  # any code point, lone surrogates included
    st.sampled_from(["null", "x,0.0000", "1e+5", "\x00\x1f\x7f\u2028", '"\\']),
)
_KEYS = st.one_of(st.text(max_size=6), st.integers(), st.none(), st.booleans(), st.floats())
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(_KEYS, inner, max_size=4),
    ),
    max_leaves=20,
)


@settings(max_examples=2000, deadline=None)
@given(value=_VALUES)
def test_dumps_is_the_stdlib_text(value: Any) -> None:
    _same(value)


@settings(max_examples=2000, deadline=None)
@given(number=_FLOATS)
def test_every_float_is_written_as_the_stdlib_writes_it(number: float) -> None:
    _same({"x": number})
    _same([number, -number])
    _same(number)


class _Level(enum.IntEnum):
    HIGH = 3


class _Text(str):
    pass


_Pair = collections.namedtuple("_Pair", "a b")  # a tuple subclass: json writes a list


def _deep(levels: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "value",
    [
        _Level.HIGH,
        {"k": _Text("v"), _Text("key"): 1},
        _Pair(1, 2),
        collections.OrderedDict(b=1, a=2),
        {1: "a", None: "b", 2.5: "c", False: "d"},
        [math.nan, math.inf, -math.inf],
        2**64,
        -(2**63) - 1,
        "\ud800",
        _deep(300),
        datetime.date(2026, 12, 3),
        {"when": datetime.datetime(2026, 12, 3, tzinfo=datetime.UTC)},
        {1, 2},
    ],
    ids=lambda value: type(value).__name__,
)
def test_values_orjson_refuses_or_writes_otherwise_are_left_to_json(value: Any) -> None:
    _same(value)


def test_a_cycle_fails_as_in_the_stdlib() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    _same(cycle)
