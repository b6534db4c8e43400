"""Conversion details: regex translation, the pipeline's mappings, correlations, folding."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from connector.detection.eql.compiler import compile_condition
from connector.detection.eql.parser import parse
from connector.detection.fold import fold_condition
from connector.detection.rules import load_rules
from connector.detection.sigma.convert import convert_text
from connector.detection.sigma.fields import FIELDS, NOT_IN_S1
from connector.detection.sigma.regex import to_lucene
from connector.mapping.catalog import mapped_fields


@pytest.mark.parametrize(
    ("sigma", "lucene", "ignore_case"),
    [
        ("abc", ".*(abc).*", False),
        ("^abc$", "(abc)", False),
        ("(?i)a(?:b|c)", ".*(a(b|c)).*", True),
        ('a"b<c>', '.*(a\\"b\\<c\\>).*', False),
        ("x+?y", ".*(x+y).*", False),
        (r"\/tmp\d+", r".*(\/tmp\d+).*", False),
    ],
)
def test_regex_translation(sigma: str, lucene: str, ignore_case: bool) -> None:
    assert to_lucene(sigma) == (lucene, ignore_case)


@pytest.mark.parametrize("sigma", ["(?=x)", r"a\b", r"(a)\1", "a^b", "^a|b"])
def test_regex_constructs_eql_cannot_express_are_refused(sigma: str) -> None:
    with pytest.raises(ValueError):
        to_lucene(sigma)


def _one(text: str) -> tuple[str, str, str]:
    [out] = convert_text(text, "t.yml", mapped_fields())
    return out.rule.query, out.skipped, out.error


_NET = """
title: t
id: 11111111-1111-1111-1111-111111111111
logsource: {category: network_connection, product: windows}
detection:
  sel: {Initiated: 'true', Image|endswith: '\\\\cmd.exe', ProcessGuid: '{abc}'}
  condition: sel
"""


def test_network_rule_routes_and_maps_direction_and_guid() -> None:
    query, skipped, error = _one(_NET)
    assert not skipped and not error
    assert query.startswith('network where host.os.type:"windows" and ')
    assert 'network.direction:"egress"' in query
    assert 'process.entity_id:"{abc}"' in query


def test_regex_and_literal_wildcards_mean_what_sigma_means() -> None:
    text = _NET.replace(
        "sel: {", "sel: {CommandLine|re: '(?i)down(?:load)?\"', ParentImage|endswith: 'a\\*x', "
    )
    query, _, error = _one(text)
    assert not error, error
    condition = compile_condition(parse(query).body.condition)  # type: ignore[union-attr]
    event = {
        "host.os.type": "windows",
        "network.direction": "egress",
        "process.executable": "C:\\w\\CMD.EXE",
        "process.entity_id": "{abc}",
        "process.command_line": 'x DOWNLOAD" y',
        "process.parent.executable": "C:\\a*x",
    }
    assert condition.fn(event)
    assert not condition.fn({**event, "process.parent.executable": "C:\\abx"})
    assert not condition.fn({**event, "process.command_line": "x download y"})


def test_unsupported_logsource_is_skipped_with_a_reason() -> None:
    _, skipped, error = _one(_NET.replace("network_connection", "driver_load"))
    assert not error and "supported categories: process_creation, network_connection" in skipped


def test_a_rule_needing_absent_telemetry_is_skipped() -> None:
    _, skipped, _ = _one(_NET.replace("Initiated: 'true'", "DestinationHostname: 'x.org'"))
    assert "DestinationHostname (destination.domain)" in skipped


def test_invalid_sigma_is_an_error() -> None:
    _, _, error = _one(_NET.replace("condition: sel", "condition: nosuch"))
    assert error


_CORRELATION = """
title: a
name: proc
logsource: {category: process_creation, product: windows}
detection:
  sel: {Image|endswith: '\\\\cmd.exe'}
  condition: sel
---
title: b
name: conn
logsource: {category: network_connection, product: windows}
detection:
  sel: {Initiated: 'true'}
  condition: sel
---
title: c
id: 22222222-2222-2222-2222-222222222222
correlation:
  type: TYPE
  rules: [proc, conn]
  group-by: [ProcessGuid]
  timespan: 15s
  condition: {gte: 2}
