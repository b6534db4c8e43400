"""`replay`: run the rules over local files; no console, no state."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from connector.config import Config
from connector.detection.model import Event, Rule
from connector.ecsutil import nest
from connector.errors import (
    BadInputError,
)
from connector.ops import RunSummary
from connector.pipeline import (
    AlertWriter,
    Detector,
    event_ms,
)
from connector.runner.common import (
    finish_run,
    load_configured_rules,
    load_tuning,
    recording_exit,
)
from connector.sources.base import Shape
from connector.sources.files import FileSource
from connector.sources.query import Prefilter
from connector.timeutil import Window

__all__ = ["replay"]

log = logging.getLogger(__name__)

REPLAY_BATCH = 5000


def replay(config: Config, paths: Sequence[Path], shape: Shape, emit: str, out: TextIO) -> int:
    """Run the rules over local files (or print the mapped events); no console, no state."""
    summary = RunSummary("replay")
    writer = AlertWriter(out)
    rules = load_configured_rules(config) if emit == "alerts" else []
    tuning = load_tuning(config, rules) if rules else None
    detector = Detector(
        rules, allowed_lateness=config.poll.allowed_lateness, project=True, tuning=tuning
    )
    prefilter = _prefilter(rules) if rules else None
    try:
        with recording_exit(summary), FileSource(paths, shape, prefilter) as source:
            if emit == "events":
                _replay_events(source, detector, writer, summary)
            else:
                _replay_alerts(source, detector, writer, summary)
            summary.skipped.update(source.stats.skipped)
            if summary.records and not detector.mapper.mapped:
                raise BadInputError(
                    f"no record in {', '.join(map(str, paths))} could be mapped "
                    f"(skipped: {dict(detector.mapper.skipped)})"
                )
    finally:
        detector.fold_stats(summary)
        summary.alerts_new = writer.written if emit == "alerts" else 0
        finish_run(summary, None, None)
    return 0


def _prefilter(rules: Sequence[Rule]) -> Prefilter:
    from connector.sources.pushdown import build_pushdown  # noqa: PLC0415 - only for alerts

    return build_pushdown(rules).prefilter


def _replay_events(
    source: FileSource, detector: Detector, writer: AlertWriter, summary: RunSummary
) -> None:
    for shape, record in source.records():
        summary.records += 1
        event = detector.mapper.map(record, shape)
        if event is not None:
            writer.write(nest(event))


def _replay_alerts(
    source: FileSource, detector: Detector, writer: AlertWriter, summary: RunSummary
) -> None:
    """Stream in batches; the engine's reorder buffer keeps `allowed_lateness` of events.

    A batch ends after `REPLAY_BATCH` events, or when an event of another minute comes:
    behind a selective prefilter few records become events, and the batch (and the events
    it holds) must not grow with the input. Mapped timestamps all read
    `YYYY-MM-DDTHH:MM:SS.mmmZ`, so text order is time order and `[:16]` is the minute.
    """
    batch: list[Event] = []
    newest = minute = ""
    map_record = detector.mapper.map
    for shape, record in source.records():
        summary.records += 1
        event = map_record(record, shape)
        if event is None:
            continue
        stamp = event["@timestamp"]
        if batch and (len(batch) >= REPLAY_BATCH or not stamp.startswith(minute)):
            newest = max(newest, *(e["@timestamp"] for e in batch))
            watermark = event_ms({"@timestamp": newest})
            _write_alerts(detector, writer, batch, (watermark or 0) - detector.lateness_ms)
            batch = []
        if not batch:
            minute = stamp[:16]
        batch.append(event)
    _write_alerts(detector, writer, batch, None)


def _write_alerts(
    detector: Detector, writer: AlertWriter, events: list[Event], watermark_ms: int | None
) -> None:
    for alert in detector.detect(events, watermark_ms):
        writer.write(alert)


_ALL_TIME = Window(datetime(1970, 1, 1, tzinfo=UTC), datetime(9999, 1, 1, tzinfo=UTC))
