"""A prefilter with many needles, tested with one automaton walk per line.

`Prefilter` (query.py) compiles a small test into one Python expression of `in` tests. With
the needles of hundreds of rules that expression takes long to compile and to run, so large
prefilters use this instead: one Aho-Corasick walk (`pyahocorasick`, C) tells which needles a
lower-cased line holds; a line passes when, for some alternative, every group holds one of
them. Only the alternatives whose first group holds a found needle are looked at. The same
walk over sample lines tells how many lines each group accepts (`group_rates`), which is how
`Prefilter.ordered_by` orders the groups.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ahocorasick

__all__ = ["NeedleIndex", "byte_automaton"]

Group = tuple[bytes, ...]
Alternative = tuple[Group, ...]


def byte_automaton(needles: Sequence[bytes]) -> Any:
    """An Aho-Corasick automaton over byte needles, each stored as its position in
    `needles`. Texts are walked decoded as Latin-1 (one byte, one character), so offsets are
    byte offsets and needles match exactly where they would in the bytes."""
    automaton: Any = ahocorasick.Automaton(ahocorasick.STORE_INTS)
    for number, needle in enumerate(needles):
        automaton.add_word(needle.decode("latin-1"), number)
    if needles:
        automaton.make_automaton()
    return automaton


class NeedleIndex:
    """The needles of `alternatives` (none empty) numbered, and an automaton over them."""

    def __init__(self, alternatives: Sequence[Alternative]) -> None:
        if any(not alternative for alternative in alternatives):
            raise ValueError("an empty alternative passes every line: no index needed")
        needles = list(dict.fromkeys(n for alt in alternatives for group in alt for n in group))
        number = {needle: index for index, needle in enumerate(needles)}
        self._raw = [tuple(alt) for alt in alternatives]
        self._alternatives = [
            tuple(frozenset(number[n] for n in group) for group in alt) for alt in alternatives
        ]
        self._by_needle: dict[int, list[int]] = {}
        for index, alternative in enumerate(self._alternatives):
            for first in alternative[0]:
                self._by_needle.setdefault(first, []).append(index)
        self._walk = byte_automaton(needles).iter
        self._number = number

    def held(self, low: bytes) -> set[int]:
        """The numbers of the needles inside a lower-cased line (Latin-1: one byte, one
        character, so byte needles match where they would in the bytes)."""
        if not self._number:
            return set()
        return {index for _, index in self._walk(low.decode("latin-1"))}

    def passes(self, low: bytes) -> bool:
        """Whether some alternative has a needle of every group in the line."""
        held = self.held(low)
        if not held:
            return False
        alternatives = self._alternatives
        for needle in held:
            for index in self._by_needle.get(needle, ()):
                if all(not group.isdisjoint(held) for group in alternatives[index]):
                    return True
        return False

    def select(self, lines: Sequence[bytes]) -> list[int]:
        passes = self.passes
        return [index for index, low in enumerate(lines) if passes(low)]

    def group_rates(self, sample: Sequence[bytes]) -> dict[Group, int]:
        """How many `sample` lines (lower-cased) hold a needle of each group."""
        lines_of: dict[int, set[int]] = {}
        for line, low in enumerate(sample):
            for needle in self.held(low):
                lines_of.setdefault(needle, set()).add(line)
        rates: dict[Group, int] = {}
        for raw, numbered in zip(self._raw, self._alternatives, strict=True):
            for group, ids in zip(raw, numbered, strict=True):
                if group not in rates:
                    found: set[int] = set()
                    for needle in ids:
                        found |= lines_of.get(needle, set())
                    rates[group] = len(found)
        return rates
