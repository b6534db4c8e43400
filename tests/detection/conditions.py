"""The condition of an `any where` query, for tests of what is derived from conditions."""

from __future__ import annotations

from connector.detection.eql import ast
from connector.detection.eql.parser import parse


def condition(text: str) -> ast.Expr:
    """The parsed condition `text` (as written after `any where`)."""
    body = parse(f"any where {text}").body
    assert isinstance(body, ast.EventQuery)
    return body.condition
