"""Compile an EQL condition into one plain Python function over a flat ECS event.

The compiler generates the source of a small function (`def condition(e): return ...`) and
compiles it once per rule stage. Generated code rather than nested closures because it is both
the fastest thing CPython runs (one frame per event, short-circuiting `and`/`or`) and easy to
read: `CompiledCondition.source` shows exactly what runs, e.g. for the seed rule's stage 2:

    def condition(e):
        return (((_v1 := e.get('process.name')).__class__ is str and _v1.casefold() == 'cmd.exe')
                or (_v1.__class__ is list and _match_any(_v1, _k0))) and ...

Constant work (case folding of literals, wildcard classification, regexes, CIDR lists) happens
here, once. Terms of `and`/`or` are ordered cheapest and most selective first.

Semantics (Elasticsearch's, see eql-semantics.md §2-3): a comparison against a multi-valued
field holds if it holds for some element; `not`/`!=` are true when the field is missing;
a comparison with a value of another type is false; comparisons with null inside expressions
are null (false at the top).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.detection.eql import ast
from connector.detection.eql.codegen import Generator
from connector.detection.model import Event

__all__ = ["CompiledCondition", "compile_condition"]


@dataclass(frozen=True)
class CompiledCondition:
    """A compiled condition: `fn(event) -> bool`, its generated source and the fields it reads."""

    fn: Callable[[Event], bool]
    source: str
    fields: frozenset[str]


def compile_condition(condition: ast.Expr) -> CompiledCondition:
    """Compile `condition`; raise ValueError naming the problem (unknown function, bad
    regex or CIDR, an expression that is not a condition)."""
    generator = Generator()
    body = generator.condition(condition).code
    source = f"def condition(e):\n    return {body}\n"
    namespace: dict[str, Any] = generator.namespace()
    exec(compile(source, "<eql condition>", "exec"), namespace)
    return CompiledCondition(namespace["condition"], source, frozenset(generator.fields))
