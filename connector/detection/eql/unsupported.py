"""Find EQL constructs we deliberately do not evaluate, so they are rejected by name.

Elasticsearch EQL has features detection rules rarely need and this engine does not implement:
`join`, `sample`, lineage (`descendant of`, `child of`, `event of`, which Elasticsearch itself
rejects), missing-event stages `![...]`, and pipes other than `head`/`tail`. The scan runs on a
rough tokenisation that skips strings and comments, so a string containing "join" is harmless.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Unsupported", "find_unsupported"]

_TOKEN = re.compile(
    r'"""(?:.|\n)*?"""'  # raw string
    r'|"(?:[^"\\\n]|\\.)*"'  # string
    r"|`(?:[^`]|``)*`"  # quoted identifier
    r"|//[^\n]*|/\*(?:.|\n)*?\*/"  # comments
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<missing>!\s*\[)"
    r"|(?P<pipe>\|)"
    r"|\s+|.",
    re.DOTALL,
)
_LINEAGE = {"descendant", "child", "event"}
_PIPES_OK = {"head", "tail"}


@dataclass(frozen=True)
class Unsupported:
    """An unsupported construct: a message naming it and where it starts (1-based)."""

    message: str
    line: int
    column: int


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, offset) for the words, `![` and `|` of the query."""
    out: list[tuple[str, str, int]] = []
    for match in _TOKEN.finditer(text):
        kind = match.lastgroup
        if kind is not None:
            out.append((kind, match.group(kind), match.start()))
    return out


def _where(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def find_unsupported(text: str) -> Unsupported | None:
    """The first unsupported construct in `text`, or None."""
    tokens = _tokens(text)
    for index, (kind, value, offset) in enumerate(tokens):
        following = tokens[index + 1] if index + 1 < len(tokens) else None
        if following is not None and text[offset + len(value) : following[2]].strip():
            following = None  # something else (a dot, an operator) sits between the two
        message = _classify(kind, value, index, following)
        if message is not None:
            return Unsupported(message, *_where(text, offset))
    return None


def _classify(
    kind: str, value: str, index: int, following: tuple[str, str, int] | None
) -> str | None:
    if kind == "missing":
        return "missing-event stages `![...]` are not supported"
    if kind == "pipe":
        if following is None or following[0] != "word":
            return None
        name = following[1]
        return None if name in _PIPES_OK else f"pipe `| {name}` is not supported"
    if index == 0 and value in ("join", "sample"):
        return f"`{value}` queries are not supported"
    if value in _LINEAGE and following is not None and following[1] == "of":
        return f"lineage `{value} of` is not supported (Elasticsearch does not support it either)"
    return None
