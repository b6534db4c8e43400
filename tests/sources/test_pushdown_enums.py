"""`rules pushdown` never sends an enum field anything a console refuses (issue 11).

Enum fields (`EventType`, `EndpointOS`, `ObjectType`, ...) accept only `=`, `!=`, `In` and
`Not In`, with documented values (sentinelone-api-evidence.md, difference 1). Checked two
ways over the seed rule and the whole Elastic corpus: a scan of the printed S1QL that knows
nothing about our parser, and the strict simulator's parser.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from connector import cli as cli_module
from connector.detection.rules import parse_rule_file
from connector.mapping import CF_TO_DV
from connector.simulator.query import compile_s1ql
from connector.sources.pushdown import build_pushdown
from connector.sources.s1ql_fields import ENUM_VALUES, documented_value
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "detection-rules-s1" / "rules"
_STRING = re.compile(r'"[^"]*"')
_ALLOWED = re.compile(r"\s*(=|!=|in\s*\(|not\s+in\s*\()", re.IGNORECASE)


def enum_misuses(s1ql: str) -> list[str]:
    """Every enum field use whose operator is not =, !=, In, Not In, or whose value is not
    documented; each as `Field <what follows>`."""
    bare = _STRING.sub('""', s1ql)  # no field name or keyword hides inside a literal
    found: list[str] = []
    for name in ENUM_VALUES:
        for match in re.finditer(rf"\b{name}\b", bare, re.IGNORECASE):
            rest = bare[match.end() : match.end() + 20]
            if not _ALLOWED.match(rest):
                found.append(f"{name}{rest}")
    for name, values in _enum_values(s1ql):
        found.extend(f"{name} {v!r}" for v in values if documented_value(name, v) != v)
    return found


def _enum_values(s1ql: str) -> list[tuple[str, list[str]]]:
    names = "|".join(ENUM_VALUES)
    pattern = rf'\b({names})\s*(?:=|!=|In|Not In)\s*(\([^)]*\)|"[^"]*")'
    return [
        (m.group(1), re.findall(r'"([^"]*)"', m.group(2)))
        for m in re.finditer(pattern, s1ql, re.IGNORECASE)
    ]


def test_the_scanner_finds_what_issue_11_reported() -> None:
    bad = 'EndpointOS ContainsCIS "windows" AND EventType In Anycase ("Process Creation")'
    assert len(enum_misuses(bad)) == 2
    assert enum_misuses('EventType = "ProcessCreation"') == ["EventType 'ProcessCreation'"]
    assert enum_misuses('EventType In ("IP Connect") AND TgtProcName ContainsCIS "x"') == []


def pushdown_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], paths: list[Path]
) -> tuple[str, str]:
    config = tmp_path / "c.toml"
    listed = ", ".join(f'"{p}"' for p in paths)
    builtin = "false" if paths else "true"  # the corpus holds the seed rule too
    config.write_text(f"[rules]\nbuiltin = {builtin}\npaths = [{listed}]\n")
    assert cli_module.run(["--config", str(config), "rules", "pushdown"]) == 0
    out = capsys.readouterr().out
    s1ql = out.split("S1QL (Deep Visibility):\n", 1)[1].split("\n", 1)[0]
    sdl = out.split("SDL LOG filter:\n", 1)[1].split("\n", 1)[0]
    return s1ql, sdl


@pytest.mark.parametrize("corpus", [False, True], ids=["seed-rule", "all-408-elastic-rules"])
def test_rules_pushdown_uses_enum_fields_only_as_a_console_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], corpus: bool
) -> None:
    s1ql, _sdl = pushdown_output(tmp_path, capsys, [CORPUS] if corpus else [])
    assert "EventType" in s1ql
    assert enum_misuses(s1ql) == []
    compile_s1ql(s1ql, fields=set(CF_TO_DV.values()))  # the strict simulator accepts it


def test_the_exact_pushdown_of_all_rules_uses_enum_fields_correctly_too() -> None:
    """`rules pushdown` prints the query widened to the size limit; the exact one (what a
    larger limit sends) must be as clean."""
    rules = [parse_rule_file(p) for p in sorted(CORPUS.rglob("*.toml"))]
    s1ql = build_pushdown(rules).s1ql
    assert enum_misuses(s1ql) == []
    compile_s1ql(s1ql, fields=set(CF_TO_DV.values()))
