"""`replay`: run the rules over local files; no console, no state."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
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
    rules = load_configured_rules(config) if emit == "alerts" else []
    tuning = load_tuning(config, rules) if rules else None
    detector = Detector(rules, allowed_lateness=timedelta(0), project=True, tuning=tuning)
    prefilter = _prefilter(detector, shape) if rules else None
    try:
        with recording_exit(summary), FileSource(paths, shape, prefilter) as source:
            usable = _UsableFiles(source, detector)
            source.on_file_done = usable.file_done
            if emit == "events":
                _replay_events(source, detector, writer, summary)
            else:
                _replay_alerts(source, detector, writer, summary, sort_budget)
            summary.skipped.update(source.stats.skipped)
            usable.check()
    finally:
        detector.fold_stats(summary)
        summary.alerts_new = writer.written if emit == "alerts" else 0
        finish_run(summary, None, None)
    return 0


def _prefilter(detector: Detector, shape: Shape) -> Prefilter:
    # Derived from the engine's literal index: cheap to build, and exact for ECS input.
    from connector.sources.literal_prefilter import literal_prefilter  # noqa: PLC0415

    return literal_prefilter(detector.engine.compiled, shape)


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
    sort_budget: int,
) -> None:
    """Candidates → sorted (spilled beyond the budget) → engine in order → alerts."""
    with CandidateSorter(sort_budget) as sorter:
        sorter.extend(extract_candidates(source.records(), detector, summary))
        for match in detector.engine.evaluate_ordered(sorter.sorted()):
            for alert in detector.alerts([match], final=False):
                writer.write(alert)
        for alert in detector.alerts([], final=True):  # suppression groups, once, final
            writer.write(alert)


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
