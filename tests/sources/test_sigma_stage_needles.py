"""The SigmaHQ stages that had no usable needle (issue 15): with them loaded the replay first
pass admitted every Windows process line, and the engine tried them on every such event.

Two need a field through SigmaHQ's "the field is set" (`not (?process.executable == null or
…)`): a line without that key cannot match. Two only have short texts of rare characters
(`^^`, a backtick, `"{`, `${`). Each line test here is decided the way the engine decides:
the stage's condition holds for the event the line becomes only where the line passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.detection.program import CompiledRule, compile_rule
from connector.detection.rules import load_rules
from connector.mapping.ecs_input import from_ecs
from connector.sources.query import Prefilter
from connector.sources.replay_filter import replay_filter
from tests.conftest import FIXTURES

_CREATION = FIXTURES / "sigmahq-windows" / "rules" / "windows" / "process_creation"
_FILES = {
    "dosfuscation": "proc_creation_win_cmd_dosfuscation.yml",
    "token": "proc_creation_win_powershell_token_obfuscation.yml",
    "missing": "proc_creation_win_susp_image_missing.yml",
    "extension": "proc_creation_win_susp_non_exe_image.yml",
}


def _compiled(name: str) -> CompiledRule:
    path: Path = _CREATION / _FILES[name]
    (rule,) = load_rules(builtin=False, paths=[path])
    return compile_rule(rule)


def _record(**fields: Any) -> dict[str, Any]:
    return {
        "@timestamp": "2025-11-23T12:00:00.000Z",
        "event.id": "1",
        "event.category": ["process"],
        "event.type": ["start"],
        "host.os.type": "windows",
        **fields,
    }


_CASES: list[tuple[str, dict[str, Any], bool, bool]] = [
    # (stage, fields of a Windows process event, whether the stage matches it, whether the
    # line passes the stage's first-pass test)
    ("dosfuscation", {"process.command_line": "cmd /c echo hi"}, False, False),
    ("dosfuscation", {"process.command_line": "cmd /c e^^cho hi"}, True, True),
    ("dosfuscation", {"process.command_line": "x ^C^M^D /c dir"}, True, True),
    ("token", {"process.command_line": "powershell -f x.ps1"}, False, False),
    ("token", {"process.command_line": "powershell I`nv`oke-Expression x"}, True, True),
    ("token", {"process.command_line": 'powershell ("{0}{1}" -f "a","b")'}, True, True),
    ("token", {"process.command_line": "powershell ${e`nv:path}"}, True, True),
    ("missing", {"process.name": "x.exe", "process.command_line": "x"}, False, False),
    ("missing", {"process.executable": "x.exe", "process.command_line": "x"}, True, True),
    ("missing", {"process.executable": "C:\\x.exe"}, False, True),
    ("extension", {"process.name": "x.exe", "process.command_line": "x"}, False, False),
    ("extension", {"process.executable": "C:\\Users\\a\\x.pif"}, True, True),
    ("extension", {"process.executable": "C:\\Users\\a\\x.exe"}, False, True),
]


@pytest.mark.parametrize(("name", "fields", "matches", "admitted"), _CASES)
def test_the_stage_admits_the_lines_it_may_match_and_not_every_process_line(
    name: str, fields: dict[str, Any], matches: bool, admitted: bool
) -> None:
    compiled = _compiled(name)
    record = _record(**fields)
    event = from_ecs(record)
    assert isinstance(event, dict)
    assert compiled.stages[0].condition.fn(event) is matches
    first = replay_filter([compiled], "ecs").first
    for line in (json.dumps(record), json.dumps(record, separators=(", ", ": "))):
        assert first(line.encode()) is admitted, line


@pytest.mark.parametrize("name", ["dosfuscation", "token"])
def test_the_command_line_stages_have_a_needle_for_the_engine(name: str) -> None:
    needles = _compiled(name).stages[0].needles
    assert needles is not None
    assert needles.fields == {"process.command_line"}
    expected = {"dosfuscation": "^^", "token": '"{'}[name]
    assert expected in needles.texts


def test_a_plain_line_never_passes_for_the_set_field_alone() -> None:
    """The key's name is the group: a line with `executable` only inside a value passes too
    (a superset), a line without the text does not."""
    first: Prefilter = replay_filter([_compiled("missing")], "ecs").first
    assert first(json.dumps(_record(**{"process.command_line": "executable"})).encode())
    assert not first(json.dumps(_record(**{"process.command_line": "exe"})).encode())
