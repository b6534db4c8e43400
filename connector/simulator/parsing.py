"""What the two query grammars share: the error type and the lark boundary."""

from __future__ import annotations

from typing import Any

from lark import Lark, Token, Transformer
from lark.exceptions import LarkError, VisitError

from connector.simulator.predicates import Node, compile_regexp

__all__ = ["QueryParseError", "describe_lark_error", "parse_with", "regexp_operand"]


class QueryParseError(ValueError):
    """The query is not in the language subset the simulator (and the console) accepts."""


def parse_with(parser: Lark, build: Transformer[Token, Node], text: str, what: str) -> Node:
    """Parse `text` and build predicate nodes; every failure is a QueryParseError that says
    `could not parse <what>` and where."""
    try:
        node: Node = build.transform(parser.parse(text))
    except VisitError as exc:
        if isinstance(exc.orig_exc, QueryParseError):
            raise exc.orig_exc from exc
        raise
    except LarkError as exc:
        raise QueryParseError(f"could not parse {what}: {describe_lark_error(exc)}") from exc
    return node


def describe_lark_error(exc: LarkError) -> str:
    """What went wrong and where, from a lark exception (no internals)."""
    line = getattr(exc, "line", None)
    column = getattr(exc, "column", None)
    token = getattr(exc, "token", None)
    char = getattr(exc, "char", None)
    what = f"unexpected {str(token)!r}" if token is not None else f"unexpected {char!r}"
    if token is not None and getattr(token, "type", "") == "$END":
        what = "unexpected end of query"
    where = f" at line {line}, column {column}" if line is not None else ""
    return what + where


def regexp_operand(pattern: str, what: str) -> Any:
    """A compiled regular expression for a query, or QueryParseError naming it."""
    try:
        return compile_regexp(pattern)
    except ValueError as exc:
        raise QueryParseError(f"could not parse {what}: {exc}") from exc
