"""Run bookkeeping: the one-line summary, the Prometheus textfile, the heartbeat pings.

None of this may fail a run: the textfile is written atomically and a failure is a warning;
a heartbeat ping has a 5 s timeout, one attempt, and every exception is logged and dropped.
"""

from __future__ import annotations

import logging
import math
import os
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from connector import __version__
from connector.logsetup import redact

__all__ = ["Heartbeat", "RunSummary", "write_textfile"]

log = logging.getLogger(__name__)


@dataclass
class RunSummary:
    """Counters of one run; `line()` is the stderr summary, `as_dict()` goes to the store."""

    command: str
    started: float = field(default_factory=time.time)
    windows: int = 0
    api_calls: Counter[str] = field(default_factory=Counter)
    records: int = 0
    mapped: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    bad_fields: Counter[str] = field(default_factory=Counter)
    duplicates_dropped: int = 0
    alerts_new: int = 0
    alerts_duplicate: int = 0
    delivered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    outbox_size: int = 0
    engine: dict[str, Any] = field(default_factory=dict)
    excepted: Counter[str] = field(default_factory=Counter)
    """Per rule id: events removed by the rule's exception items."""
    suppressed: Counter[str] = field(default_factory=Counter)
    """Per rule id: matches folded into an earlier alert of their group (alert suppression)."""
    alert_updates: int = 0
    late_events: int = 0
    late_hosts: Counter[str] = field(default_factory=Counter)
    lanes_evicted: int = 0
    ingest_lag: dict[str, float] = field(default_factory=dict)
    objects: dict[str, int] = field(default_factory=dict)
    checkpoint: str = ""
    exit_code: int = 0
    pushdown: str = ""  # the widened query, e.g. "s1ql:names" ("" = exact)

    @property
    def duration(self) -> float:
        return time.time() - self.started

    def as_dict(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "windows": self.windows,
            "api_calls": dict(self.api_calls),
            "records": self.records,
            "mapped": self.mapped,
            "skipped": dict(self.skipped),
            "bad_fields": dict(self.bad_fields),
            "duplicates_dropped": self.duplicates_dropped,
            "alerts_new": self.alerts_new,
            "alerts_duplicate": self.alerts_duplicate,
            "delivered": dict(self.delivered),
            "failed": dict(self.failed),
            "outbox_size": self.outbox_size,
            "engine": self.engine,
            "excepted": dict(self.excepted),
            "suppressed": dict(self.suppressed),
            "alert_updates": self.alert_updates,
            "late_events": self.late_events,
            "late_hosts": dict(self.late_hosts.most_common(20)),
            "lanes_evicted": self.lanes_evicted,
            "ingest_lag_s": self.ingest_lag,
            "objects": self.objects,
            "checkpoint": self.checkpoint,
            "pushdown": self.pushdown or "exact",
            "duration_s": round(self.duration, 3),
            "exit_code": self.exit_code,
        }

    def line(self) -> str:
        skipped = ",".join(f"{k}={v}" for k, v in sorted(self.skipped.items())) or "0"
        per_output = " ".join(
            f"{name}:{self.delivered.get(name, 0)}/{self.failed.get(name, 0)}"
            for name in sorted(set(self.delivered) | set(self.failed))
        )
        return (
            f"{self.command}: windows={self.windows} api_calls={sum(self.api_calls.values())} "
            f"records={self.records} mapped={self.mapped} skipped={skipped} "
            f"bad_fields={sum(self.bad_fields.values())} "
            f"dup_events={self.duplicates_dropped} alerts_new={self.alerts_new} "
            f"alerts_dup={self.alerts_duplicate} excepted={sum(self.excepted.values())} "
            f"suppressed={sum(self.suppressed.values())} alert_updates={self.alert_updates} "
            f"delivered/failed={per_output or '-'} "
            f"outbox={self.outbox_size} late={self.late_events}{self._lag()} "
            f"duration={self.duration:.1f}s exit={self.exit_code}"
            + (f" pushdown=widened({self.pushdown})" if self.pushdown else "")
        )

    def _lag(self) -> str:
        if not self.ingest_lag:
            return ""
        return (
            f" ingest_lag_p95={self.ingest_lag['p95']:.0f}s"
            f" ingest_lag_max={self.ingest_lag['max']:.0f}s"
        )

    def record_ingest_lags(self, lags_ms: list[int]) -> None:
        """Summarise how far ingest lagged event time (`event.ingested − @timestamp`)."""
        if not lags_ms:
            return
        ordered = sorted(lags_ms)
        p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
        self.ingest_lag = {"p95": p95 / 1000, "max": ordered[-1] / 1000, "events": len(ordered)}

    def warn_late(self, setting: str) -> None:
        """The WARNING that late events were seen: how many, from which hosts, what to raise."""
        if not self.late_events:
            return
        hosts = ", ".join(f"{host} ({count})" for host, count in self.late_hosts.most_common(5))
        more = len(self.late_hosts) - 5
        log.warning(
            "%d late event(s): they arrived after later events of the same agent had been "
            "evaluated, so a chain they belong to may have been missed; hosts: %s%s. Raise %s "
            "if agents upload this late routinely",
            self.late_events, hosts, f" and {more} more" if more > 0 else "", setting,
        )  # fmt: skip


