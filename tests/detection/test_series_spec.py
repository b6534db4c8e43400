"""Elasticsearch's sequence state-machine spec (`sequences.series-spec`), run through the engine.

Each spec lists, per stage, the events matching that stage (`[key|]Label<time>`), then the
expected sequences. The file is parsed at test time; every one of its specs must pass.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.detection.engine import Engine
from connector.detection.model import Rule
from tests.conftest import FIXTURES

SPEC_FILE = FIXTURES / "elasticsearch-eql" / "sequences.series-spec"
TOKEN = re.compile(r"^(?:(?P<key>[^|\s]+)\|)?(?P<label>[A-Za-z]+)(?P<time>\d+)$")


@dataclass(frozen=True)
class Spec:
    name: str
    stages: list[list[str]]
    expected: list[list[str]]


def parse_specs(path: Path) -> list[Spec]:
    """Split the file into specs: name, stage lines until `;`, expected lines until `;`."""
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [line for line in lines if line and not line.startswith("//")]
    specs: list[Spec] = []
    index = 0
    while index < len(lines):
        name = lines[index]
        stages, index = _block(lines, index + 1)
        expected, index = _block(lines, index)
        specs.append(Spec(name, stages, expected))
    return specs


def _block(lines: list[str], index: int) -> tuple[list[list[str]], int]:
    block: list[list[str]] = []
    while lines[index] != ";":
        block.append(lines[index].split())
        index += 1
    return block, index + 1


def _events(spec: Spec) -> list[dict[str, Any]]:
    """One event per distinct token time; it carries a flag per stage line it appears on."""
    by_time: dict[int, dict[str, Any]] = {}
    for stage, tokens in enumerate(spec.stages):
        for token in tokens:
            found = TOKEN.match(token)
            assert found, f"{spec.name}: bad token {token!r}"
            time = int(found.group("time"))
            event = by_time.setdefault(
                time, {"@timestamp": time, "key": found.group("key") or "-", "labels": {}}
            )
            event[f"stage{stage}"] = True
            event["labels"][stage] = found.group("label") + found.group("time")
    return [by_time[t] for t in sorted(by_time)]


def _label(token: str) -> str:
    """`r|W2` -> `W2` (expected lines carry the key on their first token only)."""
    return token.rsplit("|", maxsplit=1)[-1]


def _rule(stages: int) -> Rule:
    terms = " ".join(f"[any where stage{i} == true]" for i in range(stages))
    return Rule(rule_id="spec", name="spec", query=f"sequence by key {terms}")


SPECS = parse_specs(SPEC_FILE) if SPEC_FILE.is_file() else []


def test_the_spec_file_has_its_25_specs() -> None:
    assert len(SPECS) == 25


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_series_spec(spec: Spec) -> None:
    engine = Engine([_rule(len(spec.stages))], category_field="none")
    matches = engine.process(_events(spec))
    got = [
        [event["labels"][stage] for stage, event in enumerate(match.events)] for match in matches
    ]
    expected = [[_label(token) for token in line] for line in spec.expected]
    assert got == expected
