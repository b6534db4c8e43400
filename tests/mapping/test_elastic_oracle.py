"""External oracle: Elastic's own expected documents for its Cloud Funnel pipeline tests.

The comparison script is the one published in the fixtures' PROVENANCE.md; it is read from
`../shared` and run as is, so the oracle is exactly what the fixture owners wrote down.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from connector.mapping import Mapper, Skip, to_ecs

FIXTURE = "fixtures/elastic-cloud-funnel"


def _check_script(shared: Path) -> ModuleType:
    text = (shared / FIXTURE / "PROVENANCE.md").read_text(encoding="utf-8")
    start = text.index("```python", text.index("### Check script")) + len("```python")
    source = text[start : text.index("```", start)]
    module = ModuleType("check_elastic_fixtures")
    exec(compile(source, "PROVENANCE.md:check_elastic_fixtures", "exec"), module.__dict__)
    return module


def _cloud_funnel(record: Any) -> dict[str, Any] | None:
    result = to_ecs(record, "cloud-funnel")
    return None if isinstance(result, Skip) else result


@pytest.mark.parametrize("case", ["test-process.log", "test-network-action.log"])
def test_matches_elastic_expected_output(shared: Path, case: str) -> None:
    check = _check_script(shared)
    assert case in check.CASES
    assert check.check_case(shared / FIXTURE, _cloud_funnel, case) == []


def test_oracle_catches_a_wrong_mapping(shared: Path) -> None:
    """The oracle is live: a mapper that uses storyline ids as entity ids fails it."""
    check = _check_script(shared)

    def storyline_entity_ids(record: Any) -> dict[str, Any] | None:
        event = _cloud_funnel(record)
        if event is not None:
            event["process.entity_id"] = record.get("tgt.process.storyline.id")
        return event

    problems = check.check_case(shared / FIXTURE, storyline_entity_ids, "test-process.log")
    assert any("process.entity_id" in problem for problem in problems)


def _threat_event_records(shared: Path) -> list[Any]:
    path = shared / FIXTURE / "sentinel_one_threat_event" / "test-pipeline-application.log"
    lines = path.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_legacy_dv_robustness_records_are_mapped(shared: Path) -> None:
    """Legacy DV records with `eventType` network/file map as unknown types (the issue maps
    every type); their S1 category `process` gives `event.category`."""
    records = _threat_event_records(shared)
    assert len(records) == 4
    mapper = Mapper()
    events = [mapper.map(record, "dv") for record in records]
    assert mapper.mapped == 4 and not mapper.skipped
    for record, event in zip(records, events, strict=True):
        assert event is not None
        assert event["event.category"] == ["process"]
        assert event["event.type"] == ["info"]
        assert event["event.id"] == record["id"]
        assert event["process.entity_id"] == record["processUniqueKey"]
        assert event["process.parent.entity_id"] == record["parentProcessUniqueKey"]
        assert event["host.name"] == record["agentName"]
        assert "event.action" not in event


def test_legacy_dv_robustness_records_skip_when_restricted(shared: Path) -> None:
    """With the spec's restriction to Process Creation and IP Connect: four skips, no raise."""
    mapper = Mapper(event_types=["Process Creation", "IP Connect"])
    for record in _threat_event_records(shared):
        assert mapper.map(record, "dv") is None
    assert mapper.skipped == Counter({"unsupported_event_type": 4})
    assert mapper.mapped == 0
