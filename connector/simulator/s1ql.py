"""S1QL 1.0, the Deep Visibility query language: the subset of sentinelone-api.md §4.1.

| construct                                   | example                                         |
|---------------------------------------------|-------------------------------------------------|
| `=` `!=` `<` `<=` `>` `>=`                  | `EventType = "Process Creation"`, `DstPort > 0` |
| `In`, `Not In`, `In Anycase`                | `TgtProcName In Anycase ("cmd.exe")`            |
| `In Contains [Anycase]`                     | `TgtProcName In Contains Anycase ("cmd")`       |
| `Contains [Anycase]`, `ContainsCIS`         | `TgtProcCmdLine ContainsCIS "http://"`          |
| `Does Not ContainCIS`, `StartsWithCIS`, `EndsWithCIS`                          | |
| `RegExp`                                    | `TgtProcCmdLine RegExp "\\s/c\\s"`              |
| `Is Not Empty`, `Is Empty`, `EXISTS`, `Not Exists`                             | |
| `BETWEEN "…" AND "…"`                       | `EventTime Between "2026-…Z" And "2026-…Z"`     |
| `AND`, `OR`, `NOT`, `( )`                   | keywords in any letter case                     |

Like the real console, and so that a bad pushdown fails loudly in tests, the parser rejects
(with `QueryParseError`, answered as 400 "could not parse query"): an unparenthesised mix of
AND and OR at one level, a backslash in a plain string literal (no escape is documented; only
`RegExp` patterns may hold one), `==`, single-quoted strings, unknown operators, — when
`fields` is given — unknown field names, and on **enum fields** (`EventType`, `EndpointOS`,
`ObjectType`, ...: `connector.sources.s1ql_fields`) any operator but `=`, `!=`, `In`,
`Not In` and any value that is not documented (`"ProcessCreation"`); on numeric fields
(`TgtProcPid`, `DstPort`, ...) any string operator (`ContainsCIS`, `In Anycase`, ...).
String literals are double-quoted and have no escapes. Field names are case-insensitive;
`=` and `In` compare values case-sensitively. An enum value is accepted in any letter case
(stix-shifter sends them upper-cased) but, compared case-sensitively, only the documented
spelling finds events here: whether a console folds case is unconfirmed, so a client that
relies on it fails in tests.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from lark import Lark, Token, Transformer, v_args

from connector.simulator.parsing import QueryParseError, parse_with, regexp_operand
from connector.simulator.predicates import AllOf, AnyOf, FoldedField, Negate, Node, Test
from connector.sources.s1ql_fields import documented_value, enum_values, is_numeric

__all__ = ["QueryParseError", "compile_s1ql"]


_GRAMMAR = r"""
?start: expr

expr: term ((AND | OR) term)*

?term: NOT term                              -> negate
     | "(" expr ")"
     | predicate

predicate: FIELD CMP value                   -> compare
         | FIELD IN list                     -> in_
         | FIELD NOT IN list                 -> not_in
         | FIELD IN ANYCASE list             -> in_anycase
         | FIELD IN CONTAINS list            -> in_contains
         | FIELD IN CONTAINS ANYCASE list    -> in_contains_anycase
         | FIELD CONTAINS value              -> contains
         | FIELD CONTAINS ANYCASE value      -> contains_anycase
         | FIELD CONTAINSCIS value           -> contains_anycase
         | FIELD DOES NOT CONTAINCIS value   -> not_contains_anycase
         | FIELD STARTSWITHCIS value         -> starts_with
         | FIELD ENDSWITHCIS value           -> ends_with
         | FIELD REGEXP STRING               -> regexp
         | FIELD IS NOT EMPTY                -> not_empty
         | FIELD IS EMPTY                    -> empty
         | FIELD EXISTS                      -> exists
         | FIELD NOT EXISTS                  -> not_exists
         | FIELD BETWEEN value AND value     -> between

list: "(" value ("," value)* ")"
value: STRING | NUMBER

AND.2: /and\b/i
OR.2: /or\b/i
NOT.2: /not\b/i
IN.2: /in\b/i
ANYCASE.2: /anycase\b/i
CONTAINS.2: /contains\b/i
CONTAINSCIS.2: /containscis\b/i
CONTAINCIS.2: /containcis\b/i
DOES.2: /does\b/i
STARTSWITHCIS.2: /startswithcis\b/i
ENDSWITHCIS.2: /endswithcis\b/i
REGEXP.2: /regexp\b/i
IS.2: /is\b/i
EMPTY.2: /empty\b/i
EXISTS.2: /exists\b/i
BETWEEN.2: /between\b/i

CMP: "!=" | "<=" | ">=" | "=" | "<" | ">"
FIELD: /[A-Za-z_][A-Za-z0-9_]*/
STRING: /"[^"]*"/
NUMBER: /-?\d+(\.\d+)?(?![A-Za-z0-9_.])/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)
_ENUM_OPS = frozenset({"=", "in"})
_STRING_OPS = frozenset(
    {"contains", "contains-fold", "starts-fold", "ends-fold", "in-fold", "in-contains",
     "in-contains-fold", "regexp"}
)  # fmt: skip
_OP_NAMES = {
    "in-fold": "In Anycase", "in-contains": "In Contains", "in-contains-fold":
    "In Contains Anycase", "contains": "Contains", "contains-fold": "ContainsCIS",
    "starts-fold": "StartsWithCIS", "ends-fold": "EndsWithCIS", "regexp": "RegExp",
    "not-empty": "Is (Not) Empty", "exists": "(Not) Exists", "between": "Between",
}  # fmt: skip