def write_textfile(path: Path, summary: RunSummary) -> None:
    """Write Prometheus metrics atomically (temp file + rename in the same folder)."""
    lines = [
        f's1_connector_info{{version="{__version__}"}} 1',
        f"s1_connector_last_run_timestamp_seconds {time.time():.3f}",
        f"s1_connector_last_run_duration_seconds {summary.duration:.3f}",
        f"s1_connector_last_run_exit_code {summary.exit_code}",
        f"s1_connector_last_run_records {summary.records}",
        f"s1_connector_last_run_alerts_new {summary.alerts_new}",
        f"s1_connector_outbox_size {summary.outbox_size}",
        f"s1_connector_last_run_late_events {summary.late_events}",
        f"s1_connector_last_run_lanes_evicted {summary.lanes_evicted}",
    ]
    lines += [
        f's1_connector_last_run_ingest_lag_seconds{{quantile="{name}"}} {summary.ingest_lag[key]}'
        for name, key in (("0.95", "p95"), ("1", "max"))
        if key in summary.ingest_lag
    ]
    lines += [
        f's1_connector_last_run_objects{{state="{name}"}} {count}'
        for name, count in sorted(summary.objects.items())
    ]
    lines += [
        f's1_connector_last_run_delivered{{output="{name}"}} {count}'
        for name, count in sorted(summary.delivered.items())
    ]
    lines += [
        f's1_connector_last_run_excepted_events{{rule="{_label(rule)}"}} {count}'
        for rule, count in sorted(summary.excepted.items())
    ]
    lines += [
        f's1_connector_last_run_suppressed_alerts{{rule="{_label(rule)}"}} {count}'
        for rule, count in sorted(summary.suppressed.items())
    ]
    lines.append(f"s1_connector_last_run_alert_updates {summary.alert_updates}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".metrics-")
        with os.fdopen(fd, "w") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except OSError as exc:
        log.warning("could not write metrics textfile %s: %s", path, exc)


def _label(value: str) -> str:
    """A Prometheus label value: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Heartbeat:
    """Healthchecks-style pings: `/start`, then the URL itself or `/<exit code>`."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def start(self) -> None:
        self._ping(f"{self.url}/start", None)

    def finish(self, exit_code: int, summary_line: str) -> None:
        target = self.url if exit_code == 0 else f"{self.url}/{exit_code}"
        self._ping(target, summary_line)

    def _ping(self, url: str, body: str | None) -> None:
        if not self.url:
            return
        import requests  # noqa: PLC0415 - lazy: only a configured heartbeat needs it (start-up)

        try:
            requests.post(
                url,
                data=(body or "").encode(),
                timeout=self.timeout,
                headers={"User-Agent": f"s1-connector/{__version__}"},
            )
        except requests.RequestException as exc:  # a ping never fails the run
            log.warning("heartbeat ping failed: %s", redact(type(exc).__name__))
