"""The three ways the product runs: `poll` (scheduled), `hunt` (one-shot range), `replay` (files).

poll, per window (in order): fetch → map → dedup against seen ids → engine → in ONE
transaction {new alerts into the outbox, matcher state, seen ids, checkpoint}; after the
windows, the outbox is delivered to every output. A crash anywhere re-does at most the
interrupted window; alert ids are deterministic, so a re-detected alert is a duplicate, and a
re-sent one carries the same id and bytes.

hunt and replay never read or write the poll checkpoint or matcher state.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import click

from connector.config import Config
from connector.delivery import deliver_outbox
from connector.detection.model import Event, Rule
from connector.detection.rules import load_rules
from connector.ecsutil import nest
from connector.errors import (
    EXIT_PARTIAL,
    EXIT_PERM,
    EXIT_TEMPFAIL,
    BadInputError,
    ConnectorError,
    most_actionable,
)
from connector.ops import Heartbeat, RunSummary, write_textfile
from connector.outputs import open_output
from connector.outputs.base import Output
from connector.pipeline import (
    AlertWriter,
    Detector,
    build_source,
    event_ms,
    next_window,
    source_key,
)
from connector.sources.base import Shape, Source
from connector.sources.files import FileSource
from connector.sources.query import Prefilter
from connector.state import RunLock, StateStore
from connector.timeutil import Window, split_windows, to_epoch_ms

__all__ = ["HuntRequest", "hunt", "poll", "replay"]

log = logging.getLogger(__name__)
DELIVERY_RESERVE = 0.2  # share of max_runtime kept for delivery after the last window
REPLAY_BATCH = 5000


def _load_rules(config: Config) -> list[Rule]:
    rules = load_rules(config.rules.builtin, config.rules.paths, config.rules.disabled)
    log.info("%d rule(s) loaded", len(rules))
    return rules


@contextlib.contextmanager
def _outputs(config: Config) -> Iterator[list[Output]]:
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(open_output(o)) for o in config.outputs if o.enabled]


def _finish(summary: RunSummary, config: Config | None, store: StateStore | None) -> None:
    click.echo(summary.line(), err=True)
    if store is not None:
        try:
            store.record_run(summary.command, summary.started, summary.exit_code, summary.as_dict())
        except ConnectorError as exc:
            log.warning("could not record the run summary: %s", exc)
    if config is not None and config.metrics.textfile is not None:
        write_textfile(config.metrics.textfile, summary)


@contextlib.contextmanager
def _recording_exit(summary: RunSummary) -> Iterator[None]:
    """Put the exit code an escaping exception will cause into the summary."""
    try:
        yield
    except ConnectorError as exc:
        summary.exit_code = exc.exit_code
        raise
    except KeyboardInterrupt:
        summary.exit_code = 130
        raise
    except BaseException:
        summary.exit_code = 1
        raise


# -- poll ----------------------------------------------------------------------------------


def poll(config: Config, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> int:
    """One scheduled cycle; returns the exit code (0, 3, 75, 77) or raises ConnectorError."""
    summary = RunSummary("poll")
    started = time.monotonic()
    deadline = started + config.poll.max_runtime.total_seconds()
    with RunLock(config.state.path):
        heartbeat = Heartbeat(config.heartbeat.url)
        heartbeat.start()
        store: StateStore | None = None
        try:
            with _recording_exit(summary):
                store = StateStore.open(config.state.path)
                summary.exit_code = _poll_locked(config, store, summary, deadline, now)
        finally:
            _finish(summary, config, store)
            heartbeat.finish(summary.exit_code, summary.line())
            if store is not None:
                store.close()
    return summary.exit_code


def _poll_locked(
    config: Config,
    store: StateStore,
    summary: RunSummary,
    deadline: float,
    now: Callable[[], datetime],
) -> int:
    rules = _load_rules(config)
    detector = Detector(
        rules,
        allowed_lateness=config.poll.allowed_lateness,
        console_url=config.console.url,
        now=now,
    )
    saved = store.engine_state()
    if saved is not None:
        detector.engine.load(saved)
    window_deadline = deadline - config.poll.max_runtime.total_seconds() * DELIVERY_RESERVE
    codes: list[int] = []
    source_error: ConnectorError | None = None
    with _outputs(config) as outputs:
        cycle = PollCycle(config, store, detector, outputs, summary, now)
        try:
            with build_source(config, rules, window_deadline) as source:
                if not cycle.run(source, window_deadline):
                    codes.append(EXIT_TEMPFAIL)
        except ConnectorError as exc:
            # Deliver what is already queued even when the console is down, then report it.
            source_error = exc
        codes += _deliver(config, store, outputs, summary, deadline)
    detector.fold_stats(summary)
    if source_error is not None:
        raise source_error
    return most_actionable(codes)


def _deliver(
    config: Config,
    store: StateStore,
    outputs: Sequence[Output],
    summary: RunSummary,
    deadline: float,
) -> list[int]:
    """Drain the outbox; return 77 if an output refused our credentials, 3 if rows are left."""
    codes: list[int] = []
    backoff = config.poll.delivery_backoff.total_seconds()
    report = deliver_outbox(store, outputs, deadline, backoff)
    summary.delivered.update(report.delivered)
    summary.failed.update(report.failed)
    if report.auth_failed:
        codes.append(EXIT_PERM)
    for name in sorted(report.gone):
        log.error(
            "output %s answered 410 Gone: disabled for this run; its alerts stay queued", name
        )
    # Every row left for a configured output counts, rejected ones and those of an output
    # that answered 410 too: each is an alert not delivered everywhere (exit 3, §5.4).
    names = [o.name for o in outputs]
    summary.outbox_size = store.outbox_size(names)
    if summary.outbox_size:
        codes.append(EXIT_PARTIAL)
    for name, count in sorted(store.orphaned_rows(names).items()):
        log.warning(
            "%d queued alert(s) for output %r, which is no longer configured or enabled; "
            "they are kept: re-enable it, or drop them with `s1-connector state drop-output %s`",
            count, name, name,
        )  # fmt: skip
    return codes


@dataclass
class PollCycle:
    """The windows of one poll run, each committed in one transaction."""

    config: Config
    store: StateStore
    detector: Detector
    outputs: Sequence[Output]
    summary: RunSummary
    now: Callable[[], datetime]

    def run(self, source: Source, window_deadline: float) -> bool:
        """Process windows until caught up (True) or out of time (False)."""
        _restore_rate_limit(self.store, source)
        try:
            return self._windows(source, window_deadline)
        finally:
            _save_rate_limit(self.store, source)
            self.summary.api_calls.update(source.stats.api_calls)
            self.summary.skipped.update(source.stats.skipped)

    def _windows(self, source: Source, window_deadline: float) -> bool:
        key = source_key(self.config)
        # "now" is fixed for the run: catching up stops at the run's start, so a run never
        # chases the clock with ever smaller windows (each costing a rate-limited query).
        now = self.now()
        while True:
            window = next_window(self.store.checkpoint(key), now, self.config.poll)
            if window is None:
                return True
            if time.monotonic() >= window_deadline:
                log.warning("run time budget spent; window %s waits for the next run", window)
                return False
            self._window(source, window, key)
            self.summary.windows += 1

    def _window(self, source: Source, window: Window, key: str) -> None:
        events = self.detector.map_records(source.fetch(window), window, self.summary)
        fresh, stamps = _dedup(self.store, events, self.summary)
        end_ms = to_epoch_ms(window.end)
        alerts = self.detector.detect(fresh, end_ms - self.detector.lateness_ms)
        overlap_ms = int(self.config.poll.effective_overlap / timedelta(milliseconds=1))
        with self.store.transaction():
            self._queue(alerts)
            self.store.save_engine_state(self.detector.engine.dump())
            self.store.mark_seen(stamps)
            self.store.set_checkpoint(key, end_ms)
            self.store.prune_seen(end_ms - 2 * overlap_ms - 60_000)
        self.summary.checkpoint = window.end.isoformat()
        log.debug("window %s: %d new events, %d alerts", window, len(fresh), len(alerts))

    def _queue(self, alerts: Sequence[dict[str, Any]]) -> None:
        moment = time.time()
        for alert in alerts:
            bodies = {o.name: o.render(alert) for o in self.outputs}
            if self.store.enqueue(alert["event"]["id"], bodies, moment):
                self.summary.alerts_new += 1
                log.info("alert %s: %s", alert["event"]["id"], alert.get("message", ""))
            else:
                self.summary.alerts_duplicate += 1


def _dedup(
    store: StateStore, events: Sequence[Event], summary: RunSummary
) -> tuple[list[Event], list[tuple[str, int]]]:
    """Drop events already seen in an earlier (overlapping) window or twice in this one."""
    ids = [str(e["event.id"]) for e in events]
    unseen = store.unseen(ids)
    fresh: list[Event] = []
    stamps: list[tuple[str, int]] = []
    for event, event_id in zip(events, ids, strict=True):
        if event_id not in unseen:
            summary.duplicates_dropped += 1
            continue
        unseen.discard(event_id)
        fresh.append(event)
        stamps.append((event_id, event_ms(event) or 0))
    return fresh, stamps


_RATE_KEY = "dv.last_init_query_at"


def _restore_rate_limit(store: StateStore, source: Source) -> None:
    value = store.get(_RATE_KEY)
    if value is not None and hasattr(source, "last_init_query_at"):
        source.last_init_query_at = float(value)


def _save_rate_limit(store: StateStore, source: Source) -> None:
    value = getattr(source, "last_init_query_at", None)
    if isinstance(value, int | float) and value > 0:
        with store.transaction():
            store.put(_RATE_KEY, repr(float(value)))


# -- hunt -----------------------------------------------------------------------------------


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
    rules = _load_rules(config)
    detector = Detector(rules, allowed_lateness=timedelta(0), console_url=config.console.url)
    writer = AlertWriter(out)
    alerts: list[dict[str, Any]] = []
    try:
        with _recording_exit(summary), build_source(config, rules, None) as source:
            try:
                _hunt_windows(
                    source,
                    request,
                    detector=detector,
                    writer=writer,
                    alerts=alerts,
                    summary=summary,
                )
            finally:
                summary.api_calls.update(source.stats.api_calls)
                summary.skipped.update(source.stats.skipped)
    finally:
        detector.fold_stats(summary)
        summary.alerts_new = len(alerts)
        if not request.deliver or summary.exit_code:
            _finish(summary, None, None)
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
    each alert is written (and flushed) as soon as it is found."""
    span = request.window or source.max_window or timedelta(days=1)
    windows = list(split_windows(request.start, request.end, span))
    seen: set[str] = set()
    with _progress(len(windows)) as advance:
        for window in windows:
            fetched = detector.map_records(source.fetch(window), window, summary)
            found = detector.detect(_fresh(fetched, seen, summary), to_epoch_ms(window.end))
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
    with StateStore.open(config.state.path) as store, _outputs(config) as outputs:
        with store.transaction():
            for alert in alerts:
                bodies = {o.name: o.render(alert) for o in outputs}
                if not store.enqueue(alert["event"]["id"], bodies, time.time()):
                    summary.alerts_duplicate += 1
        deadline = time.monotonic() + config.poll.max_runtime.total_seconds()
        codes += _deliver(config, store, outputs, summary, deadline)
        summary.exit_code = most_actionable(codes)
        _finish(summary, None, store)
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


# -- replay ---------------------------------------------------------------------------------


def replay(config: Config, paths: Sequence[Path], shape: Shape, emit: str, out: TextIO) -> int:
    """Run the rules over local files (or print the mapped events); no console, no state."""
    summary = RunSummary("replay")
    writer = AlertWriter(out)
    rules = _load_rules(config) if emit == "alerts" else []
    detector = Detector(rules, allowed_lateness=config.poll.allowed_lateness, project=True)
    prefilter = _prefilter(rules) if rules else None
    try:
        with _recording_exit(summary), FileSource(paths, shape, prefilter) as source:
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
        _finish(summary, None, None)
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
