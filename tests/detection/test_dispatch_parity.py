"""The index (categories, anchors, needles, numbers) gives exactly the hits of a full scan.

Events are drawn from the corpus's own vocabulary: the fields its rules read and the
constants its conditions hold (also upper-cased, inside longer text, as numbers of another
type, in lists), so most events reach some stage and many match one. A hit the index misses
or invents fails the test, whatever index or fast path gave it.
"""

from __future__ import annotations

import random
from dataclasses import fields, is_dataclass, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.detection.anchors import categories_of, index_anchor
from connector.detection.eql import ast
from connector.detection.model import Rule
from connector.detection.program import CompiledRule, compile_rule
from connector.detection.rules import load_rules
from connector.detection.stages import Dispatch
from tests.conftest import FIXTURES
from tests.detection.conditions import condition as parse_condition
from tests.detection.test_dispatch import _wanted

_RULES = load_rules(builtin=False, paths=[FIXTURES / "detection-rules-s1" / "rules"])
_CORPUS: list[CompiledRule] = [compile_rule(rule) for rule in _RULES]
_INDEXED = Dispatch(_CORPUS)
_SCANNED = Dispatch(_CORPUS, use_index=False)


def _walk(node: Any, found: dict[str, set[Any]]) -> None:
    """Collect field names and literal values of an AST."""
    if isinstance(node, ast.Field):
        found["fields"].add(node.name)
    elif isinstance(node, ast.Literal):
        found["values"].add(node.value)
    elif isinstance(node, ast.EventQuery) and node.category is not None:
        found["categories"].add(node.category)
    if is_dataclass(node):
        for item in fields(node):
            child = getattr(node, item.name)
            for part in child if isinstance(child, tuple) else (child,):
                if is_dataclass(part):
                    _walk(part, found)


def _vocabulary() -> dict[str, list[Any]]:
    found: dict[str, set[Any]] = {"fields": set(), "values": set(), "categories": set()}
    for compiled in _CORPUS:
        _walk(compiled.query, found)
    values: set[Any] = set()
    for value in found["values"]:
        values.add(value)
        if isinstance(value, str):
            core = value.replace("*", "").replace("?", "x")
            values.update({core, core.upper(), f"C:\\x\\{core}.tmp", f"-a {core} -b"})
        elif isinstance(value, int | float) and not isinstance(value, bool):
            values.update({float(value), str(value), value + 1})
    order = sorted(values, key=repr)
    return {
        "fields": sorted(found["fields"]),
        "values": order,
        "categories": [*sorted(found["categories"]), "other"],
    }


_VOCABULARY = _vocabulary()


def _stage_events() -> list[dict[str, Any]]:
    """Per stage, the field values that make its positive terms true (first `or` branch)."""
    events: list[dict[str, Any]] = []
    for compiled in _CORPUS:
        body = compiled.query.body
        queries = [body] if isinstance(body, ast.EventQuery) else [s.query for s in body.stages]
        for query in queries:
            wanted: dict[str, list[Any]] = {}
            _wanted(query.condition, wanted)
            event = {name: values[0] for name, values in wanted.items()}
            event.setdefault("event.category", [query.category or "process"])
            events.append(event)
    return events


_STAGE_EVENTS = _stage_events()


def _vary(value: Any, rng: random.Random) -> Any:
    """Another spelling or type of a value that a stage may or may not accept."""
    choice = rng.random()
    if isinstance(value, str):
        if choice < 0.15:
            return value.upper()
        if choice < 0.2:
            return value.title()
        if choice < 0.25:
            return f"x{value}"
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if choice < 0.15:
            return float(value)
        if choice < 0.2:
            return str(value)
        if choice < 0.25:
            return True
    if choice < 0.35:
        return [rng.choice(_VOCABULARY["values"]), value]
    return value


def _random_event(rng: random.Random) -> dict[str, Any]:
    """A stage's wanted event with values varied, dropped or added from the corpus."""
    vocabulary = _VOCABULARY
    event = {
        name: _vary(value, rng)
        for name, value in rng.choice(_STAGE_EVENTS).items()
        if rng.random() < 0.97
    }
    for name in rng.sample(vocabulary["fields"], rng.randint(0, 2)):
        kind = rng.random()
        if kind < 0.6:
            event[name] = rng.choice(vocabulary["values"])
        elif kind < 0.9:
            event[name] = [rng.choice(vocabulary["values"]) for _ in range(rng.randint(1, 3))]
        else:
            event[name] = None
    categories = vocabulary["categories"]
    if rng.random() < 0.1 or "event.category" not in event:
        event["event.category"] = (
            rng.choice(categories) if rng.random() < 0.5 else rng.sample(categories, 2)
        )
    if rng.random() < 0.2:
        event["host.os.type"] = rng.choice(["windows", "linux", "macos", "Windows"])
    return event


