"""Exceptions in the engine (events removed before the rule sees them), how lists attach to
rules (config attachments, a rule's own `[[rule.exceptions_list]]`), and the rule TOML keys."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.detection.engine import Engine
from connector.detection.exceptions import RuleExceptions
from connector.detection.model import ExceptionRef, Rule, Suppression
from connector.detection.rules import parse_rule_file
from connector.detection.tuning import Attachment, Override, build_tuning
from connector.errors import RuleError

DATA = Path(__file__).parent / "data" / "exceptions"
PAIR = Rule(
    rule_id="pair",
    name="pair",
    query="sequence by k with maxspan=10s [a where x == 1] [b where x == 2]",
)
OTHER = Rule(rule_id="other", name="other", query="a where x == 1")


def ev(t_ms: int, category: str, x: int, k: str = "k1", **more: Any) -> dict[str, Any]:
    return {"@timestamp": t_ms, "event.category": category, "x": x, "k": k, **more}


def excepting(folder: Path, field: str, value: str) -> RuleExceptions:
    tuning = build_tuning(
        [PAIR], attachments=[Attachment(_export(folder, field, value), ("pair",))]
    )
    return tuning.exceptions["pair"]


def _export(folder: Path, field: str, value: str) -> Path:
    lines = [
        {"list_id": "l", "name": "l", "type": "detection", "namespace_type": "single"},
        {"item_id": "i", "list_id": "l", "name": "i", "type": "simple",
         "entries": [{"field": field, "operator": "included", "type": "match", "value": value}]},
        {"exported_exception_list_count": 1, "exported_exception_list_item_count": 1,
         "missing_exception_list_item_count": 0, "missing_exception_list_items": [],
         "missing_exception_lists": [], "missing_exception_lists_count": 0},
    ]  # fmt: skip
    path = folder / "export.ndjson"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n", encoding="utf-8")
    return path


def test_sequence_completes_with_a_non_excepted_event(tmp_path: Path) -> None:
    """The excepted first event is removed before the sequence sees it, so the sequence is
    found with the next, non-excepted one (Elasticsearch filters before EQL runs)."""
    engine = Engine([PAIR], exceptions={"pair": excepting(tmp_path, "user", "admin")})
    admin, other, second = ev(1_000, "a", 1, user="admin"), ev(2_000, "a", 1), ev(3_000, "b", 2)
    [match] = engine.process([admin, other, second], watermark_ms=None)
    assert match.events == (other, second)
    assert engine.stats.excepted == {"pair": 1}


def test_excepted_event_cannot_complete_a_sequence(tmp_path: Path) -> None:
    engine = Engine([PAIR], exceptions={"pair": excepting(tmp_path, "user", "admin")})
    events = [ev(1_000, "a", 1), ev(2_000, "b", 2, user="admin")]
    assert engine.process(events, watermark_ms=None) == []
    unexcepted = Engine([PAIR])
    assert len(unexcepted.process(events, watermark_ms=None)) == 1


def test_exceptions_apply_only_to_their_rule(tmp_path: Path) -> None:
    engine = Engine([PAIR, OTHER], exceptions={"pair": excepting(tmp_path, "user", "admin")})
    matches = engine.process([ev(1_000, "a", 1, user="admin")], watermark_ms=None)
    assert [m.rule.rule_id for m in matches] == ["other"]
    assert engine.stats.excepted == {"pair": 1}


def test_events_no_stage_takes_are_never_tested() -> None:
    calls: list[object] = []

    class Spy(RuleExceptions):
        def matches(self, event: Any) -> bool:
            calls.append(event)
            return False

    engine = Engine([PAIR], exceptions={"pair": Spy(())})
    engine.process([ev(1_000, "c", 1), ev(1_001, "a", 5)], watermark_ms=None)
    assert calls == []


def test_a_rule_references_its_lists_by_list_id(tmp_path: Path) -> None:
    rule = Rule("r", "r", "a where x == 1", exceptions_list=(ExceptionRef("office-parents"),))
    tuning = build_tuning([rule, OTHER], attachments=[Attachment(DATA / "word_parent.ndjson", ())])
    assert set(tuning.exceptions) == {"r"}
    missing = Rule("m", "m", "a where x == 1", exceptions_list=(ExceptionRef("nope"),))
    tuning = build_tuning([missing])
    assert tuning.exceptions == {} and "'nope'" in tuning.warnings[0]


def test_star_attaches_to_every_rule_and_unknown_ids_warn() -> None:
    word = DATA / "word_parent.ndjson"
    tuning = build_tuning([PAIR, OTHER], attachments=[Attachment(word, ("*",))])
    assert set(tuning.exceptions) == {"pair", "other"}
    tuning = build_tuning([PAIR], attachments=[Attachment(word, ("gone",))])
    assert tuning.exceptions == {} and "'gone'" in tuning.warnings[0]


def test_suppress_override_replaces_or_turns_off_the_rules_own() -> None:
    own = Suppression(("host.name",), 3_600_000)
    rule = Rule("r", "r", "a where x == 1", alert_suppression=own)
    assert build_tuning([rule]).suppression == {"r": own}
    mine = Suppression(("user.name",), None)
    assert build_tuning([rule], overrides=[Override(("r",), mine)]).suppression == {"r": mine}
    off = Suppression((), None)
    assert build_tuning([rule], overrides=[Override(("r",), off)]).suppression == {}


RULE_TOML = """
[metadata]
creation_date = "2026/01/01"

[rule]
name = "t"
rule_id = "t-1"
type = "eql"
language = "eql"
query = 'process where process.name == "cmd.exe"'
{extra}
"""


def test_rule_toml_reads_alert_suppression_and_exception_refs(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(RULE_TOML.format(extra="""
[[rule.exceptions_list]]
id = "5f0c1a90"
list_id = "office-parents"
namespace_type = "single"
type = "detection"

[rule.alert_suppression]
group_by = ["host.name", "user.name"]
missing_fields_strategy = "doNotSuppress"

[rule.alert_suppression.duration]
unit = "h"
value = 1
"""), encoding="utf-8")  # fmt: skip
    rule = parse_rule_file(path)
    assert rule.exceptions_list == (ExceptionRef("office-parents", "single", "detection"),)
    assert rule.alert_suppression == Suppression(
        ("host.name", "user.name"), 3_600_000, "doNotSuppress"
    )


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("[rule.alert_suppression]\ngroup_by = []", "group_by must be a non-empty list"),
        (
            '[rule.alert_suppression]\ngroup_by = ["a"]\nduration = {value = 1, unit = "d"}',
            "duration must be",
        ),
        (
            '[rule.alert_suppression]\ngroup_by = ["a"]\nmissing_fields_strategy = "x"',
            "missing_fields_strategy",
        ),
        ('[rule.alert_suppression]\ngroup_by = ["a"]\nwindow = 3', r"unknown key\(s\) window"),
        ('[[rule.exceptions_list]]\nid = "x"', "needs list_id"),
    ],
)
def test_bad_tuning_keys_in_a_rule_file_are_errors(
    tmp_path: Path, extra: str, message: str
) -> None:
    path = tmp_path / "r.toml"
    path.write_text(RULE_TOML.format(extra=extra), encoding="utf-8")
    with pytest.raises(RuleError, match=message) as caught:
        parse_rule_file(path)
    assert str(path) in str(caught.value)
