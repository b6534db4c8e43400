"""Literal runs of a Lucene regex: texts every full match of it holds, each in a row.

`required_runs(pattern)` reads a Lucene (`regex` operator) pattern once, left to right, and
returns the runs of plain characters that every match must contain. A run ends at anything
that is not one known character: a class (`[a-z]`, `\\s`), `.`, a quantified character (`x*`
and `x?` may be absent, `x+` is kept but ends the run), a group. A group's runs count only
when it has no alternation and is not optional (`(...)?`, `(...)*`, `(...){0,n}`); an
alternation at the top level, or any construct the scan does not know, gives None (no claim).

With `join=True`, a run that ends right before a group counting as above is also claimed
joined with the group's first run when that run starts the group (`"(\\{\\d\\})+` holds `"{`).

`keep`, when given, is the set of characters a run may hold; any other character ends the run
(not a claim about it). Case-insensitive uses need it: with `regex~` Python pairs `i` with the
dotless `ı` and `k` with the Kelvin sign, so only characters no case rule touches are sure.

Used for the needles of a stage (`needles.py`) and for the pre-check of a regex matcher
(`patterns.py`): a string that lacks one of a pattern's runs cannot match it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["required_runs", "requires_beyond_ascii"]

_QUANTIFIER = re.compile(r"[*+?]|\{(\d*)(?:,\d*)?\}")


def required_runs(
    pattern: str, keep: Collection[str] | None = None, *, join: bool = False
) -> list[str] | None:
    """The runs every full match of the Lucene regex `pattern` holds (see the module
    docstring), in pattern order (a joined run before the group's own); None when the scan
    cannot be sure of any."""
    try:
        return _RunScan(pattern, keep, join).runs()
    except _Unsure:
        return None


def requires_beyond_ascii(pattern: str) -> bool:
    """Whether every full match of the Lucene regex `pattern`, matched case-sensitively,
    holds a character beyond ASCII: a class of such characters only (`[ʰ-˿ᴬ-ᶻ]`, no escape
    in it) stands outside every group with a quantifier that needs it at least once, and
    the pattern has no `|` outside a class. False when unsure.

    (A class is not a run: `required_runs` sees none. Case-insensitive matching could pair
    such a character with an ASCII one, the Kelvin sign with `k`: no claim then.)"""
    depth = 0
    found = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        i += 1
        if char == "\\":
            i += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|":
            return False
        elif char == "[":
            end = _class_end(pattern, i)
            if end < 0:
                return False
            members = pattern[i : end - 1]
            quantifier = _QUANTIFIER.match(pattern, end)
            needed = quantifier is None or not _optional(quantifier)
            if depth == 0 and needed and _beyond_ascii_class(members):
                found = True
            i = end
    return found and depth == 0


def _beyond_ascii_class(members: str) -> bool:
    """Whether a class's text (between `[` and `]`) holds only characters beyond ASCII and
    ranges between two of them: positive, no escape."""
    if not members or members.startswith("^") or "\\" in members:
        return False
    return all(not c.isascii() for c in members.replace("-", "")) and not (
        members.startswith("-") or members.endswith("-")
    )


class _Unsure(Exception):
    """A construct `_RunScan` does not know: no run is claimed."""


class _RunScan:
    """One pass over a regex; per open group, the runs found so far and whether it has `|`.

    A run ends at anything that is not one known character; a group's runs count only when
    it has no alternation and is not optional (`(...)?`, `(...)*`, `(...){0,n}`)."""

    def __init__(self, pattern: str, keep: Collection[str] | None, join: bool = False) -> None:
        self.pattern = pattern
        self.keep = keep
        self.join = join
        self.groups: list[tuple[list[str], bool]] = [([], False)]
        self.run: list[str] = []
        self.start = 0  # where the current run's first character (or its escape) stands
        self.i = 0
        self.frames: list[_Frame] = []
        """Per open group (with `join`): the run right before it, where its content starts,
        and its first run when that starts there."""

    def runs(self) -> list[str] | None:
        while self.i < len(self.pattern):
            char = self.pattern[self.i]
            self.i += 1
            self._step(char)
        self._flush()
        if len(self.groups) != 1 or self.groups[0][1]:
            return None
        return self.groups[0][0]

    def _step(self, char: str) -> None:
        at = self.i - 1
        if char == "\\" and self.i < len(self.pattern):
            escaped = self.pattern[self.i]
            self.i += 1
            if escaped.isascii() and escaped.isalnum():
                self._break()  # a class (`\s`), an anchor or a code: no one known character
            else:
                self._literal(escaped, at)
        elif char == "[":
            self._flush()
            self.i = _class_end(self.pattern, self.i)
            if self.i < 0:
                raise _Unsure
            self._break()
        elif char == "(":
            before = "".join(self.run)
            self._flush()
            self.groups.append(([], False))
            if self.join:
                self.frames.append(_Frame(before, self.i))
        elif char == ")":
            self._close()
        elif char == "|":
            self._flush()
            self.groups[-1] = (self.groups[-1][0], True)
        elif char == ".":
            self._break()
        elif char in "*+?{":
            raise _Unsure  # a quantifier with nothing before it
        else:
            self._literal(char, at)

    def _flush(self) -> None:
        if self.run:
            runs = self.groups[-1][0]
            if self.frames and not runs and self.start == self.frames[-1].opened:
                self.frames[-1].first = "".join(self.run)
            runs.append("".join(self.run))
            self.run.clear()

    def _break(self) -> None:
        """End the run at something that is not one known character (and its quantifier)."""
        self._flush()
        self.i = _past_quantifier(self.pattern, self.i)

    def _close(self) -> None:
        self._flush()
        if len(self.groups) == 1:
            raise _Unsure
        inner, alternation = self.groups.pop()
        frame = self.frames.pop() if self.join else None
        quantifier = _QUANTIFIER.match(self.pattern, self.i)
        optional = quantifier is not None and _optional(quantifier)
        if quantifier is not None:
            self.i = _skip_lazy(self.pattern, quantifier.end())
        if not (alternation or optional):
            if frame is not None and frame.before and frame.first:
                self.groups[-1][0].append(frame.before + frame.first)
            self.groups[-1][0].extend(inner)

    def _literal(self, char: str, at: int) -> None:
        unsure = self.keep is not None and char not in self.keep
        quantifier = _QUANTIFIER.match(self.pattern, self.i)
        if quantifier is None:
            if unsure:
                self._flush()
            else:
                self._append(char, at)
            return
        # `x*` / `x?`: x may be absent; `x+`: present, but the run cannot go past it.
        if not (_optional(quantifier) or unsure):
            self._append(char, at)
        self._flush()
        self.i = _skip_lazy(self.pattern, quantifier.end())

    def _append(self, char: str, at: int) -> None:
        if not self.run:
            self.start = at
        self.run.append(char)


@dataclass
class _Frame:
    """An open group, for `join`: the run right before its `(`, the index after it, and the
    group's first run if it starts there."""

    before: str
    opened: int
    first: str | None = None


def _past_quantifier(pattern: str, i: int) -> int:
    """Past a quantifier (and its lazy mark) at `i`, if there is one."""
    quantifier = _QUANTIFIER.match(pattern, i)
    return i if quantifier is None else _skip_lazy(pattern, quantifier.end())


def _optional(quantifier: re.Match[str]) -> bool:
    text = quantifier.group(0)
    return text in ("*", "?") or (text.startswith("{") and quantifier.group(1) in ("", "0"))


def _skip_lazy(pattern: str, i: int) -> int:
    """Past a lazy (`*?`) or possessive (`*+`) mark after a quantifier."""
    return i + 1 if pattern[i : i + 1] in ("?", "+") else i


def _class_end(pattern: str, i: int) -> int:
    """The index after the `]` closing the class opened before `i` (-1: never closed)."""
    if pattern[i : i + 1] == "^":
        i += 1
    if pattern[i : i + 1] == "]":
        i += 1  # a `]` first in a class is a member
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
            continue
        if pattern[i] == "]":
            return i + 1
        i += 1
    return -1
