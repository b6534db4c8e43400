"""The category/anchor index selects exactly the stages a full scan would (408 real rules)."""

from __future__ import annotations

from typing import Any

import pytest

from connector.detection.anchors import anchor_of
from connector.detection.eql import ast
from connector.detection.eql.parser import parse
from connector.detection.program import CompiledRule, compile_rule
from connector.detection.rules import load_rules
from connector.detection.stages import Dispatch
from tests.conftest import FIXTURES
from tests.detection.seed import connect, start


@pytest.fixture(scope="module")
def corpus() -> list[CompiledRule]:
    rules = load_rules(
        builtin=True,
        paths=[FIXTURES / "detection-rules-s1" / "rules"],
        disabled={"89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"},
    )
    return [compile_rule(rule) for rule in rules]


def _wanted(node: ast.Expr, out: dict[str, list[Any]]) -> None:
    """Field values that make the positive terms of a condition true (first `or` branch)."""
    if isinstance(node, ast.And):
        for term in node.terms:
            _wanted(term, out)
    elif isinstance(node, ast.Or):
        _wanted(node.terms[0], out)
    elif isinstance(node, ast.Compare) and node.op == "==" and isinstance(node.left, ast.Field):
        if isinstance(node.right, ast.Literal) and node.right.value is not None:
            out.setdefault(node.left.name, []).append(node.right.value)
    elif isinstance(node, ast.In | ast.StringMatch) and isinstance(node.value, ast.Field):
        options = node.options if isinstance(node, ast.In) else node.patterns
        first = options[0]
        if isinstance(first, ast.Literal) and isinstance(first.value, str | int):
            value = first.value
            if isinstance(node, ast.StringMatch) and isinstance(value, str):
                if node.operator == "regex":
                    return
                value = value.replace("*", "x").replace("?", "y")
            out.setdefault(node.value.name, []).append(value)


def _probe_events(compiled: list[CompiledRule]) -> list[dict[str, Any]]:
    """Per anchored stage, an event built to satisfy its positive terms, plus an odd-case and
    a list-valued variant of its anchor field."""
    events: list[dict[str, Any]] = [start(0), connect(1)]
    for rule in compiled:
        for stage in rule.stages:
            if stage.anchor is None:
                continue
            body = parse(rule.rule.query).body
            queries = [body] if isinstance(body, ast.EventQuery) else [s.query for s in body.stages]
            for query in queries:
                wanted: dict[str, list[Any]] = {}
                _wanted(query.condition, wanted)
                event = {"event.category": [query.category or "process"], **wanted}
                events.append(event)
                value = sorted(stage.anchor.values)[0]
                shown = value.upper() if stage.anchor.fold else value
                events.append({**event, stage.anchor.field: shown})
                events.append({**event, stage.anchor.field: ["other", shown]})
    return events


def test_index_selects_the_same_stages_as_a_full_scan(corpus: list[CompiledRule]) -> None:
    indexed, scanned = Dispatch(corpus), Dispatch(corpus, use_index=False)
    events = _probe_events(corpus)
    assert len(events) > 500
    hits = 0
    for event in events:
        category = event.get("event.category")
        expected = scanned.candidates(event, category)
        assert indexed.candidates(event, category) == expected, event
        hits += bool(expected)
    assert hits > 100, "the probe events must actually match stages"


def test_most_corpus_stages_are_anchored(corpus: list[CompiledRule]) -> None:
    stages = [stage for rule in corpus for stage in rule.stages]
    anchored = sum(stage.anchor is not None for stage in stages)
    assert anchored / len(stages) > 0.6


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            'process.name : ("A.exe", "b.exe") and x == 1',
            ("process.name", True, {"a.exe", "b.exe"}),
        ),
        ('x in ("a", "b") and y == "c"', ("y", False, {"c"})),
        ('process.name : "*.exe"', None),
        ('process.name : "a.exe" or y == "c"', None),
        ('host.os.type == "windows"', None),
        ('x in ("a", null)', None),
        ("x == 1", None),
        ('not x == "a"', None),
    ],
)
def test_anchor_of(text: str, expected: tuple[str, bool, set[str]] | None) -> None:
    body = parse(f"any where {text}").body
    assert isinstance(body, ast.EventQuery)
    anchor = anchor_of(body.condition)
    if expected is None:
        assert anchor is None
    else:
        assert anchor is not None
        assert (anchor.field, anchor.fold, set(anchor.values)) == expected
