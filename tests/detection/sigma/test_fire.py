"""Every SigmaHQ rule that loads fires on a SentinelOne record built from its own condition.

The record is generated from the converted rule (`satisfy.py`), mapped by the real mapper
(Cloud Funnel shape) and evaluated by the real engine; the count that fire is in the README.
"""

from __future__ import annotations

from connector.detection.check import RuleCheck
from connector.detection.engine import Engine
from connector.detection.eql import ast
from connector.detection.eql.parser import parse
from connector.mapping import Skip, to_ecs
from connector.mapping.catalog import mapped_fields
from tests.detection.sigma.satisfy import Unsatisfiable, to_record, wish

FIRE_FLOOR = 1181
"""At least this many SigmaHQ rules fire on their generated record (README reports the count)."""


def _fires(check: RuleCheck, serial: int) -> str:
    """'' when the rule fires on its generated record, else why not."""
    assert check.rule is not None
    body = parse(check.rule.query).body
    assert isinstance(body, ast.EventQuery)
    try:
        record = to_record(wish(body.condition, mapped_fields()), str(body.category), serial)
    except Unsatisfiable as exc:
        return f"no record generated: {exc}"
    event = to_ecs(record, "cloud-funnel")
    if isinstance(event, Skip):
        return f"mapper skipped the record: {event}"
    matches = Engine([check.rule]).process([event])
    return "" if matches else f"did not fire on {event}"


def test_sigmahq_rules_fire_on_records_built_from_their_selections(
    sigmahq_checks: list[RuleCheck],
) -> None:
    loaded = [c for c in sigmahq_checks if c.ok and not c.skipped]
    failures = {}
    for serial, check in enumerate(loaded):
        why = _fires(check, serial)
        if why:
            failures[check.source] = why
    fired = len(loaded) - len(failures)
    print(f"SigmaHQ rules that fire on a generated S1 record: {fired} of {len(loaded)}")
    assert fired >= FIRE_FLOOR, sorted(failures.items())[:20]
