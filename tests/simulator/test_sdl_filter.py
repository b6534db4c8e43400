"""SDL filter and PowerQuery evaluation over Cloud Funnel dotted records."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.simulator.pq import compile_pq
from connector.simulator.query import QueryParseError, compile_sdl_filter

RECORD: dict[str, Any] = {
    "dataSource.name": "SentinelOne",
    "dataSource.category": "security",
    "endpoint.os": "windows",
    "event.type": "Process Creation",
    "tgt.process.name": "CMD.EXE",
    "tgt.process.cmdline": "cmd.exe /c C:\\Users\\Public\\run.bat",
    "dst.port.number": 443,
    "sca:ingestTime": 1700000000,
    "src.process.parent.name": None,
}

CASES = [
    ("event.type='Process Creation'", True),
    ('event.type="Process Creation"', True),
    ("event.type=='process creation'", False),  # equality is case-sensitive
    ("event.type!='IP Connect'", True),
    ("event.type=*", True),
    ("dst.ip.address=*", False),
    ("dst.ip.address!=*", True),
    ("src.process.parent.name=*", False),  # null counts as absent
    ("tgt.process.name contains 'cmd.exe'", True),  # contains ignores case
    ("tgt.process.name contains:matchcase 'cmd.exe'", False),
    ("tgt.process.name contains:anycase 'cmd'", True),
    ("tgt.process.cmdline contains 'C:\\\\Users'", True),  # backslash escapes backslash
    ("tgt.process.name in ('CMD.EXE', 'x')", True),
    ("tgt.process.name in ('cmd.exe')", False),
    ("tgt.process.cmdline matches '\\.bat$'", True),
    ("dst.port.number=443", True),
    ("dst.port.number > 400 and dst.port.number <= 443", True),
    ("sca:ingestTime >= 1700000001", False),
    ("dataSource.name='SentinelOne' dataSource.category='security' event.type=*", True),
    ("event.type='IP Connect' or endpoint.os='windows'", True),
    ("event.type='IP Connect' or endpoint.os='windows' and dst.port.number=80", False),
    ("(event.type='IP Connect' or endpoint.os='windows') and dst.port.number=443", True),
    ("not event.type='IP Connect'", True),
    ("!(event.type='Process Creation')", False),
    ("event.type='IP Connect' || dst.port.number=443 && endpoint.os='windows'", True),
]


@pytest.mark.parametrize(("expr", "expected"), CASES)
def test_filter_semantics(expr: str, expected: bool) -> None:
    assert compile_sdl_filter(expr)(RECORD) is expected


def test_the_connector_filter_from_the_reference() -> None:
    expr = (
        "dataSource.name='SentinelOne' and dataSource.category='security' and "
        "endpoint.os='windows' and ((event.type='Process Creation' and tgt.process.name "
        "contains 'cmd.exe') or (event.type='IP Connect' and src.process.name contains 'cmd.exe'))"
    )
    predicate = compile_sdl_filter(expr)
    assert predicate(RECORD)
    assert not predicate({**RECORD, "event.type": "IP Connect"})
    assert predicate({**RECORD, "event.type": "IP Connect", "src.process.name": "cmd.exe"})


@pytest.mark.parametrize(
    "expr",
    [
        "event.type",
        "event.type=",
        "a='x' or",
        "a contains 'x",
        "a in ()",
        "a ~ 'x'",
        "a matches '('",
    ],
)
def test_bad_filters_are_rejected(expr: str) -> None:
    with pytest.raises(QueryParseError, match="could not parse filter"):
        compile_sdl_filter(expr)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="ab.=!*'\"()&| andotrcis0123", max_size=40))
def test_any_text_compiles_or_raises_query_parse_error(text: str) -> None:
    try:
        predicate = compile_sdl_filter(text)
    except QueryParseError:
        return
    assert isinstance(predicate(RECORD), bool)


ROWS: list[dict[str, Any]] = [
    {"event.type": "IP Connect", "endpoint.name": "A", "dst.port.number": 443},
    {"event.type": "IP Connect", "endpoint.name": "B", "dst.port.number": 80},
    {"event.type": "Process Creation", "endpoint.name": "A"},
    {"event.type": "IP Connect", "endpoint.name": "A", "dst.port.number": 443},
]


def test_pq_group_count_sort_limit() -> None:
    table = compile_pq("event.type=* | group ct=count() by event.type | sort -ct | limit 5").run(
        ROWS
    )
    assert table.columns == ["event.type", "ct"]
    assert table.rows == [["IP Connect", 3], ["Process Creation", 1]]


def test_pq_columns_filter_and_limit() -> None:
    pq = compile_pq(
        "event.type='IP Connect' | filter dst.port.number=443 "
        "| columns endpoint.name, dst.port.number | limit 1"
    )
    assert pq.run(ROWS).columns == ["endpoint.name", "dst.port.number"]
    assert pq.run(ROWS).rows == [["A", 443]]


def test_pq_group_by_two_keys_and_ascending_sort() -> None:
    table = compile_pq("| group n=count() by endpoint.name, event.type | sort +n").run(ROWS)
    assert table.columns == ["endpoint.name", "event.type", "n"]
    assert table.rows[-1] == ["A", "IP Connect", 2]


def test_pq_group_without_alias_names_the_column_count() -> None:
    assert compile_pq("x=* | group count() by x").run([{"x": 1}]).columns == ["x", "count()"]


def test_pq_without_limit_returns_at_most_1000_rows() -> None:
    many = [{"n": i} for i in range(1500)]
    assert len(compile_pq("n=*").run(many).rows) == 1000


def test_pq_pipe_inside_quotes_is_not_a_command() -> None:
    table = compile_pq("endpoint.name='A|B' || endpoint.name='B' | columns endpoint.name").run(ROWS)
    assert table.rows == [["B"]]


@pytest.mark.parametrize(
    "query",
    ["x=* | stats count()", "x=* | columns a=b", "x=* | group ct=sum(x) by y", "x=* | limit many"],
)
def test_pq_unsupported_commands_are_rejected(query: str) -> None:
    with pytest.raises(QueryParseError, match="could not parse query"):
        compile_pq(query)
