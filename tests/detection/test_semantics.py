"""Condition semantics (eql-semantics.md §2-3): arrays, nulls, negation, case, wildcards,
regexes, CIDR, functions, types. Each row: condition, event, expected."""

from __future__ import annotations

from typing import Any

import pytest

from connector.detection.eql import ast
from connector.detection.eql.compiler import compile_condition
from connector.detection.eql.parser import parse

ARGS = {"process.args": ["cmd.exe", "/C", "run.BAT"]}

ROWS: list[tuple[str, dict[str, Any], bool]] = [
    # any-element semantics on lists
    ('process.args : ("/c", "/k")', ARGS, True),
    ('process.args : "*.bat"', ARGS, True),
    ('process.args == "/c"', ARGS, False),
    ('process.args == "/C"', ARGS, True),
    ('event.type == "start"', {"event.type": ["start", "connection"]}, True),
    ('process.args : "/c"', {"process.args": "cmd.exe /c run.bat"}, False),
    # negation is must_not: true on missing fields
    ('process.name != "x"', {}, True),
    ('not process.name : "x"', {}, True),
    ('process.name : "x"', {}, False),
    ('process.args != "/C"', ARGS, False),
    ('not cidrmatch(destination.ip, "10.0.0.0/8")', {}, True),
    ('x not in ("a", "b")', {"x": ["c", "a"]}, False),
    # null tests
    ("x == null", {}, True),
    ("x == null", {"x": None}, True),
    ("x == null", {"x": []}, True),
    ("x != null", {"x": "v"}, True),
    ("x != null", {}, False),
    ("null == (x > 1)", {}, True),
    ("null == (x > 1)", {"x": 5}, False),
    # case rules
    ('x == "Windows"', {"x": "windows"}, False),
    ('x : "WINDOWS"', {"x": "windows"}, True),
    ('x like "WIN*"', {"x": "windows"}, False),
    ('x like~ "WIN*"', {"x": "windows"}, True),
    ('x in ("A")', {"x": "a"}, False),
    ('x in~ ("A")', {"x": "a"}, True),
    ('x : "STRASSE"', {"x": "straße"}, True),
    # wildcards are anchored; everything but * and ? is literal
    ('x : "*.bat"', {"x": "run.bat.txt"}, False),
    ('x : "r?n.bat"', {"x": "run.bat"}, True),
    ('x : "r?n.bat"', {"x": "ruun.bat"}, False),
    ('x : "a.c"', {"x": "abc"}, False),
    ('x : "C:\\\\Windows\\\\*"', {"x": "c:\\windows\\system32\\cmd.exe"}, True),
    ('x : "*[a]*"', {"x": "x[a]y"}, True),
    ('x : "*"', {"x": ""}, True),
    ('x : "*"', {}, False),
    ('x : "*http://*"', {"x": "curl HTTP://evil"}, True),
    # regexes are anchored, Lucene-style
    ('x regex "ab+"', {"x": "abbb"}, True),
    ('x regex "ab+"', {"x": "xabbb"}, False),
    ('x regex~ "AB+"', {"x": "abb"}, True),
    ('x regex "a$b"', {"x": "a$b"}, True),
    # cidrmatch
    ('cidrmatch(ip, "10.0.0.0/8", "FE80::/10")', {"ip": "10.1.2.3"}, True),
    ('cidrmatch(ip, "10.0.0.0/8", "FE80::/10")', {"ip": "fe80::1"}, True),
    ('cidrmatch(ip, "::1")', {"ip": "::1"}, True),
    ('cidrmatch(ip, "8.8.8.8")', {"ip": "8.8.8.9"}, False),
    ('cidrmatch(ip, "::ffff:0:0/96")', {"ip": "10.0.0.1"}, False),
    ('cidrmatch(ip, "10.0.0.0/8")', {"ip": "not an ip"}, False),
    ('CidrMatch(ip, "10.0.0.0/8")', {"ip": ["8.8.8.8", "10.0.0.1"]}, True),
    # functions: case-insensitive names, `~` variants, nulls
    ('STARTSWITH(x, "ab")', {"x": "abc"}, True),
    ('startswith(x, "AB")', {"x": "abc"}, False),
    ('startswith~(x, "AB")', {"x": "abc"}, True),
    ('endsWith(x, "*")', {"x": "a*"}, True),
    ('stringContains(x, "b")', {"x": ["zz", "abc"]}, True),
    ("length(x) == 3", {"x": "abc"}, True),
    ("length(x) > 0", {}, False),
    ("not length(x) > 0", {}, True),
    ('between(x, "a", "c") == "b"', {"x": "abc"}, True),
    ('substring(x, -2) == "bc"', {"x": "abc"}, True),
    ('indexOf(x, "c") == 2', {"x": "abc"}, True),
    ("number(x, 16) == 255", {"x": "0xff"}, True),
    ('string(x) == "5"', {"x": 5}, True),
    ('concat(x, "-", y) == "a-b"', {"x": "a", "y": "b"}, True),
    ("add(x, 2) == 5", {"x": 3}, True),
    ("x / 2 == 2", {"x": 5}, True),
    ("x % 3 == -1", {"x": -4}, True),
    ("-x == -3", {"x": 3}, True),
    # types: a mismatch is false, not an error
    ('x == "1"', {"x": 1}, False),
    ('x > "a"', {"x": 5}, False),
    ('x < "b"', {"x": "a"}, True),
    ("x == 1", {"x": True}, False),
    ("x in (1, 2)", {"x": True}, False),
    ("x", {"x": True}, True),
    ("x == true", {"x": [False, True]}, True),
    # field against field, optional fields
    ("x == y", {"x": "a", "y": ["b", "a"]}, True),
    ("?x == ?y", {}, True),
    ("?x == y", {}, True),
    ("?x == y", {"y": "a"}, False),
    ('?x == "a"', {}, False),
]


@pytest.mark.parametrize(("text", "event", "expected"), ROWS, ids=[r[0] for r in ROWS])
def test_condition(text: str, event: dict[str, Any], expected: bool) -> None:
    body = parse(f"any where {text}").body
    assert isinstance(body, ast.EventQuery)
    assert compile_condition(body.condition).fn(event) is expected


def test_compiled_condition_reports_fields_and_source() -> None:
    body = parse('any where a : "x" and length(b) > 1 and not cidrmatch(c, "::1")').body
    assert isinstance(body, ast.EventQuery)
    compiled = compile_condition(body.condition)
    assert compiled.fields == {"a", "b", "c"}
    assert compiled.source.startswith("def condition(e):")


def test_cheap_selective_checks_come_first() -> None:
    body = parse(
        'any where not cidrmatch(ip, "10.0.0.0/8") and host.os.type == "windows"'
        ' and process.name : "cmd.exe"'
    ).body
    assert isinstance(body, ast.EventQuery)
    source = compile_condition(body.condition).source
    assert source.index("process.name") < source.index("host.os.type") < source.index("ip")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("nosuch(x)", "unknown function"),
        ("length(x, y)", "takes 1 to 1 arguments"),
        ("length~(x)", "no case-insensitive"),
        ('cidrmatch(ip, "not a net")', "not an IP network"),
        ('x regex "(?i)a"', "invalid regex"),
        ('x regex "a("', "invalid regex"),
        ("1 + 2", "not a condition"),
        ('"text"', "not a condition"),
    ],
)
def test_compile_errors_name_the_problem(text: str, problem: str) -> None:
    body = parse(f"any where {text}").body
    assert isinstance(body, ast.EventQuery)
    with pytest.raises(ValueError, match=problem):
        compile_condition(body.condition)
