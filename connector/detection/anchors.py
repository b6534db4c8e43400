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
"""

from __future__ import annotations

from dataclasses import dataclass

from connector.detection.eql import ast
from connector.detection.eql.codegen import UNSELECTIVE_FIELDS

__all__ = ["Anchor", "anchor_of"]


@dataclass(frozen=True)
class Anchor:
    """`field` must hold one of `values` (case-folded first when `fold`)."""

    field: str
    fold: bool
    values: frozenset[str]


def anchor_of(condition: ast.Expr) -> Anchor | None:
    """The best anchor of a stage condition, or None when it has none."""
    terms = condition.terms if isinstance(condition, ast.And) else (condition,)
    candidates = [a for a in (_anchor(term) for term in terms) if a is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda a: len(a.values))


def _anchor(term: ast.Expr) -> Anchor | None:
    if isinstance(term, ast.Compare) and term.op == "==":
        return _make(term.left, (term.right,), fold=False)
    if isinstance(term, ast.In):
        return _make(term.value, term.options, fold=term.case_insensitive)
    if isinstance(term, ast.StringMatch) and term.operator in (":", "like"):
        literal = _strings(term.patterns)
        if literal is None or any("*" in v or "?" in v for v in literal):
            return None
        return _make(term.value, term.patterns, fold=term.case_insensitive)
    return None


def _make(subject: ast.Expr, options: tuple[ast.Expr, ...], *, fold: bool) -> Anchor | None:
    if not isinstance(subject, ast.Field) or subject.name in UNSELECTIVE_FIELDS:
        return None
    values = _strings(options)
    if not values:
        return None
    folded = frozenset(v.casefold() for v in values) if fold else frozenset(values)
    return Anchor(subject.name, fold, folded)


def _strings(options: tuple[ast.Expr, ...]) -> list[str] | None:
    values: list[str] = []
    for option in options:
        if not (isinstance(option, ast.Literal) and isinstance(option.value, str)):
            return None
        values.append(option.value)
    return values
