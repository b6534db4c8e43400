"""`hunt --from --to`: windows in time order through one engine, JSON Lines out, `--deliver`
through the outbox (deduplicated against what `poll` delivered), and the poll state left
alone."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from connector import cli
from connector.config import Config
from connector.runner import poll
from connector.state import StateStore
from connector.timeutil import format_utc
from tests.e2e.conftest import ConfigFactory
from tests.e2e.support import (
    FakeDV,
    chain,
    matched_ids,
    noise,
    read_alerts,
    write_cloud_funnel,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def hunt(path: Path, start: datetime, end: datetime, *extra: str) -> int:
    args = ["--config", str(path), "hunt", "--from", format_utc(start), "--to", format_utc(end)]
    return cli.run([*args, *extra])


def stdout_alerts(capsys: pytest.CaptureFixture[str]) -> tuple[list[dict[str, Any]], str]:
    out, err = capsys.readouterr()
    return [json.loads(line) for line in out.splitlines()], err


def poll_state(config: Config) -> tuple[Any, ...]:
    """Everything hunt must leave alone: checkpoints, matcher state, seen ids."""
    with StateStore.open(config.state.path, create=False) as store:
        overview = store.overview()
        return (overview["checkpoints_ms"], store.engine_state(), overview["seen_event_ids"])


def test_sequences_across_windows_are_found_in_time_order(
    make_config: ConfigFactory,
    rsps: responses.RequestsMock,
    token: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ = make_config("deep-visibility")
    start = NOW - 20 * MINUTE
    across = chain("across", start + 5 * MINUTE - timedelta(seconds=4), gap_s=9)  # w1 → w2
    inside = chain("inside", start + 12 * MINUTE)
    outside = chain("outside", NOW + MINUTE)  # after --to
    fake = FakeDV(
        rsps,
        [*across.records, *inside.records, *outside.records, *noise("n", start, 20, MINUTE)],
    )
    assert hunt(path, start, NOW, "--window", "5m") == 0
    alerts, err = stdout_alerts(capsys)
    assert [matched_ids(a) for a in alerts] == [across.ids, inside.ids]
    # Four 5-minute windows, contiguous and in order (DV's fromDate is exclusive: -1 ms).
    assert [(low + timedelta(milliseconds=1), high) for low, high in fake.windows] == [
        (start + k * 5 * MINUTE, start + (k + 1) * 5 * MINUTE) for k in range(4)
    ]
    assert "hunt: windows=4" in err


def test_output_path_gets_the_alerts_and_stdout_stays_empty(
    make_config: ConfigFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_config("cloud-funnel")
    found = chain("f", NOW - 30 * MINUTE)
    write_cloud_funnel(tmp_path / "cf", found.records, "p")
    target = tmp_path / "hunt.jsonl"
    assert hunt(path, NOW - MINUTE * 60, NOW, "--output", str(target)) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert [matched_ids(a) for a in read_alerts(target)] == [found.ids]
    assert "alerts_new=1" in err
    assert not (tmp_path / "state.db").exists()  # a plain hunt does not even open the store


def test_deliver_skips_what_poll_already_delivered_and_leaves_poll_state_alone(
    make_config: ConfigFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = make_config("cloud-funnel")  # poll looks back 10m; file output
    recent, old = chain("recent", NOW - 6 * MINUTE), chain("old", NOW - 40 * MINUTE)
    pending = chain("pending", NOW - MINUTE - timedelta(seconds=30))  # buffered by poll
    records = [*recent.records, *old.records, *pending.records]
    write_cloud_funnel(tmp_path / "cf", [*records, *noise("n", NOW - 50 * MINUTE, 30, MINUTE)], "p")
    assert poll(config, now=lambda: NOW) == 0
    delivered = tmp_path / "alerts.jsonl"
    assert [matched_ids(a) for a in read_alerts(delivered)] == [recent.ids]
    before = poll_state(config)
    capsys.readouterr()

    assert hunt(path, NOW - 60 * MINUTE, NOW, "--deliver") == 0
    alerts, err = stdout_alerts(capsys)
    assert sorted(matched_ids(a) for a in alerts) == sorted([old.ids, recent.ids, pending.ids])
    assert "alerts_dup=1" in err  # `recent` was delivered by poll already
    by_output = [matched_ids(a) for a in read_alerts(delivered)]
    assert sorted(by_output) == sorted([recent.ids, old.ids, pending.ids])  # each once
    assert poll_state(config) == before

    assert hunt(path, NOW - 60 * MINUTE, NOW, "--deliver") == 0  # again: nothing new
    assert "alerts_dup=3" in capsys.readouterr().err
    assert len(read_alerts(delivered)) == 3
    assert poll_state(config) == before

    # The next poll finishes `pending` itself, under the id hunt used: no second delivery.
    assert poll(config, now=lambda: NOW + 5 * MINUTE) == 0
    assert len(read_alerts(delivered)) == 3
    with StateStore.open(config.state.path, create=False) as store:
        last = store.last_run()
    assert last is not None and last["summary"]["alerts_duplicate"] == 1
