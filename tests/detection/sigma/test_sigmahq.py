"""SigmaHQ's 1,234 Windows rules through `rules check`: converted, folded, none an error."""

from __future__ import annotations

import re

import pytest

from connector import cli as cli_module
from connector.detection.check import RuleCheck
from tests.detection.sigma.conftest import SIGMAHQ

_LAST = re.compile(r"^(\d+) rules: (\d+) ok, (\d+) errors, (\d+) with warnings, (\d+) skipped$")


def test_rules_check_over_sigmahq(
    sigmahq_checks: list[RuleCheck], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_module.run(["rules", "check", str(SIGMAHQ)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    found = _LAST.match(lines[-1])
    assert found, lines[-1]
    total, ok, errors, _warned, skipped = map(int, found.groups())
    assert total == 1234 and errors == 0 and ok >= 1150 and ok + skipped == total
    skip_lines = [line for line in lines if line.startswith("skip ")]
    assert len(skip_lines) == skipped
    assert all(line.rsplit(": ", 1)[-1].strip() for line in skip_lines)


def test_every_skip_has_a_reason_and_every_ok_rule_names_its_author(
    sigmahq_checks: list[RuleCheck],
) -> None:
    for check in sigmahq_checks:
        assert check.error is None, (check.source, check.error)
        assert check.rule is not None
        if check.skipped:
            assert len(check.skipped) > 20, check
            continue
        assert check.rule.author, check.source
        assert check.rule.license == "DRL-1.1"
        assert check.rule.reference.startswith(
            "https://github.com/SigmaHQ/sigma/blob/master/rules/"
        )
        assert check.rule.query.startswith(("process where ", "network where "))


def test_skips_name_the_missing_telemetry(sigmahq_checks: list[RuleCheck]) -> None:
    reasons = " | ".join(check.skipped for check in sigmahq_checks if check.skipped)
    for needed in ("DestinationHostname", "CurrentDirectory", "Imphash", "field references"):
        assert needed in reasons, needed


def test_explain_shows_the_eql_and_why(capsys: pytest.CaptureFixture[str]) -> None:
    rule = SIGMAHQ / "windows" / "network_connection" / "net_connection_win_addinutil_initiated.yml"
    assert cli_module.run(["rules", "check", "--explain", str(rule)]) == 0
    out = capsys.readouterr().out
    assert 'network where host.os.type:"windows" and (network.direction:"egress"' in out
