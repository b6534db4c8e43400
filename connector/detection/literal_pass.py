"""One combined literal pass per event: which needles (see `needles.py`) does it carry?

A needle is numbered per field it is read from: the pair (text, field). A stage whose needles
are `\\powershell.exe` in `process.executable` is then not tried for every event that merely
holds that text in its command line (with the SigmaHQ rules, numbering texts alone made the
engine try five times as many stages as numbering pairs).

Each needle field has its own Aho-Corasick automaton (`pyahocorasick`, C) of the texts read
from it. A string value of the field is case-folded and scanned once; the scan reports every
needle inside, overlapping ones included. That is what a compiled regex alternation cannot
do: it reports one match per position, so it could hide a needle that overlaps another, and
a stage gated on the hidden one would be skipped wrongly.

An event carries the union of what its values carry (no needle can straddle two values).
Field values repeat a lot (process names, paths, host names), and a scan costs about 0.1 µs
per character with a thousand needles, so the answer per field and value is kept in a
bounded cache: the answer depends on nothing else.

`found` takes a *plan* (`plan(fields)`): the fields worth scanning for one event category,
those some stage of the category has needles in. A category with no needle stage scans
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

import ahocorasick

__all__ = ["LiteralPass", "Plan"]

_NONE: frozenset[int] = frozenset()
CACHE_LIMIT: Final = 65_536
"""Values whose answer is kept; the cache starts afresh when full (memory stays bounded)."""
CACHE_CHARACTERS: Final = 4_000_000
"""...and when the values kept hold this many characters in all (a few MiB at most)."""
_CACHED_LENGTH: Final = 4_096
"""Longer values are scanned every time: they rarely repeat, and would make the cache big."""

Plan = tuple[tuple[str, dict[str, frozenset[int]]], ...]
"""The fields `found` reads, each with its cache (value -> needle numbers)."""


class LiteralPass:
    """Numbers needles per field (`ids_of`) and finds the numbers of those an event carries
    in the fields of a plan (`found`)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}
        self._fields_of: list[str] = []
        self._automata: dict[str, Any] = {}
        self._caches: dict[str, dict[str, frozenset[int]]] = {}
        self._cached = 0
        self._cached_characters = 0

    def ids_of(self, text: str, fields: Iterable[str]) -> frozenset[int]:
        """The numbers of the folded needle `text` read from each of `fields` (added if new)."""
        if "\x00" in text or not text:
            raise ValueError("a needle is non-empty and holds no NUL")
        ids = self._ids
        numbers: list[int] = []
        for name in fields:
            key = (name, text)
            number = ids.get(key)
            if number is None:
                number = ids[key] = len(ids)
                self._fields_of.append(name)
            numbers.append(number)
        self._automata = {}
        return frozenset(numbers)

    def __len__(self) -> int:
        return len(self._ids)

    def fields_of(self, numbers: Iterable[int]) -> set[str]:
        """The fields the needles numbered `numbers` are read from."""
        return {self._fields_of[number] for number in numbers}

    def freeze(self) -> None:
        """Build the automata (after the last `ids_of`)."""
        automata: dict[str, Any] = {}
        for (name, text), number in self._ids.items():
            automaton = automata.get(name)
            if automaton is None:
                automaton = automata[name] = ahocorasick.Automaton(ahocorasick.STORE_INTS)
            automaton.add_word(text, number)
        for automaton in automata.values():
            automaton.make_automaton()
        self._automata = automata
        self._caches = {name: {} for name in automata}
        self._cached = self._cached_characters = 0

    def plan(self, fields: Iterable[str]) -> Plan:
        """What `found` scans to find the needles of `fields` (sorted by name)."""
        return tuple((name, self._caches[name]) for name in sorted(set(fields)))

    def found(self, event: dict[str, Any], plan: Plan) -> frozenset[int]:
        """The numbers of the needles inside the event's values (folded) of the plan's fields."""
        carried = _NONE
        get = event.get
        for name, cache in plan:
            value = get(name)
            if value is None:
                continue
            if value.__class__ is str:
                numbers = cache.get(value)
                if numbers is None:
                    numbers = self.scan(name, value)
                if numbers:
                    carried = carried | numbers if carried else numbers
            elif value.__class__ is list:
                for item in value:
                    if item.__class__ is str:
                        numbers = cache.get(item)
                        if numbers is None:
                            numbers = self.scan(name, item)
                        if numbers:
                            carried = carried | numbers if carried else numbers
        return carried

    def scan(self, name: str, value: str) -> frozenset[int]:
        """The numbers of the needles of field `name` inside `value` (folded); remembered
        when short."""
        automaton = self._automata.get(name)
        if automaton is None:
            return _NONE
        numbers = frozenset(number for _, number in automaton.iter(value.casefold())) or _NONE
        if len(value) <= _CACHED_LENGTH:
            self._cached += 1
            self._cached_characters += len(value)
            if self._cached > CACHE_LIMIT or self._cached_characters > CACHE_CHARACTERS:
                for cache in self._caches.values():
                    cache.clear()  # in place: plans hold these dicts
                self._cached = 1
                self._cached_characters = len(value)
            self._caches[name][value] = numbers
        return numbers
