"""Anchors: an exact-value test every event must pass for a stage to match, used as an index.

With hundreds of rules, most stage conditions start with something like
`process.name : ("a.exe", "b.exe")`. Such a term is *necessary* when it is the whole condition
or one term of its top-level `and`: an event whose `process.name` is none of those values
cannot match, whatever the rest says. `Dispatch` groups stages by their anchor field and looks
the event's value up in one dict, instead of running every stage's condition.

| term (top level, or inside the top-level `and`) | anchor                          |
|--------------------------------------------------|---------------------------------|
| `f == "x"`                                       | `f`, exact, {"x"}               |
| `f in ("x", "y")`, `f in~ (...)`                 | `f`, exact / folded, the values |
| `f : ("x", "y")`, `f like~ (...)`, no wildcards  | `f`, folded (or exact), values  |

Only string constants qualify (a non-string event value then can never match them, as in the
compiled condition). Among several candidates, the one with the fewest values wins, and fields
shared by nearly every event (`host.os.type`, `event.type`, ...) are never used.

`index_anchor` is the last resort of a stage that has neither an anchor nor needles: it also
takes number constants (`destination.port in (5985, 5986)`: the values are then numbers, and
only a number equal to one of them can match) and the shared fields (`host.os.type ==
"linux"` still spares such a stage every Windows event), preferring a selective field.

`categories_of` finds the same kind of term on the category field of an `any where` stage
(`event.category in ("file", "process")`): such a stage can only take events of those
categories, so it is indexed under them instead of under every category.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.detection.eql import ast
from connector.detection.eql.codegen import UNSELECTIVE_FIELDS

__all__ = ["Anchor", "anchor_of", "categories_of", "index_anchor", "string_constants"]


@dataclass(frozen=True)
class Anchor:
    """`field` must hold one of `values` (case-folded first when `fold`). Only
    `index_anchor` makes anchors with number values."""

    field: str
    fold: bool
    values: frozenset[Any]
    """Strings; numbers only in an anchor of `index_anchor`."""


def anchor_of(condition: ast.Expr) -> Anchor | None:
    """The best anchor of a stage condition, or None when it has none."""
    candidates = [
        a
        for a in (_anchor(term) for term in _top_terms(condition))
        if a is not None and a.field not in UNSELECTIVE_FIELDS
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda a: len(a.values))


def index_anchor(condition: ast.Expr) -> Anchor | None:
    """An anchor with number values or on a shared field (see the module docstring), for a
    stage with no other index; None when the condition has none."""
    candidates = [
        a for a in (_anchor(term, numbers=True) for term in _top_terms(condition)) if a is not None
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda a: (a.field in UNSELECTIVE_FIELDS, len(a.values)))


def categories_of(condition: ast.Expr, category_field: str) -> frozenset[str] | None:
    """The categories a condition requires by an exact (case-sensitive) top-level test of
    `category_field`, or None when it has no such term (any category may match)."""
    found = [
        a.values
        for a in (_anchor(term) for term in _top_terms(condition))
        if a is not None and a.field == category_field and not a.fold
    ]
    return min(found, key=len) if found else None


def _top_terms(condition: ast.Expr) -> tuple[ast.Expr, ...]:
    """The terms of the top-level `and`, nested ones included (`a and (b and c)`: each of
    a, b and c is necessary)."""
    if not isinstance(condition, ast.And):
        return (condition,)
    return tuple(term for part in condition.terms for term in _top_terms(part))


def _anchor(term: ast.Expr, *, numbers: bool = False) -> Anchor | None:
    if isinstance(term, ast.Compare) and term.op == "==":
        return _make(term.left, (term.right,), fold=False, numbers=numbers)
    if isinstance(term, ast.In):
        return _make(term.value, term.options, fold=term.case_insensitive, numbers=numbers)
    if isinstance(term, ast.StringMatch) and term.operator in (":", "like"):
        if numbers and _numbers(term.patterns):
            # `port : 9389`: a number equals one of them; a string matches no pattern.
            return _make(term.value, term.patterns, fold=False, numbers=True)
        literal = string_constants(term.patterns)
        if literal is None or any("*" in v or "?" in v for v in literal):
            return None
        return _make(term.value, term.patterns, fold=term.case_insensitive)
    return None


def _make(
    subject: ast.Expr, options: tuple[ast.Expr, ...], *, fold: bool, numbers: bool = False
) -> Anchor | None:
    if not isinstance(subject, ast.Field):
        return None
    if numbers:
        found = _numbers(options)
        if found:
            return Anchor(subject.name, False, frozenset(found))
    values = string_constants(options)
    if not values:
        return None
    folded = frozenset(v.casefold() for v in values) if fold else frozenset(values)
    return Anchor(subject.name, fold, folded)


def string_constants(options: tuple[ast.Expr, ...]) -> list[str] | None:
    """The values when all are string constants; else None."""
    values: list[str] = []
    for option in options:
        if not (isinstance(option, ast.Literal) and isinstance(option.value, str)):
            return None
        values.append(option.value)
    return values


def _numbers(options: tuple[ast.Expr, ...]) -> list[int | float] | None:
    """The values when all are number constants (not booleans: `true` is no number)."""
    values: list[int | float] = []
    for option in options:
        if not isinstance(option, ast.Literal):
            return None
        value = option.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        values.append(value)
    return values
