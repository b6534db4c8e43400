"""Rule checks for `s1-connector rules check`: does a rule compile, and which fields does it read.

The caller compares `RuleCheck.fields` with the fields the ECS mapping produces and reports the
difference as warnings; a `RuleCheck.error` is a failure.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from connector.detection.model import Rule
from connector.detection.program import compile_rule
from connector.detection.rules import is_sigma, read_rule_file, sigma_outcomes
from connector.errors import RuleError

__all__ = ["RuleCheck", "check_file", "check_path", "check_rule"]


@dataclass(frozen=True)
class RuleCheck:
    """The outcome of checking one rule (or one file).

    `rule` is None when the file could not even be read as a rule. `fields` are the dotted
    field names the rule reads (conditions, join keys, and the category field is not
    included: the caller knows which one it configured). `error` is None when the rule parses
    and compiles; `skipped` says why a rule cannot run (a non-EQL rule type, a Sigma rule
    SentinelOne data cannot serve)."""

    source: str
    rule: Rule | None
    fields: frozenset[str] = frozenset()
    error: RuleError | None = None
    skipped: str = ""

    @property
    def ok(self) -> bool:
        """True when the rule parses and compiles (or was skipped)."""
        return self.error is None


def check_rule(rule: Rule) -> RuleCheck:
    """Parse and compile `rule`; report its fields or the error."""
    if rule.language != "eql":
        return RuleCheck(rule.source, rule, skipped=f"rule type {rule.language!r} is not EQL")
    try:
        compiled = compile_rule(rule)
    except RuleError as exc:
        return RuleCheck(rule.source, rule, error=exc)
    return RuleCheck(rule.source, rule, fields=compiled.fields())


def check_file(path: Path) -> RuleCheck:
    """Read and check one rule file; unreadable files give a check with `rule=None`."""
    try:
        rule = read_rule_file(path)
    except RuleError as exc:
        return RuleCheck(str(path), None, error=exc)
    return check_rule(rule)


def check_path(path: Path) -> list[RuleCheck]:
    """Check every rule of one file: one check for TOML, one per document for Sigma."""
    if not is_sigma(path):
        return [check_file(path)]
    try:
        outcomes = sigma_outcomes(path)
    except RuleError as exc:
        return [RuleCheck(str(path), None, error=exc)]
    checks = []
    for outcome in outcomes:
        if outcome.error:
            error = RuleError(f"{outcome.rule.name}: {outcome.error}", source=str(path))
            checks.append(RuleCheck(str(path), outcome.rule, error=error))
        elif outcome.skipped:
            checks.append(RuleCheck(str(path), outcome.rule, skipped=outcome.skipped))
        else:
            checks.append(check_rule(outcome.rule))
    return checks
