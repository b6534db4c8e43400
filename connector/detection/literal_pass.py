"""One combined literal pass per event: which needles (see `needles.py`) does it carry?

All needles of all loaded stages go into one Aho-Corasick automaton (`pyahocorasick`, C).
For an event, the string values of the fields some needle comes from are case-folded and
joined with NUL (no needle holds one, so no needle can straddle two values), and a single
scan reports every needle inside, overlapping ones included. That is what a compiled regex
alternation cannot do: it reports one match per position, so it could hide a needle that
overlaps another, and a stage gated on the hidden one would be skipped wrongly.

The answer is a superset on purpose: a needle found in another needle field's value still
counts (the stage's full condition decides).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import ahocorasick

__all__ = ["LiteralPass"]

_NONE: frozenset[int] = frozenset()


class LiteralPass:
    """Numbers needles (`id_of`) and finds the numbers of those an event carries (`found`)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self.fields: set[str] = set()
        self._automaton: Any = None

    def id_of(self, text: str, fields: Iterable[str]) -> int:
        """The number of the folded needle `text`, read from `fields` (added if new)."""
        if "\x00" in text or not text:
            raise ValueError("a needle is non-empty and holds no NUL")
        self.fields.update(fields)
        number = self._ids.setdefault(text, len(self._ids))
        self._automaton = None
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

    def found(self, event: dict[str, Any]) -> frozenset[int]:
        """The numbers of the needles inside the event's values (folded), as a set."""
        fields = self._fields
        parts: list[str] = []
        for name, value in event.items():
            if name in fields:
                if value.__class__ is str:
                    parts.append(value)
                elif value.__class__ is list:
                    parts.extend(item for item in value if item.__class__ is str)
        if not parts:
            return _NONE
        text = "\x00".join(parts).casefold()
        return frozenset(number for _, number in self._automaton.iter(text))
