"""`stages._hashable` (join key values) keeps JSON scalars, subclasses included, and turns
anything else into its text — the same as the plain isinstance form it replaced."""

from __future__ import annotations

import enum
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from connector.detection.stages import _hashable


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


class _Level(enum.IntEnum):
    HIGH = 3


class _Text(str):
    pass


_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=4),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers()),
    st.sampled_from([_Level.HIGH, _Text("x"), (1, "a"), b"raw", 1.5j]),
)  # fmt: skip


@given(value=_VALUES)
def test_hashable_is_the_plain_form(value: Any) -> None:
    kept = _hashable(value)
    expected = _plain(value)
    assert type(kept) is type(expected)
    assert kept == expected or (kept != kept and expected != expected)  # NaN stays NaN
