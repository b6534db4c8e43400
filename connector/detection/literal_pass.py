"""One combined literal pass per event: which needles (see `needles.py`) does it carry?

All needles of all loaded stages go into one Aho-Corasick automaton (`pyahocorasick`, C).
A string value of a field some needle comes from is case-folded and scanned once; the scan
reports every needle inside, overlapping ones included. That is what a compiled regex
alternation cannot do: it reports one match per position, so it could hide a needle that
overlaps another, and a stage gated on the hidden one would be skipped wrongly.

An event carries the union of what its values carry (no needle can straddle two values).
Field values repeat a lot (process names, paths, host names), and a scan costs about 0.1 µs
per character with a thousand needles, so the answer per value is kept in a bounded cache:
the value itself is the key, and the answer depends on nothing else.

The answer is a superset on purpose: a needle found in another needle field's value still
counts (the stage's full condition decides).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import ahocorasick

__all__ = ["LiteralPass"]

_NONE: frozenset[int] = frozenset()
CACHE_LIMIT: Final = 65_536
"""Values whose answer is kept; the cache starts afresh when full (memory stays bounded)."""
CACHE_CHARACTERS: Final = 4_000_000
"""...and when the values kept hold this many characters in all (a few MiB at most)."""
_CACHED_LENGTH: Final = 4_096
"""Longer values are scanned every time: they rarely repeat, and would make the cache big."""


class LiteralPass:
    """Numbers needles (`id_of`) and finds the numbers of those an event carries (`found`)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.fields: set[str] = set()
        self._automaton: Any = None
        self._fields: frozenset[str] = frozenset()
        self._cache: dict[str, frozenset[int]] = {}
        self._cached_characters = 0

    def id_of(self, text: str, fields: Iterable[str]) -> int:
        """The number of the folded needle `text`, read from `fields` (added if new)."""
        if "\x00" in text or not text:
            raise ValueError("a needle is non-empty and holds no NUL")
        self.fields.update(fields)
        number = self._ids.setdefault(text, len(self._ids))
        self._automaton = None
        self._cache = {}
        return number

    def __len__(self) -> int:
        return len(self._ids)

    def freeze(self) -> None:
        """Build the automaton (after the last `id_of`)."""
        automaton = ahocorasick.Automaton(ahocorasick.STORE_INTS)
        for text, number in self._ids.items():
            automaton.add_word(text, number)
        if self._ids:
            automaton.make_automaton()
        self._automaton = automaton
        self._fields = frozenset(self.fields)
        self._cache = {}

    def found(self, event: dict[str, Any]) -> frozenset[int]:
        """The numbers of the needles inside the event's values (folded), as a set."""
        fields = self._fields
        cached = self._cache.get
        carried = _NONE
        for name, value in event.items():
            if name in fields:
                if value.__class__ is str:
                    numbers = cached(value)
                    if numbers is None:
                        numbers = self.scan(value)
                    if numbers:
                        carried = carried | numbers if carried else numbers
                elif value.__class__ is list:
                    for item in value:
                        if item.__class__ is str:
                            numbers = cached(item)
                            if numbers is None:
                                numbers = self.scan(item)
                            if numbers:
                                carried = carried | numbers if carried else numbers
        return carried

    def scan(self, value: str) -> frozenset[int]:
        """The numbers of the needles inside one value (folded); remembered when short."""
        if not self._ids:
            return _NONE
        numbers = frozenset(number for _, number in self._automaton.iter(value.casefold()))
        if len(value) <= _CACHED_LENGTH:
            self._cached_characters += len(value)
            if len(self._cache) >= CACHE_LIMIT or self._cached_characters > CACHE_CHARACTERS:
                self._cache = {}
                self._cached_characters = len(value)
            self._cache[value] = numbers or _NONE
        return numbers
