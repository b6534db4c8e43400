"""Compiled query trees: small node objects that answer "does this record match?".

Both query languages the simulator understands (S1QL for Deep Visibility, the SDL filter
language for long-running queries) compile to the same nodes, so their semantics for a
missing field, a number compared with a numeric string, or a time compared with an ISO
literal are written once, here.

Missing values: a field that is absent or `None` fails every positive test (`=`, `In`,
`Contains`, ...) and passes every negated one (`!=`, `Not In`, `Does Not ContainCIS`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.timeutil import to_datetime, to_epoch_ms

__all__ = [
    "MISSING",
    "OPERATORS",
    "AllOf",
    "AnyOf",
    "ExactField",
    "FieldGetter",
    "FoldedField",
    "Negate",
    "Node",
    "Test",
    "compile_regexp",
    "order_key",
    "text_of",
]

Literal = str | int | float
"""A query literal: quoted text, or a number."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()
"""What a getter returns for an absent field (distinct from every real value)."""

FieldGetter = Callable[[Mapping[str, Any]], Any]
Node = Callable[[Mapping[str, Any]], bool]


class ExactField:
    """Reads one key exactly as written (SDL / Cloud Funnel keys are case-sensitive)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"ExactField({self.name!r})"

    def __call__(self, record: Mapping[str, Any]) -> Any:
        value = record.get(self.name, MISSING)
        return MISSING if value is None else value


class FoldedField:
    """Reads one key whatever its letter case (S1QL field names are case-insensitive).

    The first record that has the key teaches the getter its real spelling, so records of
    one scenario (which all spell keys alike) cost one dict lookup after that.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._folded = name.casefold()
        self._spelling: str | None = None

    def __repr__(self) -> str:
        return f"FoldedField({self.name!r})"

    def __call__(self, record: Mapping[str, Any]) -> Any:
        if self._spelling is not None and self._spelling in record:
            return _present(record[self._spelling])
        for key in record:
            if key.casefold() == self._folded:
                self._spelling = key
                return _present(record[key])
        return MISSING


def _present(value: Any) -> Any:
    return MISSING if value is None else value


def text_of(value: Any) -> str:
    """The text a string operator sees: booleans as DV writes them, numbers in decimal."""
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def order_key(value: Any) -> tuple[int, float | str]:
    """A sort key for `<`, `>`, `BETWEEN`: numbers, then times (as epoch ms), then text.

    Values of different kinds never compare true (the kind is the tuple's first item and the
    comparison functions check it), so `"abc" > 5` is simply false.
    """
    number = _number(value)
    if number is not None:
        return (0, number)
    if isinstance(value, str) and len(value) >= 10 and value[4:5] == "-":
        moment = to_datetime(value)
        if moment is not None:
            return (0, float(to_epoch_ms(moment)))
    return (1, text_of(value))


def _equal(value: Any, literal: Literal) -> bool:
    if isinstance(literal, str):
        return text_of(value) == literal
    return _number(value) == float(literal)


def _fold_equal(value: Any, literal: Literal) -> bool:
    return text_of(value).casefold() == text_of(literal).casefold()


def _ordered(value: Any, literal: Literal, accept: Callable[[Any, Any], bool]) -> bool:
    left, right = order_key(value), order_key(literal)
    return left[0] == right[0] and bool(accept(left[1], right[1]))


def _between(value: Any, low: Literal, high: Literal) -> bool:
    key, lo, hi = order_key(value), order_key(low), order_key(high)
    if not key[0] == lo[0] == hi[0]:
        return False
    return bool(lo[1] <= key[1] <= hi[1])  # type: ignore[operator]


def _contains(value: Any, literal: Literal) -> bool:
    return text_of(literal) in text_of(value)


def _fold_contains(value: Any, literal: Literal) -> bool:
    return text_of(literal).casefold() in text_of(value).casefold()


def _fold_starts(value: Any, literal: Literal) -> bool:
    return text_of(value).casefold().startswith(text_of(literal).casefold())


def _fold_ends(value: Any, literal: Literal) -> bool:
    return text_of(value).casefold().endswith(text_of(literal).casefold())


def _any(test: Callable[[Any, Literal], bool]) -> Callable[[Any, Sequence[Any]], bool]:
    return lambda value, literals: any(test(value, lit) for lit in literals)


def _one(test: Callable[[Any, Literal], bool]) -> Callable[[Any, Sequence[Any]], bool]:
    return lambda value, literals: test(value, literals[0])


_ONE_VALUE: dict[str, Callable[[Any, Literal], bool]] = {
    "=": _equal,
    "<": lambda v, lit: _ordered(v, lit, lambda a, b: a < b),
    "<=": lambda v, lit: _ordered(v, lit, lambda a, b: a <= b),
    ">": lambda v, lit: _ordered(v, lit, lambda a, b: a > b),
    ">=": lambda v, lit: _ordered(v, lit, lambda a, b: a >= b),
    "contains": _contains,
    "contains-fold": _fold_contains,
    "starts-fold": _fold_starts,
    "ends-fold": _fold_ends,
}

OPERATORS: dict[str, Callable[[Any, Sequence[Any]], bool]] = {
    **{name: _one(test) for name, test in _ONE_VALUE.items()},
    "in": _any(_equal),
    "in-fold": _any(_fold_equal),
    "in-contains": _any(_contains),
    "in-contains-fold": _any(_fold_contains),
    "between": lambda v, lits: _between(v, lits[0], lits[1]),
    "regexp": lambda v, lits: lits[0].search(text_of(v)) is not None,
    "exists": lambda v, lits: True,
    "not-empty": lambda v, lits: text_of(v) != "",
}
"""Positive operators by name: `(field value, operands) -> bool`, never given MISSING."""


@dataclass(frozen=True)
class Test:
    """One comparison: `op` from OPERATORS applied to a field; `negated` flips the answer.

    A MISSING value fails the positive test before the operator runs, so a negated test
    passes on it (see the module docstring).
    """

    field: FieldGetter
    op: str
    operands: tuple[Any, ...] = ()
    negated: bool = False

    def __post_init__(self) -> None:
        if self.op not in OPERATORS:
            raise ValueError(f"unknown operator {self.op!r}")

    def __call__(self, record: Mapping[str, Any]) -> bool:
        value = self.field(record)
        hit = value is not MISSING and OPERATORS[self.op](value, self.operands)
        return hit != self.negated


@dataclass(frozen=True)
class AllOf:
    """True when every child is true (AND)."""

    children: tuple[Node, ...]

    def __call__(self, record: Mapping[str, Any]) -> bool:
        return all(child(record) for child in self.children)


@dataclass(frozen=True)
class AnyOf:
    """True when some child is true (OR)."""

    children: tuple[Node, ...]

    def __call__(self, record: Mapping[str, Any]) -> bool:
        return any(child(record) for child in self.children)


@dataclass(frozen=True)
class Negate:
    """True when the child is false (NOT)."""

    child: Node

    def __call__(self, record: Mapping[str, Any]) -> bool:
        return not self.child(record)


def compile_regexp(pattern: str) -> re.Pattern[str]:
    """Compile a query's regular expression; raise ValueError naming it when invalid."""
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
