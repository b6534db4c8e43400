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

import logging
import marshal
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from types import CodeType
from typing import Any

from connector.detection.eql import ast
from connector.detection.eql.codegen import Generator
from connector.detection.model import Event

__all__ = [
    "GENERATED",
    "STORED",
    "UNPICKLING_ERRORS",
    "CompiledCondition",
    "Generated",
    "compile_condition",
    "from_generated",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CompiledCondition:
    """A compiled condition: `fn(event) -> bool`, its generated source and the fields it reads.

    It pickles as the `Generated` it was made from (the function itself cannot be pickled):
    unpickling runs `from_generated`, one `exec` of the stored bytecode (`rule_cache.py`)."""

    fn: Callable[[Event], bool]
    source: str
    fields: frozenset[str]
    generated: Generated | None = field(default=None, compare=False, repr=False)

    def __reduce__(self) -> tuple[Callable[[Generated], CompiledCondition], tuple[Generated]]:
        if self.generated is None:
            raise pickle.PicklingError("a compiled condition without its generated code")
        return (from_generated, (self.generated,))


@dataclass(frozen=True)
class Generated:
    """What code generation made of a condition, in a form that can be kept on disk
    (`rule_cache.py`): the source, its bytecode (`marshal`), its constants, the fields."""

    source: str
    bytecode: bytes
    constants: dict[str, Any]
    fields: frozenset[str]


GENERATED: dict[str, Generated] = {}
"""Generated code by the `repr` of the condition's AST, seeded from disk. Not by the AST
itself: `Literal(2) == Literal(2.0)` and `Literal(1) == Literal(True)` in Python, while
EQL divides, compares and matches them differently."""

STORED: dict[str, bytes] = {}
"""Generated code read from disk by `rule_cache.py`, by the same key, each entry still a
pickle of a `Generated`: it is unpickled (and moved to `GENERATED`) when a condition asks for
it, because the cache holds the code of every rule set run before and a run needs few of them.
An entry that does not unpickle to a `Generated` is generated again."""

UNPICKLING_ERRORS = (
    pickle.UnpicklingError,
    EOFError,
    AttributeError,
    ImportError,
    IndexError,
    KeyError,
    TypeError,
    ValueError,
)
"""What `pickle.loads` raises for truncated, corrupt or outdated data (a class renamed)."""


def compile_condition(condition: ast.Expr) -> CompiledCondition:
    """Compile `condition`; raise ValueError naming the problem (unknown function, bad
    regex or CIDR, an expression that is not a condition)."""
    key = repr(condition)
    generated = GENERATED.get(key)
    if generated is None:
        generated = _stored(key) or _generate(condition)
        GENERATED[key] = generated
    return from_generated(generated)


def from_generated(generated: Generated) -> CompiledCondition:
    """The condition `generated` holds the code of (one `exec`, no code generation)."""
    namespace = Generator.base_namespace(generated.constants)
    code = marshal.loads(generated.bytecode)  # our own cache (rule_cache.py)
    assert isinstance(code, CodeType)
    exec(code, namespace)
    return CompiledCondition(namespace["condition"], generated.source, generated.fields, generated)


def _stored(key: str) -> Generated | None:
    blob = STORED.pop(key, None)
    if blob is None:
        return None
    try:
        item = pickle.loads(blob)  # our own cache, in a private folder (rule_cache.py)
    except UNPICKLING_ERRORS as exc:
        log.debug("stored code of a condition unreadable, generated again: %s", exc)
        return None
    return item if isinstance(item, Generated) else None


def _generate(condition: ast.Expr) -> Generated:
    generator = Generator()
    body = generator.condition(condition).code
    source = f"def condition(e):\n    return {body}\n"
    bytecode = marshal.dumps(compile(source, "<eql condition>", "exec"))
    return Generated(source, bytecode, generator.constants, frozenset(generator.fields))
