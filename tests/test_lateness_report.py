"""Late events are never silent (issue 12): the run summary line, its JSON, the metrics
textfile and `state show` carry them, and a WARNING names the hosts and the setting."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import pytest

from connector.ops import RunSummary, write_textfile
from connector.state import StateStore


def late_summary() -> RunSummary:
    summary = RunSummary("poll")
    summary.late_events = 7
    summary.late_hosts = Counter({"wks-7": 5, "laptop-2": 2})
    summary.lanes_evicted = 1
    summary.record_ingest_lags([1_000, 2_000, 3_000, 180 * 60_000])
    return summary


def test_summary_line_and_json_carry_late_events_and_ingest_lag() -> None:
    summary = late_summary()
    assert " late=7 " in summary.line()
    assert "ingest_lag_p95=10800s ingest_lag_max=10800s" in summary.line()
    data = summary.as_dict()
    assert data["late_events"] == 7 and data["late_hosts"] == {"wks-7": 5, "laptop-2": 2}
    assert data["ingest_lag_s"] == {"p95": 10800.0, "max": 10800.0, "events": 4}


def test_p95_of_many_lags() -> None:
    summary = RunSummary("poll")
    summary.record_ingest_lags(list(range(1, 101)))  # 1..100 ms
    assert summary.ingest_lag["p95"] == 0.095 and summary.ingest_lag["max"] == 0.1


def test_warning_names_count_hosts_and_setting(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        late_summary().warn_late("[poll] allowed_lateness (now 0:05:00)")
    assert "7 late event(s)" in caplog.text
    assert "wks-7 (5), laptop-2 (2)" in caplog.text
    assert "Raise [poll] allowed_lateness (now 0:05:00)" in caplog.text


def test_no_warning_without_late_events(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        RunSummary("poll").warn_late("x")
    assert caplog.text == ""


def test_metrics_textfile(tmp_path: Path) -> None:
    path = tmp_path / "m.prom"
    write_textfile(path, late_summary())
    text = path.read_text()
    assert "s1_connector_last_run_late_events 7\n" in text
    assert "s1_connector_last_run_lanes_evicted 1\n" in text
    assert 's1_connector_last_run_ingest_lag_seconds{quantile="0.95"} 10800.0' in text


def test_state_show_reports_the_last_polls_lateness(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.db") as store:
        summary = late_summary()
        store.record_run("poll", summary.started, 0, summary.as_dict())
        store.record_run("hunt", summary.started, 0, RunSummary("hunt").as_dict())
        lateness = store.overview()["lateness"]
    assert lateness["late_events"] == 7 and lateness["lanes_evicted"] == 1
    assert lateness["late_hosts"] == {"wks-7": 5, "laptop-2": 2}
