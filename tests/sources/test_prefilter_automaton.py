"""A prefilter with many needles runs on one Aho-Corasick automaton: same answers as the
plain reading of `Prefilter` ("the line holds a needle of every group of an alternative")."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sources.ndjson import PrefilteredLines
from connector.sources.query import Prefilter

_NEEDLES = st.lists(
    st.binary(min_size=1, max_size=4).map(lambda b: bytes(c % 6 + 97 for c in b)),
    min_size=30,
    max_size=60,
    unique=True,
)
_LINES = st.lists(st.binary(max_size=40).map(lambda b: bytes(c % 8 + 97 for c in b)), max_size=30)


def _plain(prefilter: Prefilter, low: bytes) -> bool:
    return any(all(any(n in low for n in g) for g in alt) for alt in prefilter.alternatives)


@settings(max_examples=200, deadline=None)
@given(needles=_NEEDLES, lines=_LINES)
def test_automaton_answers_like_the_plain_reading(needles: list[bytes], lines: list[bytes]) -> None:
    prefilter = Prefilter(tuple((tuple(needles[i : i + 3]),) for i in range(0, len(needles), 3)))
    assert "automaton" in prefilter._compiled["passes"].__qualname__
    expected = [i for i, low in enumerate(lines) if _plain(prefilter, low)]
    assert [i for i, low in enumerate(lines) if prefilter.passes_lowered(low)] == expected
    assert prefilter.select_lowered(lines) == expected


def test_prefiltered_lines_with_many_needles() -> None:
    needles = tuple((f"needle{i:02d}".encode(),) for i in range(40))
    prefilter = Prefilter(tuple((group,) for group in needles))
    lines = [b'{"a":"x needle07 y"}', b'{"a":"none"}', b"", b'{"A":"NEEDLE39"}', b'{"a":"needle7"}']
    reader = PrefilteredLines(prefilter)
    assert list(reader.lines([b"\n".join(lines) + b"\n"])) == [(1, lines[0]), (4, lines[3])]
    assert reader.skipped == 2
