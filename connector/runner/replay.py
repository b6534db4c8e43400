"""`replay`: run the rules over local files; no console, no state."""

from __future__ import annotations

import gc
import logging
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import TextIO

from connector.config import Config
from connector.ecsutil import nest
from connector.errors import (
    BadInputError,
)
from connector.ops import RunSummary
from connector.pipeline import AlertWriter, Detector
from connector.runner.common import (
    finish_run,
    load_configured_rules,
    load_tuning,
    recording_exit,
)
from connector.runner.ordering import SORT_BUDGET, CandidateSorter, extract_candidates
from connector.sources.base import Shape
from connector.sources.files import FileSource
from connector.sources.query import Prefilter
from connector.sources.replay_filter import ReplayFilter

__all__ = ["replay"]

log = logging.getLogger(__name__)


def replay(
    config: Config,
    paths: Sequence[Path],
    shape: Shape,
    emit: str,
    out: TextIO,
    *,
    sort_budget: int = SORT_BUDGET,
) -> int:
    """Run the rules over local files (or print the mapped events); no console, no state.

    Alerts are exact whatever the order of files and lines (see `ordering.py`); at most
    `sort_budget` candidate events are held in memory, the rest wait in sorted runs on disk.
    A file of which no record could be mapped is a `BadInputError` (exit 65), raised after
    every file was read."""
    summary = RunSummary("replay")
    writer = AlertWriter(out)
    with _setup_collection():
        rules = load_configured_rules(config) if emit == "alerts" else []
        tuning = load_tuning(config, rules) if rules else None
        detector = Detector(rules, allowed_lateness=timedelta(0), project=True, tuning=tuning)
        plan = _plan(detector, shape) if rules else None
    try:
        prefilter = plan.first if plan is not None else None
        with (
            recording_exit(summary),
            _bulk_collection(),
            FileSource(paths, shape, prefilter) as source,
        ):
            usable = _UsableFiles(source, detector)
            source.on_file_done = usable.file_done
            if emit == "events" or plan is None:
                _replay_events(source, detector, writer, summary)
            else:
                _replay_alerts(
                    source, detector, writer, summary, sort_budget=sort_budget, plan=plan
                )
            summary.skipped.update(source.stats.skipped)
            usable.check()
    finally:
        detector.fold_stats(summary)
        summary.alerts_new = writer.written if emit == "alerts" else 0
        finish_run(summary, None, None)
    return 0


_BULK_THRESHOLDS = (50_000, 20, 100)
"""The cyclic collector's thresholds while replay reads: a run allocates millions of
containers (parsed lines, events, candidates) and frees them by reference counting alone;
at the default (700, 10, 10) the collector scanned the growing candidate buffer again and
again (831 young, 75 middle and 6 full collections in a 200k-event run with the 408 rules:
~1.2 s CPU, measured with `gc.callbacks`), freeing nothing."""


@contextmanager
def _setup_collection() -> Iterator[None]:
    """No cyclic collection while the rules load and the filter is built, and what they keep
    frozen after (the collector never scans it again); the collector is then as before.

    Unpickling 1,599 cached rules makes millions of objects and no cyclic garbage: at the
    bulk thresholds the collector still scanned all of them in young collections, and once
    more in one middle collection when the thresholds were restored (~0.4 s of a replay of
    one line with the Elastic + SigmaHQ rules, measured with `gc.callbacks`). Converting
    every SigmaHQ file afresh (no cache) left 730 objects of cyclic garbage in all."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    except BaseException:
        if enabled:
            gc.enable()
        raise
    gc.freeze()  # `_bulk_collection` unfreezes at the end of the run
    if enabled:
        gc.enable()


@contextmanager
def _bulk_collection() -> Iterator[None]:
    """Raise the collector's thresholds and freeze what exists (the loaded rules) for the
    run; both restored after. Cycles are still collected, only less often."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*_BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _plan(detector: Detector, shape: Shape) -> ReplayFilter:
    # Derived from the rules' needles and join keys, exact (see `replay_filter.py`); kept in
    # the rule cache's folder (`replay_filter_cache.py`).
    from connector.sources.replay_filter_cache import cached_replay_filter  # noqa: PLC0415

    return cached_replay_filter(detector.engine.compiled, shape)