"""


def test_temporal_ordered_is_a_sequence_by_the_group_key() -> None:
    [out] = convert_text(_CORRELATION.replace("TYPE", "temporal_ordered"), "c.yml", mapped_fields())
    assert not out.skipped and not out.error
    query = re.sub(r"\s+", " ", out.rule.query)
    assert query.startswith("sequence by process.entity_id with maxspan=15s [process where ")
    assert "] [network where " in query and "runs" not in query
    parsed = parse(out.rule.query)
    assert parsed.body.maxspan_ms == 15_000  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["temporal", "value_count"])
def test_correlations_that_cannot_be_exact_are_skipped(kind: str) -> None:
    text = _CORRELATION.replace("TYPE", kind)
    if kind == "value_count":
        text = text.replace("condition: {gte: 2}", "condition: {gte: 2, field: User}")
    [out] = convert_text(text, "c.yml", mapped_fields())
    assert out.skipped and kind.replace("_", " ").split()[0] in out.skipped.replace("_", " ")


def test_fold_decides_constant_conditions() -> None:
    produced = {"process.name"}
    cond = parse('process where process.name : "a" and x.y : "b"').body.condition  # type: ignore[union-attr]
    assert fold_condition(cond, produced).value is False
    cond = parse('process where process.name : "a" and not x.y : "b"').body.condition  # type: ignore[union-attr]
    assert (
        fold_condition(cond, produced).value is True or fold_condition(cond, produced).value is None
    )


def test_field_table_is_in_step_with_the_catalog() -> None:
    produced = mapped_fields()
    targets = {target for table in FIELDS.values() for target in table.values()}
    assert targets - NOT_IN_S1 <= produced, sorted(targets - NOT_IN_S1 - produced)
    assert not NOT_IN_S1 & produced, sorted(NOT_IN_S1 & produced)


def test_pysigma_is_imported_only_for_sigma_rules(tmp_path: Path) -> None:
    code = (
        "import sys; from connector.detection.rules import load_rules; "
        "from connector.detection.engine import Engine; Engine(load_rules()); "
        "print('sigma' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.stdout.strip() == "False", result.stderr


def test_a_cached_conversion_needs_no_pysigma(tmp_path: Path) -> None:
    rule = tmp_path / "r.yml"
    rule.write_text(_NET)
    assert load_rules(False, [rule])
    code = (
        "import sys; from connector.detection.rules import load_rules; "
        f"rules = load_rules(False, [{str(rule)!r}]); print(len(rules), 'sigma' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.stdout.strip() == "1 False", result.stderr


def test_event_count_gte_is_a_sequence_of_n_runs_and_other_operators_are_skipped() -> None:
    text = (
        _CORRELATION.replace("TYPE", "event_count")
        .replace("rules: [proc, conn]", "rules: [proc]")
        .replace("gte: 2", "gte: 3")
    )
    outcomes = {o.rule.name: o for o in convert_text(text, "c.yml", mapped_fields())}
    assert set(outcomes) == {"b", "c"}  # `proc` only feeds the correlation
    query = re.sub(r"\s+", " ", outcomes["c"].rule.query)
    assert query == (
        "sequence by process.entity_id with maxspan=15s "
        '[process where host.os.type:"windows" and process.executable:"*\\\\cmd.exe"] with runs=3'
    )
    [_, lte] = convert_text(text.replace("gte: 3", "lte: 3"), "c.yml", mapped_fields())
    assert "only for `gte`" in lte.skipped


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"title: x\ndetection: [unclosed\n", "3:1: invalid YAML"),
        (b"just a string\n", "YAML document 1 is a str, not a Sigma rule"),
        (b"title: x\nlogsource: {category: process_creation}\ndetection: 5\n", "detection"),
        (b"\xff\xfe", "cannot read rule file"),
    ],
)
def test_a_broken_sigma_file_is_a_clear_error(
    tmp_path: Path, content: bytes, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from connector import cli  # noqa: PLC0415
    from connector.errors import RuleError  # noqa: PLC0415

    bad = tmp_path / "bad.yml"
    bad.write_bytes(content)
    assert cli.run(["rules", "check", str(bad)]) == 78
    out = capsys.readouterr().out
    assert message in out and "bad.yml" in out
    assert out.strip().splitlines()[-1] == "1 rules: 0 ok, 1 errors, 0 with warnings, 0 skipped"
    with pytest.raises(RuleError):
        load_rules(False, [bad])