@settings(max_examples=3000, deadline=None)
@given(rng=st.randoms(use_true_random=False))
def test_the_index_finds_the_hits_of_a_full_scan(rng: random.Random) -> None:
    event = _random_event(rng)
    category = event.get("event.category")
    assert _INDEXED.candidates(event, category) == _SCANNED.candidates(event, category), event


def test_the_generated_events_do_match_stages() -> None:
    """The vocabulary reaches stages (else the parity test would prove little)."""
    assert len(_VOCABULARY["fields"]) > 40 and len(_VOCABULARY["values"]) > 1000
    rng = random.Random(7)
    events = [_random_event(rng) for _ in range(3000)]
    hits = sum(bool(_SCANNED.candidates(e, e["event.category"])) for e in events)
    assert hits > 400, hits


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('event.category in ("file", "process") and x == 1', {"file", "process"}),
        ('event.category == "file"', {"file"}),
        ('event.category : "file"', None),  # case-insensitive: the index keys are exact
        ('event.category == "file" or x == 1', None),
        ('not event.category == "file"', None),
    ],
)
def test_categories_of(text: str, expected: set[str] | None) -> None:
    found = categories_of(parse_condition(text), "event.category")
    assert (None if found is None else set(found)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('destination.port == 88 and x : "*a*"', ("destination.port", {88})),
        ("destination.port in (5985, 5986)", ("destination.port", {5985, 5986})),
        ('host.os.type == "linux" and x : "*a*"', ("host.os.type", {"linux"})),
        ('host.os.type == "linux" and process.pid == 4', ("process.pid", {4})),
        ('x in (1, "a")', None),
        ('host.os.type : "windows" and (y == "a" and port : 9389)', ("y", {"a"})),
        ('host.os.type : "windows" and (z : "*a*" and port : (9389, 88))', ("port", {9389, 88})),
        ("x == true", None),
        ("x != 4", None),
    ],
)
def test_index_anchor(text: str, expected: tuple[str, set[Any]] | None) -> None:
    anchor = index_anchor(parse_condition(text))
    assert (None if anchor is None else (anchor.field, set(anchor.values))) == expected


@pytest.mark.parametrize(
    "value",
    [88, 88.0, [1, 88], "88", True, [True, "88"], None, {"a": 1}, [{"a": 1}], 89],
)
def test_number_anchors_match_like_the_condition(value: Any) -> None:
    query = "sequence [network where destination.port == 88] [network where destination.port : 1]"
    compiled = [compile_rule(Rule("probe", "probe", query))]
    event = {"event.category": ["network"], "destination.port": value}
    indexed = Dispatch(compiled).candidates(event, ["network"])
    assert indexed == Dispatch(compiled, use_index=False).candidates(event, ["network"])


def _counted(compiled: CompiledRule, calls: list[int]) -> CompiledRule:
    """`compiled` with its stage conditions counting their calls into `calls`."""

    def counting(fn: Any) -> Any:
        def condition(event: Any) -> bool:
            calls.append(1)
            return bool(fn(event))

        return condition

    stages = tuple(
        replace(s, condition=replace(s.condition, fn=counting(s.condition.fn)))
        for s in compiled.stages
    )
    return replace(compiled, stages=stages)


def test_a_needle_stage_is_tried_only_for_its_needles_in_their_fields() -> None:
    """The literal pass reads the needle fields of the event's category only, and a needle
    text in another field does not make the stage worth trying."""
    query = 'process where process.executable : "*\\\\powershell.exe" and process.args : "-x"'
    other = 'process where process.command_line : "*-encodedcommand*"'
    calls: list[int] = []
    dispatch = Dispatch(
        [
            _counted(compile_rule(Rule("probe", "probe", query)), calls),
            compile_rule(Rule("other", "other", other)),
        ]
    )
    plan = [name for name, _ in dispatch._indexes["process"].plan]
    assert plan == ["process.command_line", "process.executable"]
    assert dispatch._fallback.plan == ()
    line = {"process.command_line": "C:\\x\\powershell.exe -x", "process.args": ["-x"]}
    assert dispatch.candidates(line, "process") is None
    assert calls == []
    event = {**line, "process.executable": "C:\\PowerShell.exe", "process.args": ["-x"]}
    assert dispatch.candidates(event, "process") == [(0, 0)]
    assert calls == [1]
    assert dispatch.candidates(event, "network") is None
    assert calls == [1]