def _replay_events(
    source: FileSource, detector: Detector, writer: AlertWriter, summary: RunSummary
) -> None:
    for shape, record in source.records():
        summary.records += 1
        event = detector.mapper.map(record, shape)
        if event is not None:
            writer.write(nest(event))


def _replay_alerts(
    source: FileSource,
    detector: Detector,
    writer: AlertWriter,
    summary: RunSummary,
    *,
    sort_budget: int,
    plan: ReplayFilter,
) -> None:
    """Candidates (first pass, then the second pass by join value) → sorted (spilled beyond
    the budget) → engine in order → alerts."""
    joins = plan.join_values()
    with CandidateSorter(sort_budget) as sorter:
        add = sorter.add
        note = joins.add
        for candidate in extract_candidates(source.records(), detector, summary):
            note(candidate[1], candidate[2])
            add(candidate)
        second = joins.prefilter()
        if second is not None and not source.dense_files:
            _second_pass(source, second, plan, detector, summary, sorter=sorter)
        for match in detector.engine.evaluate_ordered(joins.needed(sorter.sorted())):
            for alert in detector.alerts([match], final=False):
                writer.write(alert)
        for alert in detector.alerts([], final=True):  # suppression groups, once, final
            writer.write(alert)
    if joins.dropped:
        log.info("replay: %d stage hit(s) of joined sequence rules dropped (no root match "
                 "with their join key)", joins.dropped)  # fmt: skip


def _second_pass(
    source: FileSource,
    second: Prefilter,
    plan: ReplayFilter,
    detector: Detector,
    summary: RunSummary,
    *,
    sorter: CandidateSorter,
) -> None:
    """Read the files again for the lines that hold a join value of a root match and that
    the first pass skipped; their counts move from `prefilter` to the records read."""
    with FileSource(source.paths, source.shape, second, exclude=plan.first) as more:
        sorter.extend(extract_candidates(more.records(), detector, summary))
    source.stats.skipped["prefilter"] -= more.taken_lines
    if source.stats.skipped["prefilter"] <= 0:
        del source.stats.skipped["prefilter"]
    source.stats.skipped.update(more.stats.skipped)
    source.stats.records += more.stats.records
    log.info(
        "replay second pass: %d join value(s) of %d sequence rule(s), %d more line(s) read",
        len(second.alternatives), len(plan.joins), more.taken_lines,
    )  # fmt: skip


class _UsableFiles:
    """Which files gave no mappable record, and what they held instead."""

    def __init__(self, source: FileSource, detector: Detector) -> None:
        self.source = source
        self.mapper = detector.mapper
        self.unusable: list[str] = []
        self._mapped = 0
        self._records = 0
        self._skipped: Counter[str] = Counter()

    def file_done(self, path: Path) -> None:
        records = self.source.stats.records - self._records
        mapped = self.mapper.mapped - self._mapped
        skipped = (self.source.stats.skipped + self.mapper.skipped) - self._skipped
        if not mapped:
            saw = ", ".join(f"{reason}={count}" for reason, count in sorted(skipped.items()))
            self.unusable.append(
                f"{path}: {records} record(s), none mappable ({saw or 'no records'})"
            )
        self._records = self.source.stats.records
        self._mapped = self.mapper.mapped
        self._skipped = self.source.stats.skipped + self.mapper.skipped

    def check(self) -> None:
        if self.unusable:
            raise BadInputError(
                "no record could be mapped in "
                + "; ".join(self.unusable)
                + " — is this a SentinelOne export (Cloud Funnel, DV, SDL) or ECS NDJSON?"
            )