def compile_s1ql(query: str, fields: Collection[str] | None = None) -> Node:
    """Compile an S1QL query into a predicate over one DV camelCase event dict.

    `fields`, when given, is the set of field names the console knows (any case); a query
    naming another field is rejected, as the console rejects it. Raises QueryParseError with
    the position of the problem.
    """
    return parse_with(_PARSER, _Build(fields), query, "query")


@v_args(inline=True)
class _Build(Transformer[Token, Node]):
    """Turns the parse tree into predicate nodes, checking what the grammar cannot."""

    def __init__(self, fields: Collection[str] | None) -> None:
        super().__init__()
        self._known = None if fields is None else {f.casefold() for f in fields}

    def expr(self, *items: Any) -> Node:
        terms = items[0::2]
        ops = {str(op).casefold() for op in items[1::2]}
        if len(ops) > 1:
            raise QueryParseError(
                "could not parse query: AND and OR mixed at one level; add parentheses"
            )
        if not ops:
            return terms[0]  # type: ignore[no-any-return]
        return AllOf(tuple(terms)) if ops == {"and"} else AnyOf(tuple(terms))

    def negate(self, _not: Token, child: Node) -> Node:
        return Negate(child)

    def value(self, token: Token) -> str | int | float:
        text = str(token)
        if token.type == "NUMBER":
            return float(text) if "." in text else int(text)
        return text[1:-1]

    def list(self, *values: Any) -> tuple[Any, ...]:
        return values

    def compare(self, field: Token, cmp: Token, value: Any) -> Node:
        self._check_text(value)
        if str(cmp) == "!=":
            return self._test(field, "=", (value,), negated=True)
        return self._test(field, str(cmp), (value,))

    def in_(self, field: Token, _in: Token, values: Sequence[Any]) -> Node:
        return self._test(field, "in", values)

    def not_in(self, field: Token, _n: Token, _i: Token, values: Sequence[Any]) -> Node:
        return self._test(field, "in", values, negated=True)

    def in_anycase(self, field: Token, _i: Token, _a: Token, values: Sequence[Any]) -> Node:
        return self._test(field, "in-fold", values)

    def in_contains(self, field: Token, _i: Token, _c: Token, values: Sequence[Any]) -> Node:
        return self._test(field, "in-contains", values)

    def in_contains_anycase(self, field: Token, *rest: Any) -> Node:
        return self._test(field, "in-contains-fold", rest[-1])

    def contains(self, field: Token, _c: Token, value: Any) -> Node:
        return self._test(field, "contains", (value,))

    def contains_anycase(self, field: Token, *rest: Any) -> Node:
        return self._test(field, "contains-fold", (rest[-1],))

    def not_contains_anycase(self, field: Token, *rest: Any) -> Node:
        return self._test(field, "contains-fold", (rest[-1],), negated=True)

    def starts_with(self, field: Token, _op: Token, value: Any) -> Node:
        return self._test(field, "starts-fold", (value,))

    def ends_with(self, field: Token, _op: Token, value: Any) -> Node:
        return self._test(field, "ends-fold", (value,))

    def regexp(self, field: Token, _op: Token, pattern: Token) -> Node:
        compiled = regexp_operand(str(pattern)[1:-1], "query")
        return Test(self._field(field, "regexp"), "regexp", (compiled,))

    def not_empty(self, field: Token, *_kw: Token) -> Node:
        return Test(self._field(field, "not-empty"), "not-empty")

    def empty(self, field: Token, *_kw: Token) -> Node:
        return Test(self._field(field, "not-empty"), "not-empty", negated=True)

    def exists(self, field: Token, _kw: Token) -> Node:
        return Test(self._field(field, "exists"), "exists")

    def not_exists(self, field: Token, *_kw: Token) -> Node:
        return Test(self._field(field, "exists"), "exists", negated=True)

    def between(self, field: Token, _b: Token, low: Any, _and: Token, high: Any) -> Node:
        return self._test(field, "between", (low, high))

    def _test(self, field: Token, op: str, values: Sequence[Any], *, negated: bool = False) -> Node:
        for value in values:
            self._check_text(value)
        getter = self._field(field, op)
        if enum_values(str(field)) is not None:
            self._check_enum_values(field, values)
        return Test(getter, op, tuple(values), negated)

    def _field(self, token: Token, op: str) -> FoldedField:
        name = str(token)
        if self._known is not None and name.casefold() not in self._known:
            raise QueryParseError(
                f"could not parse query: unknown field {name!r} at column {token.column}"
            )
        if enum_values(name) is not None and op not in _ENUM_OPS:
            raise QueryParseError(
                f"could not parse query: {name} is an enum field and takes only =, !=, In, "
                f"Not In, not {_OP_NAMES.get(op, op)} (column {token.column})"
            )
        if is_numeric(name) and op in _STRING_OPS:
            raise QueryParseError(
                f"could not parse query: {name} is a numeric field and takes no "
                f"{_OP_NAMES.get(op, op)} (column {token.column})"
            )
        return FoldedField(name)

    @staticmethod
    def _check_enum_values(token: Token, values: Sequence[Any]) -> None:
        name = str(token)
        for value in values:
            if not isinstance(value, str) or documented_value(name, value) is None:
                raise QueryParseError(
                    f"could not parse query: {value!r} is not a value of the enum field "
                    f"{name} (column {token.column})"
                )

    @staticmethod
    def _check_text(value: Any) -> None:
        if isinstance(value, str) and "\\" in value:
            raise QueryParseError(
                f"could not parse query: backslash in string literal {value!r} "
                "(S1QL documents no escapes; match on names, or use RegExp)"
            )
