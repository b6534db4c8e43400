"""`poll`: one scheduled cycle.

Per window (in order): fetch → map → dedup against seen ids → engine → in ONE
transaction {new alerts into the outbox, matcher state, seen ids, checkpoint}; after the
windows, the outbox is delivered to every output. A crash anywhere re-does at most the
interrupted window; alert ids are deterministic, so a re-detected alert is a duplicate, and a
re-sent one carries the same id and bytes.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.config import Config
from connector.detection.model import Event
from connector.errors import (
    EXIT_TEMPFAIL,
    ConnectorError,
    most_actionable,
)
from connector.ops import Heartbeat, RunSummary
from connector.outputs.base import Output
from connector.pipeline import (
    Detector,
    build_source,
    event_ms,
    in_time_order,
    next_window,
    source_key,
)
from connector.runner.common import (
    deliver,
    finish_run,
    load_configured_rules,
    load_tuning,
    open_outputs,
    recording_exit,
    restore_rate_limit,
    save_rate_limit,
)
from connector.sources.base import Source
from connector.sources.cloud_funnel import CloudFunnelSource
from connector.sources.objects import ObjectInfo
from connector.state import RunLock, StateStore
from connector.timeutil import Window, to_epoch_ms

__all__ = ["PollCycle", "poll"]

log = logging.getLogger(__name__)

AGENT_FIELD = "host.id"
"""Time is kept per agent: sequences join on process entity ids, which live on one agent, and
each agent uploads in order but possibly hours late (see `Engine`)."""
DELIVERY_RESERVE = 0.2  # share of max_runtime kept for delivery after the last window
TUNING_STATE = "suppression"  # engine_state row: open suppression groups, per-rule totals


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
            with recording_exit(summary):
                store = StateStore.open(config.state.path)
                summary.exit_code = _poll_locked(config, store, summary, deadline, now)
        finally:
            finish_run(summary, config, store)
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
    rules = load_configured_rules(config)
    detector = Detector(
        rules,
        allowed_lateness=config.poll.allowed_lateness,
        console_url=config.console.url,
        now=now,
        tuning=load_tuning(config, rules),
        live_suppression=True,
        partition_field=AGENT_FIELD,
        idle=config.poll.agent_idle,
    )
    saved = store.engine_state()
    if saved is not None:
        detector.engine.load(saved)
    detector.load_tuning_state(store.engine_state(TUNING_STATE))
    window_deadline = deadline - config.poll.max_runtime.total_seconds() * DELIVERY_RESERVE
    codes: list[int] = []
    source_error: ConnectorError | None = None
    with open_outputs(config) as outputs:
        cycle = PollCycle(config, store, detector, outputs, summary, now)
        try:
            with build_source(config, rules, window_deadline) as source:
                if not cycle.run(source, window_deadline):
                    codes.append(EXIT_TEMPFAIL)
        except ConnectorError as exc:
            # Deliver what is already queued even when the console is down, then report it.
            source_error = exc
        codes += deliver(config, store, outputs, summary, deadline)
    detector.fold_stats(summary)
    summary.warn_late(f"[poll] allowed_lateness (now {config.poll.allowed_lateness})")
    if source_error is not None:
        raise source_error
    return most_actionable(codes)


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
        restore_rate_limit(self.store, source)
        try:
            return self._windows(source, window_deadline)
        finally:
            if isinstance(source, CloudFunnelSource):
                self.summary.objects = dict(source.object_counts)
            save_rate_limit(self.store, source)
            self.summary.api_calls.update(source.stats.api_calls)
            self.summary.skipped.update(source.stats.skipped)
            self.summary.pushdown = source.stats.pushdown

    def _windows(self, source: Source, window_deadline: float) -> bool:
        key = source_key(self.config)
        # "now" is fixed for the run: catching up stops at the run's start, so a run never
        # chases the clock with ever smaller windows (each costing a rate-limited query).
        now = self.now()
        # Before the first checkpoint, export objects hold history: the first run starts
        # at `initial_lookback` like the other sources (see `_window`).
        first_run = self.store.checkpoint(key) is None
        since: datetime | None = None
        while True:
            window = next_window(self.store.checkpoint(key), now, self.config.poll)
            if window is None:
                return True
            if time.monotonic() >= window_deadline:
                log.warning("run time budget spent; window %s waits for the next run", window)
                return False
            if first_run and since is None:
                since = window.start
            self._window(source, window, key, since=since)
            self.summary.windows += 1

    def _window(
        self, source: Source, window: Window, key: str, *, since: datetime | None = None
    ) -> None:
        ledger = _ledger(source, self.store, key)
        # An object ledger reads each export object once, whatever its events' times: its
        # records are not confined to the window (a late upload carries old events), except
        # that the first run skips what lies before its start (history, as for DV and SDL).
        confine = window if ledger is None else None
        if ledger is not None and since is not None:
            confine = Window(since, _END_OF_TIME)
        events = self.detector.map_records(source.fetch(window), confine, self.summary)
        fresh, stamps = _dedup(self.store, events, self.summary)
        end_ms = to_epoch_ms(window.end)
        alerts = self.detector.detect(in_time_order(fresh), end_ms - self.detector.lateness_ms)
        updates = self.detector.suppressor.take_updates()
        self.detector.suppressor.expire(end_ms - 2 * self.detector.lateness_ms)
        overlap_ms = int(self.config.poll.effective_overlap / timedelta(milliseconds=1))
        with self.store.transaction():
            self._queue(alerts)
            self._queue_updates(updates)
            self.store.save_engine_state(self.detector.engine.dump())
            self.store.save_engine_state(self.detector.tuning_state(), TUNING_STATE)
            self.store.mark_seen(stamps)
            self.store.set_checkpoint(key, end_ms)
            self.store.prune_seen(end_ms - 2 * overlap_ms - 60_000)
            if ledger is not None:
                ledger.commit()
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

    def _queue_updates(self, documents: Sequence[dict[str, Any]]) -> None:
        """Suppressed matches counted: each group's current alert goes out again under its
        alert id (see `StateStore.enqueue_update`)."""
        moment = time.time()
        for doc in documents:
            bodies = {o.name: o.render(doc) for o in self.outputs}
            count = doc["kibana"]["alert"]["suppression"]["docs_count"]
            if self.store.enqueue_update(doc["event"]["id"], count, bodies, moment):
                self.summary.alert_updates += 1


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


@dataclass
class StoreLedger:
    """The Cloud Funnel object ledger in the state store; `commit()` runs inside the window's
    transaction, so objects are recorded together with their events' effects."""

    store: StateStore
    source_key: str
    source: CloudFunnelSource
    read_objects: list[ObjectInfo] = field(default_factory=list)
    gone_keys: list[str] = field(default_factory=list)

    def known(self, prefix: str) -> dict[str, tuple[int, str]]:
        return self.store.objects(self.source_key, prefix)

    def read(self, info: ObjectInfo) -> None:
        self.read_objects.append(info)

    def gone(self, key: str) -> None:
        self.gone_keys.append(key)

    def commit(self) -> None:
        rows = [(i.key, i.size, i.etag) for i in self.read_objects]
        self.store.mark_objects(self.source_key, rows)
        self.store.forget_objects(self.source_key, self.gone_keys)
        if self.source.oldest_prefix:
            self.store.prune_objects(self.source_key, self.source.oldest_prefix)
        self.read_objects, self.gone_keys = [], []


def _ledger(source: Source, store: StateStore, key: str) -> StoreLedger | None:
    if not isinstance(source, CloudFunnelSource):
        return None
    ledger = StoreLedger(store, key, source)
    source.ledger = ledger
    return ledger


_END_OF_TIME = datetime(9999, 1, 1, tzinfo=UTC)
