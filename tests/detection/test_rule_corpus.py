"""All 408 Elastic rules that target SentinelOne data parse and compile.

Any rule that fails must fail with one of the documented unsupported constructs (README);
today there are none, and the test prints the tally.
"""

from __future__ import annotations

from collections import Counter

import pytest

from connector.detection.check import check_file
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "detection-rules-s1" / "rules"
DOCUMENTED_UNSUPPORTED = (
    "`join` queries are not supported",
    "`sample` queries are not supported",
    "missing-event stages `![...]` are not supported",
    "is not supported (Elasticsearch does not support it either)",  # lineage
    "is not supported in detection rules",  # pipes
)


def test_every_rule_parses_and_compiles(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(CORPUS.rglob("*.toml"))
    assert len(files) == 408
    unsupported: Counter[str] = Counter()
    fields: set[str] = set()
    for path in files:
        check = check_file(path)
        if check.error is not None:
            message = check.error.message
            assert any(m in message for m in DOCUMENTED_UNSUPPORTED), str(check.error)
            unsupported[message] += 1
            continue
        assert check.rule is not None and check.rule.language == "eql"
        assert check.fields, path
        fields |= check.fields
    with capsys.disabled():
        ok = len(files) - sum(unsupported.values())
        print(
            f"\ndetection-rules corpus: {ok} / {len(files)} compile; {len(fields)} distinct fields"
        )
        for message, count in unsupported.most_common():
            print(f"  rejected {count}: {message}")
    assert not unsupported
