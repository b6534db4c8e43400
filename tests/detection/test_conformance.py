"""Elasticsearch's EQL QA corpus: every supported query returns exactly ES's event ids.

Prints "passed / supported / total"; unsupported queries are skipped for a named reason
(see `conformance.MAPPING_DEPENDENT` and the parser's messages for unsupported constructs).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.detection.conformance import Case, load_cases, load_events, run_case

FOLDER = FIXTURES / "elasticsearch-eql"
CASES = load_cases(FOLDER) if FOLDER.is_dir() else []
_EVENTS: dict[str, list[dict[str, Any]]] = {}


def _events_for(case: Case) -> list[dict[str, Any]]:
    if case.file not in _EVENTS:
        _EVENTS[case.file] = load_events(FOLDER, case.file)
    return _EVENTS[case.file]


def _ids(case: Case) -> str:
    return f"{case.file.removesuffix('.toml')}:{case.name}"


def test_corpus_is_there() -> None:
    assert len(CASES) == 234, "133 + 61 + 40 active queries (see PROVENANCE.md)"


@pytest.mark.parametrize("case", CASES, ids=[_ids(c) for c in CASES])
def test_query(case: Case) -> None:
    outcome = run_case(case, _events_for(case))
    if outcome.ids is None:
        pytest.skip(outcome.skip_reason)
    assert outcome.ids == case.expected, case.query
    if case.join_keys is not None:
        assert [str(k) for k in outcome.join_keys or []] == [str(k) for k in case.join_keys]


def test_summary(capsys: pytest.CaptureFixture[str]) -> None:
    passed = supported = 0
    reasons: Counter[str] = Counter()
    for case in CASES:
        outcome = run_case(case, _events_for(case))
        if outcome.ids is None:
            reasons[outcome.skip_reason] += 1
            continue
        supported += 1
        passed += outcome.ids == case.expected
    with capsys.disabled():
        print(f"\nEQL conformance: {passed} passed / {supported} supported / {len(CASES)} total")
        for reason, count in reasons.most_common():
            print(f"  skipped {count}: {reason}")
    assert passed == supported
    assert supported >= 220, "nearly all of the corpus is supported"
