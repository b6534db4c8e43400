"""All 408 Elastic rules over the benchmark workload: the literal index and the raw-line
prefilter derived from it change what is evaluated, never what is found."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from connector.detection.engine import Engine
from connector.detection.model import Match, Rule
from connector.detection.program import CompiledRule, compile_rule
from connector.detection.rules import load_rules
from connector.detection.stages import Dispatch
from connector.mapping import Mapper
from connector.sources.base import Shape
from connector.sources.literal_prefilter import literal_prefilter
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "detection-rules-s1" / "rules"
LINES = 6000


@pytest.fixture(scope="module")
def corpus() -> list[Rule]:
    return load_rules(builtin=False, paths=[CORPUS])


def _lines(path: Path) -> list[bytes]:
    with path.open("rb") as handle:
        return [line.rstrip(b"\n") for line in islice(handle, LINES)]


def _events(lines: list[bytes], shape: Shape) -> list[dict[str, Any] | None]:
    mapper = Mapper()
    return [mapper.map(json.loads(line), shape) for line in lines]


def _found(matches: list[Match]) -> list[tuple[str, tuple[str, ...]]]:
    return sorted((m.rule.rule_id, tuple(e["event.id"] for e in m.events)) for m in matches)


def test_indexed_engine_finds_what_a_full_scan_finds(
    corpus: list[Rule], workload: dict[str, Path]
) -> None:
    events = [e for e in _events(_lines(workload["ecs"]), "ecs") if e is not None]
    indexed, scanning = Engine(corpus), Engine(corpus)
    scanning._dispatch = Dispatch(scanning.compiled, use_index=False)
    found = _found(indexed.process(events))
    assert found == _found(scanning.process(events))
    assert len(found) > 50, "the workload must make many rules fire"
    # The index did its job: most stage conditions were never run for most events.
    assert indexed.stats.candidates == scanning.stats.candidates


def _fully_needled(rules: list[Rule], shape: Shape) -> list[CompiledRule]:
    """The rules whose every stage has needles usable on `shape` lines."""
    kept = []
    for rule in rules:
        compiled = compile_rule(rule)
        if not literal_prefilter([compiled], shape).passes_everything:
            kept.append(compiled)
    return kept


@pytest.mark.parametrize("shape", ["ecs", "cloud-funnel"])
@pytest.mark.parametrize("rule_set", ["corpus", "seed"])
def test_prefilter_passes_every_line_a_stage_matches(
    corpus: list[Rule], workload: dict[str, Path], shape: Shape, rule_set: str
) -> None:
    """Every corpus rule whose stages all have usable needles (hundreds), or the seed rule:
    a line whose event some stage matches always passes; the seed rule skips most lines."""
    rules = _fully_needled(corpus if rule_set == "corpus" else load_rules(), shape)
    assert len(rules) > (100 if rule_set == "corpus" else 0)
    prefilter = literal_prefilter(rules, shape)
    assert not prefilter.passes_everything
    dispatch = Dispatch(rules)
    lines = _lines(workload[shape])
    matched = skipped = 0
    for line, event in zip(lines, _events(lines, shape), strict=True):
        hits = event and dispatch.candidates(event, event.get("event.category"))
        matched += bool(hits)
        passes = prefilter(line)
        skipped += not passes
        assert passes or not hits, (line, hits)
    assert matched > 10
    if rule_set == "seed":
        assert skipped > LINES * 0.9


def test_all_rules_prefilter_falls_back_to_unselective_needles(corpus: list[Rule]) -> None:
    """Some Elastic rules have a stage that tests only unselective fields (a network stage
    testing only `host.os.type == "windows"`): its needle is then that value, which skips
    the lines of other systems; with every stage of the 408 rules, some line can be skipped."""
    compiled = [compile_rule(rule) for rule in corpus]
    prefilter = literal_prefilter(compiled, "ecs")
    assert not prefilter.passes_everything
    assert (((b"windows",),)) in prefilter.alternatives
    assert not prefilter(b'{"host.os.type":"solaris","event.category":["network"]}')
