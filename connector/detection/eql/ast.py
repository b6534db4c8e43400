"""The EQL query AST: small frozen dataclasses, produced by `parser.parse` and read by the
compiler and by the S1QL pushdown.

Node types (every class in this module), with the EQL each comes from:

* `Literal(value)`: str, int, float, bool or None; `"x"`, raw triple-quoted strings, `1`,
  `2.5`, `true`, `null`.
* `Field(name, optional)`: a dotted name; `process.name`, `?process.name`, `` `a b`.c ``.
* `Compare(left, op, right)`: op is `==` `!=` `<` `<=` `>` `>=`; `exit_code > -1`.
* `In(value, options, case_insensitive)`: `x in ("a", "b")`, `x in~ ("a")`.
* `StringMatch(value, operator, patterns, case_insensitive)`: operator is `:`, `like` or
  `regex`; `x : "a*"`, `x like~ ("a*", "b")`, `x regex "a.*"`.
* `FunctionCall(name, args, case_insensitive)`: name lower-cased without `~`;
  `cidrMatch(ip, "10.0.0.0/8")`, `startsWith~(x, "a")`.
* `Arithmetic(op, left, right)`: op is `+ - * / %`; `serial_event_id + 1`.
* `Negate(operand)`: unary minus on a non-constant, `-pid`.
* `Not(operand)`, `And(terms)`, `Or(terms)`: boolean logic.
* `EventQuery(category, condition, line, column)`: `process where ...`; category None = `any`.
* `SequenceStage(query, by, runs)`: `[process where ...] by x with runs=2`.
* `Sequence(by, maxspan_ms, stages, until)`: `sequence by k with maxspan=15s [..] [..] until [..]`.
* `Pipe(name, count, line, column)`: `| head 5` / `| tail 5` (parsed; detection rejects pipes).
* `Query(body, pipes, source, text)`: a whole query; body is an `EventQuery` or a `Sequence`.

Conventions the readers rely on:

* `x not in (...)` is `Not(In(...))`; `x != y` stays a `Compare` with `op="!="`.
* `:` is always case-insensitive (`case_insensitive=True`); `like~`/`regex~`/`in~` set it too.
* The right-hand side of `:`/`like`/`regex` is always a tuple (one element when no list was
  written).
* `And`/`Or` are flattened: `a and b and c` is one `And` of three terms.
* `by` keys of a `SequenceStage` are the stage's own keys only; the effective join key of a stage
  is `Sequence.by + stage.by`. `runs` is 1 unless `with runs=N` was written.
* Duration literals are converted to milliseconds (`maxspan_ms`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal as TypingLiteral

__all__ = [
    "And",
    "ArithOp",
    "Arithmetic",
    "Compare",
    "CompareOp",
    "EventQuery",
    "Expr",
    "Field",
    "FunctionCall",
    "In",
    "Literal",
    "LiteralValue",
    "MatchOp",
    "Negate",
    "Not",
    "Or",
    "Pipe",
    "Query",
    "Sequence",
    "SequenceStage",
    "StringMatch",
]

LiteralValue = str | int | float | bool | None
CompareOp = TypingLiteral["==", "!=", "<", "<=", ">", ">="]
MatchOp = TypingLiteral[":", "like", "regex"]
ArithOp = TypingLiteral["+", "-", "*", "/", "%"]


@dataclass(frozen=True)
class Literal:
    """A constant: string (escapes already applied), number, boolean or null."""

    value: LiteralValue


@dataclass(frozen=True)
class Field:
    """A field reference by its dotted name; `optional` when written `?name`."""

    name: str
    optional: bool = False


@dataclass(frozen=True)
class Compare:
    """`left op right`; `==`/`!=` are case-sensitive and never use wildcards."""

    left: Expr
    op: CompareOp
    right: Expr


@dataclass(frozen=True)
class In:
    """`value in (options...)`; `in~` sets `case_insensitive`. `not in` is `Not(In(...))`."""

    value: Expr
    options: tuple[Expr, ...]
    case_insensitive: bool = False


@dataclass(frozen=True)
class StringMatch:
    """`value : patterns`, `value like patterns`, `value regex patterns` (any pattern matches)."""

    value: Expr
    operator: MatchOp
    patterns: tuple[Expr, ...]
    case_insensitive: bool = False


@dataclass(frozen=True)
class FunctionCall:
    """A function call; `name` is lower-cased and without the `~` (see `case_insensitive`)."""

    name: str
    args: tuple[Expr, ...]
    case_insensitive: bool = False


@dataclass(frozen=True)
class Arithmetic:
    """`left op right` with `+ - * / %` (integer `/` truncates, as in Elasticsearch)."""

    op: ArithOp
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Negate:
    """Unary minus."""

    operand: Expr


@dataclass(frozen=True)
class Not:
    """Boolean negation (Elasticsearch `must_not`: true when the operand's field is missing)."""

    operand: Expr


@dataclass(frozen=True)
class And:
    """Conjunction of two or more terms."""

    terms: tuple[Expr, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more terms."""

    terms: tuple[Expr, ...]


Expr = (
    Literal
    | Field
    | Compare
    | In
    | StringMatch
    | FunctionCall
    | Arithmetic
    | Negate
    | Not
    | And
    | Or
)


@dataclass(frozen=True)
class EventQuery:
    """`category where condition`; `category` is None for `any where`.

    `line`/`column` locate the query's first token in the query text (1-based)."""

    category: str | None
    condition: Expr
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class SequenceStage:
    """One `[...]` of a sequence, with its own `by` keys and `with runs=N` count."""

    query: EventQuery
    by: tuple[Expr, ...] = ()
    runs: int = 1


@dataclass(frozen=True)
class Sequence:
    """`sequence [by keys] [with maxspan=D] stage stage... [until stage]`."""

    by: tuple[Expr, ...]
    maxspan_ms: int | None
    stages: tuple[SequenceStage, ...]
    until: SequenceStage | None = None


@dataclass(frozen=True)
class Pipe:
    """`| head N` or `| tail N`: parsed so that the error can name it; detection rejects pipes."""

    name: str
    count: int
    line: int = 1
    column: int = 1


@dataclass(frozen=True)
class Query:
    """A parsed query: the body, any pipes, and where it came from (for messages)."""

    body: EventQuery | Sequence
    pipes: tuple[Pipe, ...] = ()
    source: str = ""
    text: str = ""
