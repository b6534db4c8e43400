"""Replay and hunt give the same alerts whatever the order of their input (issue 12).

The oracle is the replay of the time-sorted workload, which finds exactly the planted chains
(the truth file). Hypothesis then permutes the lines (shuffles, reversals), splits them over
several files and shrinks the sort budget so sorted runs spill to disk and are merged; every
variant must give exactly the oracle's alerts. Hunt is checked the same way across windows.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import json
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.config import Config
from connector.detection.engine import Candidate
from connector.detection.rules import load_rules
from connector.ops import RunSummary
from connector.pipeline import AlertWriter, Detector
from connector.runner import replay
from connector.runner.hunt import HuntRequest, _hunt_windows
from connector.runner.ordering import CandidateSorter
from connector.sources.base import RawRecord, SourceStats
from connector.timeutil import Window, format_utc, to_datetime
from tests.e2e.conftest import truth_chains
from tests.e2e.support import matched_ids

LINES = 15_000  # a prefix of the 30,000-event workload: enough chains, quick to replay
_SETTINGS = settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def sample(workload: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first LINES lines of the DV workload, sorted by event time."""
    lines = workload["dv"].read_bytes().splitlines(keepends=True)[:LINES]
    lines.sort(key=lambda line: (json.loads(line)["eventTime"], json.loads(line)["id"]))
    path = tmp_path_factory.mktemp("order") / "sorted.ndjson"
    path.write_bytes(b"".join(lines))
    return path


@pytest.fixture(scope="module")
def oracle(sample: Path, workload: dict[str, Path]) -> set[str]:
    """Alert ids of the sorted input; they are exactly the planted chains in the sample."""
    alerts = run_replay([sample], budget=50_000)
    ids = {str(e) for e in _sample_ids(sample)}
    planted = {c for c in truth_chains(workload["dv"]) if set(c) <= ids}
    assert len(planted) >= 3, "the sample should hold several planted chains"
    assert {matched_ids(a) for a in alerts} == planted
    return {a["event"]["id"] for a in alerts}


def _sample_ids(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_bytes().splitlines()]


def run_replay(paths: list[Path], budget: int) -> list[dict[str, Any]]:
    sink = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):
        code = replay(Config.model_validate({}), paths, "auto", "alerts", sink, sort_budget=budget)
    assert code == 0
    return [json.loads(line) for line in sink.getvalue().splitlines()]


def write_variant(
    sample: Path, folder: Path, rnd: random.Random, how: str, parts: int
) -> list[Path]:
    """The sample's lines reordered (`how`) and cut into `parts` files at random places."""
    lines = sample.read_bytes().splitlines(keepends=True)
    if how == "reverse":
        lines.reverse()
    elif how == "shuffle":
        rnd.shuffle(lines)
    cuts = sorted(rnd.sample(range(1, len(lines)), parts - 1))
    paths = []
    for index, (start, end) in enumerate(zip([0, *cuts], [*cuts, len(lines)], strict=True)):
        path = folder / f"part-{index}.ndjson"
        path.write_bytes(b"".join(lines[start:end]))
        paths.append(path)
    rnd.shuffle(paths)  # the order the files are named on the command line does not matter
    return paths


@_SETTINGS
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    how=st.sampled_from(["shuffle", "reverse", "sorted"]),
    parts=st.integers(min_value=1, max_value=4),
    budget=st.sampled_from([1, 97, 50_000]),
)
def test_replay_gives_the_sorted_input_alerts_in_any_order(
    sample: Path,
    oracle: set[str],
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    how: str,
    parts: int,
    budget: int,
) -> None:
    paths = write_variant(
        sample, tmp_path_factory.mktemp("variant"), random.Random(seed), how, parts
    )
    alerts = run_replay(paths, budget)
    assert {a["event"]["id"] for a in alerts} == oracle
    assert len(alerts) == len(oracle)  # each chain once


class PagedSource:
    """A console whose pages come in a given order: each window's records, as listed."""

    name = "pages"

    def __init__(self, records: list[dict[str, Any]]) -> None:
        # (time, arrival rank) sorted, to find a window's records by bisection; they are
        # then handed out in arrival order.
        self.index = sorted((r["eventTime"], rank) for rank, r in enumerate(records))
        self.records = records
        self.stats = SourceStats()

    @property
    def max_window(self) -> timedelta | None:
        return None

    def close(self) -> None:
        """Nothing to close."""

    def __enter__(self) -> PagedSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def fetch(self, window: Window) -> Iterator[RawRecord]:
        low = bisect.bisect_left(self.index, (format_utc(window.start), -1))
        high = bisect.bisect_left(self.index, (format_utc(window.end), -1))
        for rank in sorted(rank for _, rank in self.index[low:high]):
            yield "dv", self.records[rank]


@settings(_SETTINGS, max_examples=6)
@given(
    seed=st.integers(min_value=0, max_value=2**32),
    how=st.sampled_from(["shuffle", "reverse"]),
    window_s=st.sampled_from([7, 60, 600, 7200]),
)
def test_hunt_across_windows_gives_the_sorted_input_alerts(
    sample: Path, oracle: set[str], seed: int, how: str, window_s: int
) -> None:
    """Pages come in any order and chains straddle window boundaries (7 s windows cut most
    of them): hunt, which sorts each window and carries state across, finds them all."""
    records = [json.loads(line) for line in sample.read_bytes().splitlines()]
    if how == "reverse":
        records.reverse()
    else:
        random.Random(seed).shuffle(records)
    times = [r["eventTime"] for r in records]
    start, end = to_datetime(min(times)), to_datetime(max(times))
    assert start is not None and end is not None
    request = HuntRequest(start, end + timedelta(seconds=1), timedelta(seconds=window_s))
    detector = Detector(load_rules(True, [], []), allowed_lateness=timedelta(0))
    alerts: list[dict[str, Any]] = []
    summary = RunSummary("hunt")
    _hunt_windows(
        PagedSource(records),
        request,
        detector=detector,
        writer=AlertWriter(io.StringIO()),
        alerts=alerts,
        summary=summary,
    )
    detector.fold_stats(summary)
    assert {a["event"]["id"] for a in alerts} == oracle
    assert len(alerts) == len(oracle)
    assert summary.engine["late_events"] == 0


@given(
    keys=st.lists(st.tuples(st.integers(0, 50), st.integers(0, 3)), max_size=300),
    budget=st.integers(min_value=1, max_value=40),
)
def test_the_sorter_sorts_any_input_with_any_budget(
    keys: list[tuple[int, int]], budget: int
) -> None:
    items: list[Candidate] = [
        ((t, 0, 0, f"id-{n:04d}"), {"n": n}, []) for n, (t, _) in enumerate(keys)
    ]
    with CandidateSorter(budget) as sorter:
        sorter.extend(items)
        out = list(sorter.sorted())
        assert sorter.spilled == (len(items) // budget) * budget
    assert out == sorted(items, key=lambda item: item[0])
