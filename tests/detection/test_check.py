"""`check_rule` / `check_file`: fields read, errors, skipped non-EQL rules."""

from __future__ import annotations

from pathlib import Path

from connector.detection.check import check_file, check_rule
from connector.detection.model import Rule
from connector.detection.rules import load_rules


def test_seed_rule_fields() -> None:
    (rule,) = load_rules(builtin=True)
    check = check_rule(rule)
    assert check.ok and check.error is None
    assert check.fields == {
        "host.os.type",
        "event.type",
        "process.name",
        "process.args",
        "process.command_line",
        "process.parent.name",
        "process.entity_id",
        "destination.ip",
    }


def test_until_and_stage_keys_are_fields() -> None:
    rule = Rule(
        rule_id="r",
        name="r",
        query="sequence [a where x == 1] by k1 [b where y == 2] by k2 until [c where z] by k3",
    )
    assert check_rule(rule).fields == {"x", "y", "z", "k1", "k2", "k3"}


def test_error_is_reported_not_raised() -> None:
    check = check_rule(Rule(rule_id="r", name="r", query="process where nosuch(x)", source="f"))
    assert not check.ok
    assert check.error is not None and "unknown function" in str(check.error)
    assert check.error.source == "f"


def test_pipes_are_rejected_by_name() -> None:
    check = check_rule(Rule(rule_id="r", name="r", query="process where true | head 5"))
    assert check.error is not None
    assert "pipe `| head` is not supported in detection rules" in check.error.message


def test_non_eql_rule_is_skipped() -> None:
    check = check_rule(Rule(rule_id="r", name="r", query="x:1", language="kuery"))
    assert check.ok and check.skipped


def test_unreadable_file(tmp_path: Path) -> None:
    check = check_file(tmp_path / "missing.toml")
    assert check.rule is None and check.error is not None
