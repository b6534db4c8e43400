"""The SDL (Singularity Data Lake) filter language, as used by LOG queries and PowerQuery heads.

| construct                          | meaning                                                    |
|------------------------------------|------------------------------------------------------------|
| `field='value'`, `field==“value”`  | equal, case-sensitive (numbers compare numerically)        |
| `field!='value'`                   | not equal (also true when the field is absent)             |
| `field=*`, `field!=*`              | the field is present / absent                              |
| `field contains 'text'`            | substring, any case (`contains:matchcase` for exact case)  |
| `field in ('a', 'b')`              | equal to one of the values                                 |
| `field matches 'regex'`            | regular-expression search                                  |
| `field < 5` (`<=`, `>`, `>=`)      | ordered comparison (numbers, ISO times, text)              |
| `a and b`, `a b`, `a && b`         | both (juxtaposition is an implicit and)                    |
| `a or b`, `a || b`                 | either; `and` binds tighter than `or`                      |
| `not a`, `!a`, `( )`               | negation, grouping                                         |

Fields are Cloud Funnel dotted keys read exactly as spelt (`tgt.process.name`). Strings are
single- or double-quoted; a backslash escapes the next character. Anything else raises
`QueryParseError`.
"""

from __future__ import annotations

import re
from typing import Any

from lark import Lark, Token, Transformer, v_args

from connector.simulator.parsing import parse_with, regexp_operand
from connector.simulator.predicates import AllOf, AnyOf, ExactField, Negate, Node, Test

__all__ = ["compile_sdl_filter"]

_GRAMMAR = r"""
?start: or_expr

?or_expr: and_expr (OR and_expr)*
?and_expr: not_expr (AND? not_expr)*
?not_expr: NOT not_expr                      -> negate
         | "(" or_expr ")"
         | predicate

predicate: FIELD EQ STAR                     -> present
         | FIELD NE STAR                     -> absent
         | FIELD EQ value                    -> equal
         | FIELD NE value                    -> not_equal
         | FIELD ORDER value                 -> ordered
         | FIELD CONTAINS value              -> contains
         | FIELD IN "(" value ("," value)* ")" -> in_
         | FIELD MATCHES STRING              -> matches

value: STRING | NUMBER

AND.2: /and\b/i | "&&"
OR.2: /or\b/i | "||"
NOT.2: /not\b/i | /!(?!=)/
IN.2: /in\b/i
CONTAINS.2: /contains(?::matchcase|:anycase)?\b/i
MATCHES.2: /matches\b/i

EQ: "==" | "="
NE: "!="
ORDER: "<=" | ">=" | "<" | ">"
STAR: "*"
FIELD: /[A-Za-z_$@][A-Za-z0-9_.:@$]*/
STRING: /'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"/
NUMBER: /-?\d+(\.\d+)?(?![A-Za-z0-9_.])/

%import common.WS
%ignore WS
"""

_PARSER = Lark(_GRAMMAR, parser="lalr", maybe_placeholders=False)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def compile_sdl_filter(expr: str) -> Node:
    """Compile an SDL filter into a predicate over one Cloud Funnel dotted dict.

    Raises QueryParseError (a ValueError) naming the position of the problem.
    """
    return parse_with(_PARSER, _Build(), expr, "filter")


@v_args(inline=True)
class _Build(Transformer[Token, Node]):
    """Turns the parse tree into predicate nodes."""

    def or_expr(self, *items: Any) -> Node:
        return AnyOf(tuple(i for i in items if not isinstance(i, Token)))

    def and_expr(self, *items: Any) -> Node:
        return AllOf(tuple(i for i in items if not isinstance(i, Token)))

    def negate(self, _not: Token, child: Node) -> Node:
        return Negate(child)

    def value(self, token: Token) -> str | int | float:
        text = str(token)
        if token.type == "NUMBER":
            return float(text) if "." in text else int(text)
        return _ESCAPE.sub(r"\1", text[1:-1])

    def present(self, field: Token, _eq: Token, _star: Token) -> Node:
        return Test(ExactField(str(field)), "exists")

    def absent(self, field: Token, _ne: Token, _star: Token) -> Node:
        return Test(ExactField(str(field)), "exists", negated=True)

    def equal(self, field: Token, _eq: Token, value: Any) -> Node:
        return Test(ExactField(str(field)), "=", (value,))

    def not_equal(self, field: Token, _ne: Token, value: Any) -> Node:
        return Test(ExactField(str(field)), "=", (value,), negated=True)

    def ordered(self, field: Token, op: Token, value: Any) -> Node:
        return Test(ExactField(str(field)), str(op), (value,))

    def contains(self, field: Token, op: Token, value: Any) -> Node:
        exact = str(op).casefold().endswith(":matchcase")
        return Test(ExactField(str(field)), "contains" if exact else "contains-fold", (value,))

    def in_(self, field: Token, _in: Token, *values: Any) -> Node:
        return Test(ExactField(str(field)), "in", tuple(values))

    def matches(self, field: Token, _op: Token, pattern: Token) -> Node:
        # Keep regex escapes (\s, \d) as written: only an escaped quote is unescaped.
        quote = str(pattern)[0]
        compiled = regexp_operand(str(pattern)[1:-1].replace("\\" + quote, quote), "filter")
        return Test(ExactField(str(field)), "regexp", (compiled,))
