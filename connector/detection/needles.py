"""Needles: case-folded substrings one of which an event must carry for a stage to match.

Anchors (`anchors.py`) index stages by an exact field value. Many stage conditions have no
such value but still name text every matching event contains: `process.args : "*-enc*"`
cannot hold unless some value of `process.args`, case-folded, contains `-enc`. The needles of
a stage are such a set of texts, any one of which is necessary (an OR). One combined literal
pass per event (`literal_pass.py`) then finds which needles an event carries, and only the
stages with a needle in it are evaluated; the same needles make the raw-line prefilter.

| term                                               | needles (case-folded)            |
|----------------------------------------------------|----------------------------------|
| `f == "X"`, `f in ("X", "Y")`, `f in~ (...)`       | `x`, `y`                         |
| `f : "*\\Temp\\*.exe"`, `like~`, `wildcard()` | longest literal run (`\\temp\\`) |
| `startswith(f, "ab")`, `endswith~`, `stringcontains` | `ab`                           |
| `a and b`                                          | the better of a's and b's (`_rank`) |
| `a or b`                                           | both sets (every branch needs some) |
| `not`, `!=`, `cidrmatch`, numbers, regex, field-to-field tests | none       |

Why it is exact: `str.casefold` maps each character on its own, so a value that equals a
literal, or contains a pattern's literal run (whatever the pattern's case rule), contains
the folded literal once folded. Only string constants count (a string never equals a number
in EQL). Texts shorter than `MIN_LENGTH` and fields shared by nearly every event are
ignored: `host.os.type : "windows"` restricts nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from connector.detection.eql import ast
from connector.detection.eql.codegen import UNSELECTIVE_FIELDS

__all__ = ["Needles", "needles_of"]

MIN_LENGTH = 3
"""Shorter texts (`-`, `.`, `c:`) are left out: nearly every event carries them."""
_WILDCARD_RUNS = re.compile(r"[*?]")
_TEXT_FUNCTIONS = frozenset({"startswith", "endswith", "stringcontains"})


@dataclass(frozen=True)
class Needles:
    """A stage can match only an event where some string value of one of `fields`,
    case-folded, contains one of `texts`."""

    fields: frozenset[str]
    texts: frozenset[str]


FieldFilter = Callable[[str], bool]


def needles_of(
    condition: ast.Expr,
    usable: FieldFilter | None = None,
    skip: str | None = None,
    *,
    selective_only: bool = True,
) -> Needles | None:
    """The best needles of a stage condition, or None when it has none.

    `usable(field)` says which fields may give needles (default: all; the unselective ones
    never do); `skip` names a field whose top-level terms are left out (the stage's anchor field,
    already checked by the index, so the needles add a second, independent gate).
    `selective_only=False` lets the unselective fields (`host.os.type`, `event.type`, ...) give
    needles too: still necessary, rarely useful (the raw-line prefilter's last resort)."""

    def allowed(name: str) -> bool:
        return (_selective(name) or not selective_only) and (usable is None or usable(name))

    if skip is not None:
        terms = condition.terms if isinstance(condition, ast.And) else (condition,)
        kept = tuple(t for t in terms if _subject(t) != skip)
        if not kept:
            return None
        condition = ast.And(kept) if len(kept) > 1 else kept[0]
    return _needles(condition, allowed)


def _selective(name: str) -> bool:
    return name not in UNSELECTIVE_FIELDS


def _needles(node: ast.Expr, usable: FieldFilter) -> Needles | None:
    if isinstance(node, ast.And):
        found = [n for n in (_needles(t, usable) for t in node.terms) if n is not None]
        return min(found, key=_rank) if found else None
    if isinstance(node, ast.Or):
        branches = [_needles(t, usable) for t in node.terms]
        if not branches or any(b is None for b in branches):
            return None
        return _union([b for b in branches if b is not None])
    subject = _subject(node)
    if subject is None or not usable(subject):
        return None
    texts = _texts(node)
    if not texts or any(len(t) < MIN_LENGTH or "\x00" in t for t in texts):
        return None  # a short needle is in nearly every event: it would only cost time
    return Needles(frozenset({subject}), frozenset(texts))


def _rank(needles: Needles) -> tuple[int, int]:
    """Smaller is better: few needles, then long ones."""
    return (len(needles.texts), -min(len(t) for t in needles.texts))


def _union(parts: list[Needles]) -> Needles:
    fields = frozenset().union(*(p.fields for p in parts))
    return Needles(fields, frozenset().union(*(p.texts for p in parts)))


def _subject(node: ast.Expr) -> str | None:
    """The field a positive string test reads, or None for any other kind of term."""
    if isinstance(node, ast.Compare):
        if node.op != "==":
            return None
        sides = (node.left, node.right)
        fields = [s for s in sides if isinstance(s, ast.Field)]
        literals = [s for s in sides if isinstance(s, ast.Literal)]
        return fields[0].name if len(fields) == 1 and len(literals) == 1 else None
    if isinstance(node, ast.In | ast.StringMatch):
        return node.value.name if isinstance(node.value, ast.Field) else None
    if isinstance(node, ast.FunctionCall) and node.name in (*_TEXT_FUNCTIONS, "wildcard"):
        first = node.args[0] if node.args else None
        return first.name if isinstance(first, ast.Field) else None
    return None


def _texts(node: ast.Expr) -> list[str] | None:
    """The folded needles of a term whose subject is a field; None when it has none."""
    if isinstance(node, ast.Compare):
        literal = node.right if isinstance(node.right, ast.Literal) else node.left
        value = literal.value if isinstance(literal, ast.Literal) else None
        return [value.casefold()] if isinstance(value, str) else None
    if isinstance(node, ast.In):
        return _exact(node.options)
    if isinstance(node, ast.StringMatch):
        return None if node.operator == "regex" else _runs(node.patterns)
    if isinstance(node, ast.FunctionCall):
        if node.name == "wildcard":
            return _runs(node.args[1:])
        if len(node.args) == 2:
            return _exact(node.args[1:])
    return None


def _strings(options: tuple[ast.Expr, ...]) -> list[str] | None:
    values: list[str] = []
    for option in options:
        if not (isinstance(option, ast.Literal) and isinstance(option.value, str)):
            return None
        values.append(option.value)
    return values


def _exact(options: tuple[ast.Expr, ...]) -> list[str] | None:
    values = _strings(options)
    return None if values is None else [v.casefold() for v in values]


def _runs(patterns: tuple[ast.Expr, ...]) -> list[str] | None:
    """The longest literal run of each wildcard pattern (folded first)."""
    values = _strings(patterns)
    if values is None:
        return None
    return [max(_WILDCARD_RUNS.split(v.casefold()), key=len) for v in values]
