"""Field projection: a projected event is the full event restricted to the projection's
fields, `Mapper.complete` rebuilds the full event, and on the benchmark workload the
projected mapping finds exactly the matches (and alert documents) of the full mapping."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.alerts import build_alert
from connector.detection.check import check_rule
from connector.detection.engine import Engine
from connector.detection.model import Match
from connector.detection.program import compile_rule
from connector.detection.rules import load_rules
from connector.mapping import Mapper, Skip, to_ecs
from connector.mapping.catalog import mapped_fields
from connector.mapping.compiler import SOURCE_KEY
from connector.mapping.projection import ALWAYS, closure, projection_for
from tests.conftest import SHARED
from tests.mapping.test_fuzz import records, typed_records

RULES = load_rules(builtin=True)
SEED_FIELDS = frozenset({"event.category", "@timestamp"}).union(
    *(check_rule(rule).fields for rule in RULES)
)
SEED_CATEGORIES = frozenset(
    stage.category for rule in RULES for stage in compile_rule(rule).stages if stage.category
)
COMPOSITE = "sentinel_one.event.id"

CATALOG = sorted(mapped_fields())
# A fixed handful (each projection compiles its plans once): the seed rule's, the fields
# with cross-field rules, and two spreads over everything the mapping writes.
wanted_sets = st.sampled_from(
    [
        SEED_FIELDS,
        frozenset({"process.parent.entity_id"}),
        frozenset({"event.action", "network.direction"}),
        frozenset({COMPOSITE, "file.extension", "user.name"}),
        frozenset(),
        frozenset(CATALOG[::3]),
        frozenset(CATALOG[1::4]),
    ]
)
category_sets = st.sampled_from([None, SEED_CATEGORIES, frozenset({"file", "registry"})])


def expected_projection(
    full: dict[str, Any], fields: frozenset[str], categories: frozenset[str] | None
) -> tuple[dict[str, Any], bool]:
    """(the full event restricted as the projection promises, whether it keeps its source)."""
    taken = categories is None or not categories.isdisjoint(full.get("event.category", []))
    keep = fields if taken else ALWAYS | (fields & {COMPOSITE})
    return {key: value for key, value in full.items() if key in keep}, taken


def check_projection(
    record: dict[str, Any], shape: str, wanted: frozenset[str], categories: frozenset[str] | None
) -> None:
    projection = projection_for(wanted, categories)
    assert projection.fields >= wanted | ALWAYS
    full = to_ecs(record, shape)  # type: ignore[arg-type]
    projected = to_ecs(record, shape, projection=projection)  # type: ignore[arg-type]
    if isinstance(full, Skip):
        assert projected == full
        return
    assert not isinstance(projected, Skip)
    source = projected.pop(SOURCE_KEY, None)
    expected, taken = expected_projection(full, projection.fields, categories)
    assert projected == expected
    assert source == ((shape, record) if taken else None)


@settings(max_examples=100, deadline=None)  # drawing these records is the slow part
@given(records, st.sampled_from(("dv", "cloud-funnel")), wanted_sets, category_sets)
def test_projected_event_is_the_full_event_restricted(
    record: dict[str, Any], shape: str, wanted: frozenset[str], categories: Any
) -> None:
    check_projection(record, shape, wanted, categories)


@settings(max_examples=300, deadline=None)
@given(typed_records, st.sampled_from(("dv", "cloud-funnel")), wanted_sets, category_sets)
def test_projection_of_plausible_values(
    record: dict[str, Any], shape: str, wanted: frozenset[str], categories: Any
) -> None:
    check_projection(record, shape, wanted, categories)


def test_closure_adds_what_a_row_also_writes_and_what_a_rule_reads() -> None:
    fields = closure({"process.command_line", "process.parent.entity_id", "destination.ip"})
    assert {"process.args", "process.args_count", "destination.address"} <= fields
    assert "process.entity_id" in fields  # the parent-equals-self guard compares the two
    assert closure(()) == ALWAYS


CF_START = {
    "event.time": 1763900000000,
    "event.id": "01J_1",
    "event.type": "Process Creation",
    "endpoint.name": "WKS-1",
    "endpoint.os": "windows",
    "tgt.process.uid": "TGT",
    "tgt.process.name": "cmd.exe",
    "tgt.process.cmdline": 'cmd.exe /c "C:\\x y\\run.bat"',
    "src.process.uid": "SRC",
    "src.process.name": "WINWORD.EXE",
    "src.process.storyline.id": "STORY",
}


def test_complete_rebuilds_the_full_event() -> None:
    mapper = Mapper(fields=SEED_FIELDS, categories=SEED_CATEGORIES)
    projected = mapper.map(CF_START, "auto")
    full = Mapper().map(CF_START)
    assert projected is not None and full is not None
    assert "host.name" not in projected and "host.name" in full
    assert mapper.fields == projection_for(SEED_FIELDS).fields
    assert mapper.complete(projected) == full
    # Engine state is JSON: the (shape, record) pair comes back as a list.
    assert mapper.complete(json.loads(json.dumps(projected))) == full
    assert mapper.complete(full) is full
    assert Mapper().fields is None


def test_projection_skips_and_counts_like_the_full_mapping() -> None:
    mapper = Mapper(fields=SEED_FIELDS, event_types=["IP Connect"])
    assert mapper.map(CF_START) is None
    assert mapper.map({**CF_START, "event.type": "IP Connect", "event.id": ""}) is None
    assert mapper.map({**CF_START, "event.type": "IP Connect", "event.time": "soon"}) is None
    assert dict(mapper.skipped) == {
        "unsupported_event_type": 1,
        "missing_event_id": 1,
        "bad_timestamp": 1,
    }


# -- the benchmark workload ------------------------------------------------------------------


def load_workload() -> ModuleType:
    path = SHARED / "bench" / "workload.py"
    if not path.is_file():
        pytest.fail(f"{path} not found")
    spec = importlib.util.spec_from_file_location("bench_workload", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def alerts(mapper: Mapper, records: Iterable[dict[str, Any]], shape: str) -> list[dict[str, Any]]:
    """Alert documents of the seed rule over the records, built from completed events."""
    engine = Engine(RULES)
    events = [e for e in (mapper.map(r, shape) for r in records) if e is not None]  # type: ignore[arg-type]
    created = datetime(2026, 1, 1, tzinfo=UTC)
    return [
        build_alert(
            Match(m.rule, tuple(map(mapper.complete, m.events)), m.join_key), created=created
        )
        for m in engine.process(events)
    ]


@pytest.mark.parametrize("shape", ["cloud-funnel", "dv"])
def test_projection_finds_the_full_mappings_matches_on_the_workload(shape: str) -> None:
    workload = load_workload()
    render = workload.RENDER[shape]
    stream = [render(record) for record in workload.generate(40_000, 42)]
    full = alerts(Mapper(), stream, shape)
    projected = alerts(Mapper(fields=SEED_FIELDS, categories=SEED_CATEGORIES), stream, shape)
    assert len(full) >= 5  # the workload plants chains at a known rate
    assert projected == full  # same matches, same documents, event by event
    found = {tuple(e["event"]["id"] for e in a["sequence"]["events"]) for a in projected}
    ids = workload.generate.chains
    if shape == "cloud-funnel":
        ids = [tuple(f"01J{i}_{i[-3:]}" for i in chain) for chain in ids]
    assert found == {tuple(chain) for chain in ids}
