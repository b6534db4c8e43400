"""The EQL parser: AST shapes, positions in errors, unsupported constructs named."""

from __future__ import annotations

import pytest

from connector.detection.eql import ast
from connector.detection.eql.parser import parse
from connector.errors import RuleError
from tests.conftest import FIXTURES


def condition(text: str) -> ast.Expr:
    body = parse(f"process where {text}").body
    assert isinstance(body, ast.EventQuery)
    return body.condition


def test_event_query_shape() -> None:
    query = parse("network where destination.port == 443", "f.toml")
    assert query == ast.Query(
        body=ast.EventQuery(
            "network", ast.Compare(ast.Field("destination.port"), "==", ast.Literal(443)), 1, 1
        ),
        source="f.toml",
        text="network where destination.port == 443",
    )


def test_any_category_is_none() -> None:
    body = parse("any where true").body
    assert isinstance(body, ast.EventQuery)
    assert body.category is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('x : "a*"', ast.StringMatch(ast.Field("x"), ":", (ast.Literal("a*"),), True)),
        (
            'x like~ ("a", "b")',
            ast.StringMatch(ast.Field("x"), "like", (ast.Literal("a"), ast.Literal("b")), True),
        ),
        ('x regex "a.*"', ast.StringMatch(ast.Field("x"), "regex", (ast.Literal("a.*"),), False)),
        ('x not in ("a")', ast.Not(ast.In(ast.Field("x"), (ast.Literal("a"),)))),
        ('x in~ ("a")', ast.In(ast.Field("x"), (ast.Literal("a"),), True)),
        ("?x.y != null", ast.Compare(ast.Field("x.y", optional=True), "!=", ast.Literal(None))),
        ("`a b`.c == 1", ast.Compare(ast.Field("a b.c"), "==", ast.Literal(1))),
        ("-1 < x", ast.Compare(ast.Literal(-1), "<", ast.Field("x"))),
        (
            'startsWith~(x, "A")',
            ast.FunctionCall("startswith", (ast.Field("x"), ast.Literal("A")), True),
        ),
        (
            'CIDRMATCH(ip, "10.0.0.0/8")',
            ast.FunctionCall("cidrmatch", (ast.Field("ip"), ast.Literal("10.0.0.0/8"))),
        ),
        (
            "x + 1 * 2 == 3",
            ast.Compare(
                ast.Arithmetic(
                    "+", ast.Field("x"), ast.Arithmetic("*", ast.Literal(1), ast.Literal(2))
                ),
                "==",
                ast.Literal(3),
            ),
        ),
    ],
)
def test_expression_shapes(text: str, expected: ast.Expr) -> None:
    assert condition(text) == expected


def test_precedence_not_and_or_and_flattening() -> None:
    got = condition("a == 1 or not b == 2 and c == 3 and d == 4")
    assert isinstance(got, ast.Or)
    second = got.terms[1]
    assert isinstance(second, ast.And) and len(second.terms) == 3
    assert isinstance(second.terms[0], ast.Not)


def test_strings_escapes_and_raw() -> None:
    assert condition('x == "C:\\\\Windows\\t\\""') == ast.Compare(
        ast.Field("x"), "==", ast.Literal('C:\\Windows\t"')
    )
    assert condition('x == """C:\\Windows\\"""') == ast.Compare(
        ast.Field("x"), "==", ast.Literal("C:\\Windows\\")
    )


def test_sequence_shape() -> None:
    query = parse(
        "sequence by host.id with maxspan=1.5s\n"
        "  [process where true] by process.entity_id\n"
        "  [network where true] by process.entity_id with runs=3\n"
        "until [process where false] by process.entity_id"
    )
    body = query.body
    assert isinstance(body, ast.Sequence)
    assert body.by == (ast.Field("host.id"),)
    assert body.maxspan_ms == 1500
    assert [s.runs for s in body.stages] == [1, 3]
    assert body.stages[1].by == (ast.Field("process.entity_id"),)
    assert body.stages[1].query.line == 3
    assert body.until is not None and body.until.query.category == "process"


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("process where x = 1", "use == for equality", 1, 17),
        ("process where x == 'a'", "double quotes", 1, 20),
        ("process where\n  x ==", "ends too early", 2, 5),
        ("join [a where true] [b where true]", "`join` queries are not supported", 1, 1),
        ("sample by x [a where true] [b where true]", "`sample` queries are not supported", 1, 1),
        ("process where descendant of [a where true]", "lineage `descendant of`", 1, 15),
        ("sequence [a where true] ![b where true]", "missing-event stages", 1, 25),
        ("process where true | unique x", "pipe `| unique`", 1, 20),
        ("sequence [a where true] by x [b where true]", "inconsistent number of join keys", 1, 31),
        ("sequence with maxspan=5y [a where true] [b where true]", "unknown time unit", 1, 24),
        ("sequence [a where true] with runs=101", "between 1 and 100", 1, 35),
        ("sequence [a where true]", "at least two stages", 1, 11),
        ('process where x == "\\q"', "invalid escape", 1, 20),
    ],
)
def test_errors_carry_position(text: str, message: str, line: int, column: int) -> None:
    with pytest.raises(RuleError) as caught:
        parse(text, "rule.toml")
    error = caught.value
    assert message in error.message
    assert (error.source, error.line, error.column) == ("rule.toml", line, column)
    assert "^" in str(error)


def test_line_offset_moves_reported_lines() -> None:
    with pytest.raises(RuleError) as caught:
        parse("process where\n x = 1", "r.toml", line_offset=40)
    assert caught.value.line == 42


def test_strings_and_fields_that_look_like_keywords_are_fine() -> None:
    parse('process where x == "join" and y : "descendant of" and event.of == 1')
    parse("process where x == 1 | head 3")


def _translator_queries() -> list[str]:
    text = (FIXTURES / "elasticsearch-eql" / "querytranslator_tests.txt").read_text()
    lines = [line for line in text.splitlines() if not line.startswith("//")]
    queries, index = [], 0
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        index += 1
        body = []
        while not lines[index].rstrip().endswith(";"):
            body.append(lines[index])
            index += 1
        body.append(lines[index].rstrip()[:-1])
        index += 1
        while lines[index].strip() != ";":
            index += 1
        index += 1
        queries.append("\n".join(body))
    return queries


def test_every_query_translator_query_parses() -> None:
    queries = _translator_queries()
    assert len(queries) >= 100
    for text in queries:
        parse(text)
