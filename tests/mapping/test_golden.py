"""Golden tests: every case under data/ maps to exactly its expected flat event (or skip)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from connector.mapping import Skip, to_ecs
from tests.mapping.golden import Case, cases, load_input

CASES = cases()


def test_there_are_golden_cases_for_every_shape() -> None:
    assert {case.shape for case in CASES} == {"dv", "cloud-funnel", "ecs"}
    assert all(case.expected_path.is_file() for case in CASES), "a case lacks its expected file"


@pytest.mark.parametrize("case", CASES, ids=str)
def test_golden_case(case: Case, shared: Path) -> None:
    record = load_input(case, shared)
    expected = json.loads(case.expected_path.read_text(encoding="utf-8"))
    bad: Counter[str] = Counter()
    result = to_ecs(record, case.shape, bad=bad)  # type: ignore[arg-type]
    if "skip" in expected:
        assert result == Skip(expected["skip"])
        return
    assert not isinstance(result, Skip), result
    assert result == expected["event"]
    assert dict(bad) == expected.get("bad_fields", {})


@pytest.mark.parametrize("case", [c for c in CASES if c.shape != "ecs"], ids=str)
def test_auto_detects_the_same_shape(case: Case, shared: Path) -> None:
    record = load_input(case, shared)
    assert to_ecs(record, "auto") == to_ecs(record, case.shape)  # type: ignore[arg-type]
