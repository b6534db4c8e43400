"""`hunt`: evaluate the rules over a time range; never touches the poll checkpoint or state."""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TextIO

import click

from connector.config import Config
from connector.detection.model import Event
from connector.errors import (
    ConnectorError,
    OutputClosed,
    most_actionable,
)
from connector.ops import RunSummary
from connector.pipeline import (
    AlertWriter,
    Detector,
    build_source,
    in_time_order,
)
from connector.runner.common import (
    deliver,
    finish_run,
    load_configured_rules,
    load_tuning,
    open_outputs,
    recording_exit,
    shared_rate_limit,
)
from connector.sources.base import Source
from connector.state import StateStore
from connector.timeutil import split_windows, to_epoch_ms

__all__ = ["HuntRequest", "hunt"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HuntRequest:
    """What to hunt: the half-open range, the window span, where alerts go."""

    start: datetime
    end: datetime
    window: timedelta | None = None
    deliver: bool = False


def hunt(config: Config, request: HuntRequest, out: TextIO) -> int:
    """Evaluate the rules over `[start, end)`; alerts to `out` as JSON Lines."""
    summary = RunSummary("hunt")
    rules = load_configured_rules(config)
    detector = Detector(
        rules,
        allowed_lateness=timedelta(0),
        console_url=config.console.url,
        tuning=load_tuning(config, rules),
    )
    writer = AlertWriter(out)
    alerts: list[dict[str, Any]] = []
    try:
        with (
            recording_exit(summary),
            build_source(config, rules, None) as source,
            shared_rate_limit(config, source),
        ):
            try:
                _hunt_windows(
                    source,
                    request,
                    detector=detector,
                    writer=writer,
                    alerts=alerts,
                    summary=summary,
                )
            except (ConnectorError, KeyboardInterrupt) as exc:
                if not isinstance(exc, OutputClosed):
                    # Suppression groups found so far are alerts too: out with their counts.
                    _emit(writer, detector.suppressor.flush(), alerts)
                raise
            finally:
                summary.api_calls.update(source.stats.api_calls)
                summary.skipped.update(source.stats.skipped)
                summary.pushdown = source.stats.pushdown
    finally:
        detector.fold_stats(summary)
        summary.alerts_new = len(alerts)
        if not request.deliver or summary.exit_code:
            finish_run(summary, None, None)
    if request.deliver:
        return _deliver_hunt(config, alerts, summary)
    return 0


def _hunt_windows(
    source: Source,
    request: HuntRequest,
    *,
    detector: Detector,
    writer: AlertWriter,
    alerts: list[dict[str, Any]],
    summary: RunSummary,
) -> None:
    """Windows in time order through one engine, so sequences across windows are found;
    each alert is written (and flushed) as soon as it is found. Within a window, events are
    put in time order (ties by event id) whatever order the pages came in, and every event
    of a window precedes the next window's: the answer does not depend on arrival order."""
    span = request.window or source.max_window or timedelta(days=1)
    windows = list(split_windows(request.start, request.end, span))
    seen: set[str] = set()
    with _progress(len(windows)) as advance:
        for window in windows:
            fetched = detector.map_records(source.fetch(window), window, summary)
            fresh = in_time_order(_fresh(fetched, seen, summary))
            found = detector.detect(fresh, to_epoch_ms(window.end))
            _emit(writer, found, alerts)
            summary.windows += 1
            advance(summary, len(alerts))
    _emit(writer, detector.detect([], None), alerts)


def _fresh(events: list[Event], seen: set[str], summary: RunSummary) -> list[Event]:
    fresh = []
    for event in events:
        event_id = str(event["event.id"])
        if event_id in seen:
            summary.duplicates_dropped += 1
            continue
        seen.add(event_id)
        fresh.append(event)
    return fresh


def _emit(writer: AlertWriter, found: list[dict[str, Any]], sink: list[dict[str, Any]]) -> None:
    for alert in found:
        writer.write(alert)
        sink.append(alert)


def _deliver_hunt(config: Config, alerts: list[dict[str, Any]], summary: RunSummary) -> int:
    """Queue hunt alerts in the store (dedup by id against poll's) and deliver them."""
    codes: list[int] = []
    with StateStore.open(config.state.path) as store, open_outputs(config) as outputs:
        with store.transaction():
            for alert in alerts:
                bodies = {o.name: o.render(alert) for o in outputs}
                if not store.enqueue(alert["event"]["id"], bodies, time.time()):
                    summary.alerts_duplicate += 1
        deadline = time.monotonic() + config.poll.max_runtime.total_seconds()
        codes += deliver(config, store, outputs, summary, deadline)
        summary.exit_code = most_actionable(codes)
        finish_run(summary, None, store)
    return summary.exit_code


@contextlib.contextmanager
def _progress(total: int) -> Iterator[Callable[[RunSummary, int], None]]:
    """A progress bar on a TTY; otherwise an INFO line at most every 30 s."""
    if sys.stderr.isatty():
        with click.progressbar(length=total, label="hunting", file=sys.stderr) as bar:

            def advance_bar(summary: RunSummary, alerts: int) -> None:
                bar.label = f"hunting: {summary.records} events, {alerts} alerts"
                bar.update(1)

            yield advance_bar
        return
    last = [time.monotonic()]

    def advance_log(summary: RunSummary, alerts: int) -> None:
        if time.monotonic() - last[0] >= 30 or summary.windows == total:
            last[0] = time.monotonic()
            log.info(
                "hunt: %d/%d windows, %d events, %d alerts",
                summary.windows,
                total,
                summary.records,
                alerts,
            )

    yield advance_log
