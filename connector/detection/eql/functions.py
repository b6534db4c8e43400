"""EQL functions and operators on single values, with Elasticsearch's null rules.

Every function takes scalar arguments (the compiler applies them to each element of a
multi-valued field) and returns a scalar. A null argument gives null (None) unless stated;
a value of the wrong type gives null too, so a comparison against it is simply false.

| function                          | result                                             |
|-----------------------------------|----------------------------------------------------|
| `length(s)`                       | number of characters                               |
| `startswith(s, p)` etc.           | see the `~` note: `~` folds case                   |
| `between(s, l, r, greedy=false)`  | text between `l` and `r`, `""` when not found      |
| `indexof(s, sub, start=0)`        | 0-based position or null                           |
| `substring(s, start, end=null)`   | Python slice semantics (negative = from the end)   |
| `number(s, base=10)`              | int/float; base 16 accepts `0x`                    |
| `string(x)`, `concat(x, ...)`     | text; `concat` is null if any argument is null     |
| `add`/`subtract`/`multiply`/`divide`/`modulo` | arithmetic; integer division truncates |
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["FUNCTIONS", "Function", "arith", "compare", "lookup"]

Scalar = Any


@dataclass(frozen=True)
class Function:
    """A registered function: its implementation and how many arguments it takes.

    `boolean` marks functions whose result is a condition (so `f(x) != true` is `not f(x)`)."""

    impl: Callable[..., Scalar]
    min_args: int
    max_args: int | None
    boolean: bool = False
    insensitive_ok: bool = False


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fold(value: str, insensitive: bool) -> str:
    return value.casefold() if insensitive else value


def _strings(*values: object) -> bool:
    return all(isinstance(v, str) for v in values)


def _length(value: Scalar) -> Scalar:
    return len(value) if isinstance(value, str) else None


def _startswith(value: Scalar, prefix: Scalar, *, ci: bool = False) -> Scalar:
    if not _strings(value, prefix):
        return None
    return _fold(value, ci).startswith(_fold(prefix, ci))


def _endswith(value: Scalar, suffix: Scalar, *, ci: bool = False) -> Scalar:
    if not _strings(value, suffix):
        return None
    return _fold(value, ci).endswith(_fold(suffix, ci))


def _stringcontains(value: Scalar, needle: Scalar, *, ci: bool = False) -> Scalar:
    if not _strings(value, needle):
        return None
    return _fold(needle, ci) in _fold(value, ci)


def _between(
    value: Scalar, left: Scalar, right: Scalar, greedy: Scalar = False, *, ci: bool = False
) -> Scalar:
    if not _strings(value, left, right) or not isinstance(greedy, bool):
        return None
    text, lft, rgt = _fold(value, ci), _fold(left, ci), _fold(right, ci)
    start = text.find(lft)
    if start < 0:
        return ""
    start += len(lft)
    end = text.rfind(rgt) if greedy else text.find(rgt, start)
    if end < start:
        return ""
    return value[start:end]


def _indexof(value: Scalar, needle: Scalar, start: Scalar = 0, *, ci: bool = False) -> Scalar:
    if not _strings(value, needle):
        return None
    if start is None:
        start = 0
    if not isinstance(start, int) or isinstance(start, bool):
        return None
    found = _fold(value, ci).find(_fold(needle, ci), max(start, 0))
    return found if found >= 0 else None


def _substring(value: Scalar, start: Scalar, end: Scalar = None) -> Scalar:
    if not isinstance(value, str) or not isinstance(start, int):
        return None
    if end is not None and not isinstance(end, int):
        return None
    return value[start:end]


def _number(value: Scalar, base: Scalar = 10) -> Scalar:
    if _is_number(value):
        return value
    if base is None:
        base = 10
    if not isinstance(value, str) or not isinstance(base, int):
        return None
    text = value.strip()
    try:
        if base == 16 and text.lower().startswith(("0x", "-0x")):
            return int(text, 16)
        if base != 10:
            return int(text, base)
        return int(text) if text.lstrip("+-").isdigit() else float(text)
    except ValueError:
        return None  # not a number: null, so any comparison with it is false


def _string(value: Scalar) -> Scalar:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _concat(*values: Scalar) -> Scalar:
    if any(v is None for v in values):
        return None
    return "".join(_string(v) for v in values)


def arith(op: str, left: Scalar, right: Scalar) -> Scalar:
    """`+ - * / %` with Java semantics for integers (truncating division, sign of dividend)."""
    if not (_is_number(left) and _is_number(right)):
        return None
    if op == "+":
        return left + right
    if op == "-":
        return left - right
    if op == "*":
        return left * right
    if right == 0:
        return None
    if isinstance(left, int) and isinstance(right, int):
        quotient = abs(left) // abs(right) * (1 if (left >= 0) == (right >= 0) else -1)
        return quotient if op == "/" else left - quotient * right
    return left / right if op == "/" else math.fmod(left, right)


def compare(op: str, left: Scalar, right: Scalar) -> Scalar:
    """Three-valued comparison: null if either side is null, false for mismatched types."""
    if left is None or right is None:
        return None
    if _is_number(left) and _is_number(right):
        pass
    elif type(left) is not type(right):
        return False
    if op == "==":
        return bool(left == right)
    if op == "!=":
        return bool(left != right)
    if isinstance(left, bool):
        return False
    if op == "<":
        return bool(left < right)
    if op == "<=":
        return bool(left <= right)
    if op == ">":
        return bool(left > right)
    return bool(left >= right)


def _math(op: str) -> Callable[[Scalar, Scalar], Scalar]:
    def apply(left: Scalar, right: Scalar) -> Scalar:
        return arith(op, left, right)

    return apply


def _compiled_specially(*_args: Scalar) -> Scalar:
    # cidrmatch and wildcard precompile their constant arguments; the compiler never calls this.
    raise AssertionError("compiled by the compiler, not called")


FUNCTIONS: dict[str, Function] = {
    "length": Function(_length, 1, 1),
    "startswith": Function(_startswith, 2, 2, boolean=True, insensitive_ok=True),
    "endswith": Function(_endswith, 2, 2, boolean=True, insensitive_ok=True),
    "stringcontains": Function(_stringcontains, 2, 2, boolean=True, insensitive_ok=True),
    "between": Function(_between, 3, 4, insensitive_ok=True),
    "indexof": Function(_indexof, 2, 3, insensitive_ok=True),
    "substring": Function(_substring, 2, 3),
    "number": Function(_number, 1, 2),
    "string": Function(_string, 1, 1),
    "concat": Function(_concat, 1, None),
    "add": Function(_math("+"), 2, 2),
    "subtract": Function(_math("-"), 2, 2),
    "multiply": Function(_math("*"), 2, 2),
    "divide": Function(_math("/"), 2, 2),
    "modulo": Function(_math("%"), 2, 2),
    "cidrmatch": Function(_compiled_specially, 2, None, boolean=True),
    "wildcard": Function(_compiled_specially, 2, None, boolean=True),
}


def lookup(name: str, argc: int, insensitive: bool) -> Function:
    """The function `name` (lower case), checked for arity; raise ValueError with the reason."""
    function = FUNCTIONS.get(name)
    if function is None:
        raise ValueError(f"unknown function {name!r}")
    if insensitive and not function.insensitive_ok:
        raise ValueError(f"function {name!r} has no case-insensitive (~) form")
    if argc < function.min_args or (function.max_args is not None and argc > function.max_args):
        most = "any number of" if function.max_args is None else str(function.max_args)
        raise ValueError(
            f"function {name!r} takes {function.min_args} to {most} arguments, got {argc}"
        )
    return function
