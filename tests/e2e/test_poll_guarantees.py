"""The delivery and state guarantees of `poll`: an output down for two runs, one run at a
time, and the per-window transaction (a source failing mid-run, a failing commit)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from connector import cli
from connector.config import Config
from connector.errors import LockHeld, Unavailable
from connector.state import RunLock, StateStore
from connector.timeutil import to_epoch_ms
from tests.e2e.conftest import ConfigFactory
from tests.e2e.support import (
    FakeDV,
    WebhookReceiver,
    alert_ids,
    chain,
    first_output_alerts,
    matched_ids,
    noise,
    poll_at,
    write_cloud_funnel,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


run = poll_at
file_alerts = first_output_alerts


def store_facts(config: Config) -> dict[str, Any]:
    """What the store holds: checkpoint, matcher state present, outbox, delivered, last run."""
    with StateStore.open(config.state.path, create=False) as store:
        overview = store.overview()
        return {
            "checkpoints": overview["checkpoints_ms"],
            "engine_state": store.engine_state() is not None,
            "outbox": overview["outbox_size"],
            "delivered": sorted(store.delivered_ids()),
            "seen": overview["seen_event_ids"],
            "last_run": overview["last_run"],
        }


# -- an output down for two runs ------------------------------------------------------------


def test_output_down_for_two_runs_then_up_delivers_each_alert_once_with_same_id(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    cf = tmp_path / "cf"
    with WebhookReceiver(status=503) as hook:
        outputs = [
            {"type": "file", "name": "file", "path": str(tmp_path / "alerts.jsonl")},
            {"type": "webhook", "name": "hook", "url": hook.url, "max_retry_time": "0s"},
        ]
        _, config = make_config("cloud-funnel", outputs=outputs)
        first, second = chain("a", NOW - 6 * MINUTE), chain("b", NOW + MINUTE)
        write_cloud_funnel(cf, [*first.records, *noise("n1", NOW - 9 * MINUTE, 9, MINUTE)], "p1")
        assert run(config, NOW) == 3  # queued, not delivered to the webhook
        write_cloud_funnel(cf, [*second.records, *noise("n2", NOW, 5, MINUTE)], "p2")
        assert run(config, NOW + 5 * MINUTE) == 3
        assert store_facts(config)["outbox"] == 2
        hook.status = 200
        assert run(config, NOW + 10 * MINUTE) == 0

    alerts = file_alerts(config)
    expected = {alert_ids([a])[0]: matched_ids(a) for a in alerts}
    assert sorted(expected.values()) == sorted([first.ids, second.ids])
    # The healthy output got each alert once, in the run that found it; the webhook got
    # each exactly once accepted, after refusals, always under the same ids and bytes.
    assert len(alerts) == 2
    assert hook.accepted() == dict.fromkeys(expected, 1)
    attempts: dict[str, set[tuple[str, bytes]]] = defaultdict(set)
    for hit in hook.hits:
        attempts[hit.alert_id].add((hit.webhook_id, hit.body))
    assert all(len(variants) == 1 for variants in attempts.values()), attempts.keys()
    assert [h.status for h in hook.hits if h.alert_id == alert_ids(alerts)[0]] == [503, 503, 200]
    facts = store_facts(config)
    assert facts["outbox"] == 0
    assert facts["delivered"] == sorted((i, o) for i in expected for o in ("file", "hook"))


# -- one run at a time -------------------------------------------------------------------------


def test_second_poll_while_the_lock_is_held_exits_75_at_once(
    make_config: ConfigFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, config = make_config("cloud-funnel")
    write_cloud_funnel(tmp_path / "cf", chain("a", datetime.now(UTC) - 5 * MINUTE).records, "p")
    with RunLock(config.state.path):
        with pytest.raises(LockHeld):
            run(config, NOW)
        began = time.monotonic()
        assert cli.run(["--config", str(path), "poll"]) == 75
        assert time.monotonic() - began < 5.0  # no waiting for the lock
    assert "previous run still active" in capsys.readouterr().err
    assert not config.state.path.exists()  # the held-off runs did not even open the store
    assert cli.run(["--config", str(path), "poll"]) == 0  # the lock is free again


@pytest.mark.slow
def test_lock_held_by_another_process_then_freed_by_its_death(
    make_config: ConfigFactory,
) -> None:
    path, config = make_config("cloud-funnel")
    holder = (
        "import sys\nfrom pathlib import Path\nfrom connector.state import RunLock\n"
        f"lock = RunLock(Path({str(config.state.path)!r})).acquire()\n"
        "print('held', flush=True)\nsys.stdin.read()\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", holder], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as proc:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        assert cli.run(["--config", str(path), "poll"]) == 75
        proc.kill()  # SIGKILL: the kernel drops the flock with the process
        proc.wait(10)
    assert cli.run(["--config", str(path), "poll"]) == 0


# -- the per-window transaction -----------------------------------------------------------------


def test_source_failing_mid_run_keeps_the_last_committed_window_and_next_run_recovers(
    make_config: ConfigFactory, rsps: responses.RequestsMock, token: str
) -> None:
    # Windows of 4m from now-10m: [-12m,-6m) [-8m,-2m) [-4m,-1m) (2m overlap each).
    _, config = make_config("deep-visibility", poll={"max_window": "4m"})
    early = chain("early", NOW - 9 * MINUTE)  # alerted in window 1
    edge = chain("edge", NOW - 6 * MINUTE - timedelta(seconds=5), gap_s=8)  # windows 1 → 2
    late = chain("tail", NOW - timedelta(minutes=3, seconds=30))  # released by window 3
    records = [*early.records, *edge.records, *late.records]
    fake = FakeDV(rsps, [*records, *noise("n", NOW - 10 * MINUTE, 12, 45 * timedelta(seconds=1))])
    fake.fail_all_from = 2  # the console goes down after the first window's query

    with pytest.raises(Unavailable) as failure:
        run(config, NOW)
    assert failure.value.exit_code == 69
    facts = store_facts(config)
    assert list(facts["checkpoints"].values()) == [to_epoch_ms(NOW - 6 * MINUTE)]
    assert facts["engine_state"]  # holds edge's start, committed with the checkpoint
    assert facts["last_run"]["exit_code"] == 69
    # What window 1 found was queued with its checkpoint and delivered despite the outage.
    assert [matched_ids(a) for a in file_alerts(config)] == [early.ids]
    assert facts["outbox"] == 0

    fake.fail_all_from = None
    assert run(config, NOW) == 0
    assert fake.windows[-2][0] == NOW - 8 * MINUTE - timedelta(milliseconds=1)  # window 2 again
    assert sorted(matched_ids(a) for a in file_alerts(config)) == sorted(
        [early.ids, edge.ids, late.ids]
    )


def test_a_failing_commit_leaves_checkpoint_state_and_outbox_untouched(
    make_config: ConfigFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, config = make_config("cloud-funnel")
    chains = [chain("a", NOW - 8 * MINUTE), chain("b", NOW - 5 * MINUTE)]
    write_cloud_funnel(tmp_path / "cf", [r for c in chains for r in c.records], "p")

    def disk_full(self: StateStore, source: str, checkpoint_ms: int) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    # The checkpoint is written last in the window's transaction, after the outbox rows
    # and the matcher state: its failure must take all of them back.
    with monkeypatch.context() as patch, pytest.raises(sqlite3.OperationalError):
        patch.setattr(StateStore, "set_checkpoint", disk_full)
        run(config, NOW)
    facts = store_facts(config)
    assert facts["checkpoints"] == {}
    assert not facts["engine_state"]
    assert facts["outbox"] == 0 and facts["delivered"] == [] and facts["seen"] == 0
    assert file_alerts(config) == []

    assert run(config, NOW) == 0
    assert sorted(matched_ids(a) for a in file_alerts(config)) == sorted(c.ids for c in chains)


def test_out_of_time_stops_before_the_next_window_with_75_and_the_next_run_resumes(
    make_config: ConfigFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_cloud_funnel(tmp_path / "cf", chain("a", NOW - 6 * MINUTE).records, "p")
    _, hurried = make_config("cloud-funnel", poll={"max_runtime": "1ms"})
    assert run(hurried, NOW) == 75  # the budget is gone before the first window
    assert "time budget spent" in caplog.text
    assert store_facts(hurried)["checkpoints"] == {}  # nothing half-done was recorded
    _, config = make_config("cloud-funnel")
    assert run(config, NOW) == 0
    assert [matched_ids(a) for a in file_alerts(config)] == [chain("a", NOW - 6 * MINUTE).ids]


# -- an output removed from the config --------------------------------------------------------


def test_rows_of_a_removed_output_do_not_block_the_exit_and_can_be_dropped(
    make_config: ConfigFactory, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cf = tmp_path / "cf"
    with WebhookReceiver(status=503) as hook:
        outputs = [
            {"type": "file", "name": "file", "path": str(tmp_path / "alerts.jsonl")},
            {"type": "webhook", "name": "hook", "url": hook.url, "max_retry_time": "0s"},
        ]
        _, config = make_config("cloud-funnel", outputs=outputs)
        write_cloud_funnel(cf, chain("a", NOW - 6 * MINUTE).records, "p1")
        assert run(config, NOW) == 3
    path, without_hook = make_config("cloud-funnel", outputs=outputs[:1])
    assert run(without_hook, NOW + 5 * MINUTE) == 0
    assert "queued alert(s) for output 'hook', which is no longer configured" in caplog.text
    assert store_facts(without_hook)["outbox"] == 1  # kept until a person decides
    args = ["--config", str(path), "state", "drop-output", "hook"]
    assert cli.run(args) == 2  # no TTY and no --yes
    assert cli.run([*args, "--yes"]) == 0
    assert store_facts(without_hook)["outbox"] == 0
