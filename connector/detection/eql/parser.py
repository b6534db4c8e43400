"""Parse EQL text into the AST of `ast.py`.

`parse(query, source)` returns a `Query` or raises `RuleError` carrying the line, column and the
offending line of text (the caret points at the problem). Constructs we do not evaluate are
rejected by name before parsing (see `unsupported.py`), so a rule using `join` or
`descendant of` says so instead of failing with an unexpected token.

The grammar and its tree transformer live in `transform.py`, imported on the first query that
is not memoised here: lark and the grammar cost ~50 ms to import, and a run whose rules come
from the rule cache needs neither.
"""

from __future__ import annotations

from connector.detection.eql import ast

__all__ = ["PARSED", "parse"]

PARSED: dict[tuple[str, str, int], ast.Query] = {}
"""Queries parsed so far, by (text, source, line offset): loading, compiling and pushdown
each ask for the same rules. `rule_cache.py` seeds it from disk. ASTs are immutable."""
_PARSED_SIZE = 8192


def parse(query: str, source: str = "", *, line_offset: int = 0) -> ast.Query:
    """Parse one EQL query into a `Query`.

    `source` names its origin for messages; `line_offset` is added to reported line numbers (a
    query that starts on line 40 of a rule file passes 39). Raises RuleError with the line,
    column and offending line for syntax errors and for unsupported constructs, named."""
    key = (query, source, line_offset)
    parsed = PARSED.get(key)
    if parsed is None:
        parsed = _parse(query, source, line_offset)
        if len(PARSED) >= _PARSED_SIZE:
            PARSED.pop(next(iter(PARSED)))
        PARSED[key] = parsed
    return parsed


def _parse(query: str, source: str, line_offset: int) -> ast.Query:
    from connector.detection.eql.transform import parse_text  # noqa: PLC0415 - lazy: start-up

    return parse_text(query, source, line_offset)
