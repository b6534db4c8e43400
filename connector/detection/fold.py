"""Fold a rule against the fields the mapping produces: can it fire on SentinelOne data at all?

A field the mapping never writes is absent from every event, so every comparison that reads
only such fields has one fixed value (Elasticsearch semantics for a missing field: `:`/`==`/
`in`/`regex`/functions false, `!=` and `not …` true). Substituting those constants and
simplifying tells, per stage, whether the condition is constantly false — the rule can never
fire and is *skipped with its reason* — or still depends on mapped data. No pySigma here: it
works on the engine's own AST, for Sigma and TOML rules alike.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from connector.detection.eql import ast
from connector.detection.eql.compiler import compile_condition

__all__ = ["Folded", "fields_of", "fold_condition"]


@dataclass(frozen=True)
class Folded:
    """`value` is True/False when the condition is constant on S1 data, else None.
    `missing` names the absent fields whose tests come out false (sorted): for a constantly
    false condition, the telemetry it would need."""

    value: bool | None
    missing: tuple[str, ...]


def fields_of(expr: ast.Expr) -> set[str]:
    """Every field name `expr` reads."""
    if isinstance(expr, ast.Field):
        return {expr.name}
    names: set[str] = set()
    for child in _children(expr):
        names |= fields_of(child)
    return names


def _children(expr: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(expr, ast.Compare | ast.Arithmetic):
        return (expr.left, expr.right)
    if isinstance(expr, ast.In):
        return (expr.value, *expr.options)
    if isinstance(expr, ast.StringMatch):
        return (expr.value, *expr.patterns)
    if isinstance(expr, ast.FunctionCall):
        return expr.args
    if isinstance(expr, ast.Negate | ast.Not):
        return (expr.operand,)
    if isinstance(expr, ast.And | ast.Or):
        return expr.terms
    return ()


def fold_condition(condition: ast.Expr, produced: Collection[str]) -> Folded:
    """Fold `condition` assuming only `produced` fields can ever be present."""
    if all(name in produced for name in fields_of(condition)):
        return Folded(None, ())
    culprits: set[str] = set()
    value = _fold(condition, lambda name: name not in produced, False, culprits)
    return Folded(value, tuple(sorted(culprits)))


def _fold(
    expr: ast.Expr, absent: Callable[[str], bool], negated: bool, culprits: set[str]
) -> bool | None:
    """Three-valued fold; `culprits` collects the fields of tests that end up false once the
    enclosing `not`s (`negated`) are applied."""
    if isinstance(expr, ast.And):
        values = [_fold(term, absent, negated, culprits) for term in expr.terms]
        if False in values:
            return False
        return True if all(v is True for v in values) else None
    if isinstance(expr, ast.Or):
        values = [_fold(term, absent, negated, culprits) for term in expr.terms]
        if True in values:
            return True
        return False if all(v is False for v in values) else None
    if isinstance(expr, ast.Not):
        inner = _fold(expr.operand, absent, not negated, culprits)
        return None if inner is None else not inner
    names = fields_of(expr)
    if not names or not all(absent(name) for name in names):
        return None
    # Every field this test reads is absent: its value is the test on an empty event.
    value = bool(compile_condition(expr).fn({}))
    if value == negated:  # false once the enclosing `not`s apply
        culprits.update(names)
    return value
