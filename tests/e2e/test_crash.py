"""A `poll` killed with SIGKILL at random points loses nothing and renames nothing.

The real CLI runs as a subprocess over a Cloud Funnel folder holding several windows of
data with planted chains, delivering to a `file` output and to a webhook receiver on
127.0.0.1 (slowed down, so kills also land between a send and its acknowledgement). Each
trial kills runs at random moments (seeded), then re-runs until a run exits 0 with an
empty outbox, and compares with one uninterrupted run into a fresh store:

* the set of delivered alert ids is the same for each output (repeats of an id are allowed:
  at-least-once), and equals the planted chains;
* no match (the tuple of matched S1 event ids) was ever delivered under two alert ids;
* each kill repeats at most the one alert in flight per output.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    Chain,
    Record,
    WebhookReceiver,
    alert_ids,
    chain,
    ids_by_match,
    noise,
    read_alerts,
    to_toml,
    write_cloud_funnel,
)

pytestmark = pytest.mark.slow

TRIAL_SEEDS = (11, 22, 33)
KILLS_PER_TRIAL = 2
MAX_RERUNS = 6
CLI = [sys.executable, "-m", "connector"]


@dataclass
class Delivered:
    """What one store's runs delivered: the file's alerts and the webhook's accepted bodies."""

    file: list[dict[str, Any]]
    hook: list[dict[str, Any]]

    def ids(self) -> tuple[set[str], set[str]]:
        return set(alert_ids(self.file)), set(alert_ids(self.hook))


def plant(folder: Path, now: datetime) -> list[Chain]:
    """Thirteen chains over the last 25 minutes among ~2,500 noise records, in 4 objects."""
    chains = [
        chain(f"c{i:02d}", now - timedelta(minutes=24) + i * timedelta(seconds=100), 3.0,
              f"WKS-{i % 5:04d}")
        for i in range(13)
    ]  # fmt: skip
    records: list[Record] = [r for c in chains for r in c.records]
    records += noise("n", now - timedelta(minutes=25), 1500, timedelta(seconds=1))
    records.sort(key=lambda r: int(r["event.time"]))
    for part in range(4):
        write_cloud_funnel(folder, records[part::4], f"part-{part}")
    return chains


def write_config(root: Path, cf: Path, hook_url: str) -> Path:
    config = {
        "source": {"kind": "cloud-funnel"},
        "cloud_funnel": {"location": str(cf)},
        "poll": {
            "initial_lookback": "30m",
            "lag": "0s",
            "max_window": "3m",  # about ten windows per catch-up
            "allowed_lateness": "1m",
            "max_runtime": "2m",
            "delivery_backoff": "0s",
        },
        "state": {"path": str(root / "state.db")},
        "outputs": [
            {"type": "file", "name": "file", "path": str(root / "alerts.jsonl")},
            {"type": "webhook", "name": "hook", "url": hook_url, "max_retry_time": "0s"},
        ],
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root / "s1-connector.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    return path


def poll_process(config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [*CLI, "--config", str(config), "poll"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def poll_until_clean(config: Path) -> int:
    """Run poll to completion until it exits 0; return how many runs it took."""
    for attempt in range(1, MAX_RERUNS + 1):
        with poll_process(config) as proc:
            if proc.wait(60) == 0:
                return attempt
    raise AssertionError(f"poll did not come clean in {MAX_RERUNS} runs")


def outbox_size(config: Path) -> int:
    done = subprocess.run(
        [*CLI, "--config", str(config), "state", "show"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    size: int = json.loads(done.stdout)["outbox_size"]
    return size


def delivered(root: Path, hook: WebhookReceiver) -> Delivered:
    accepted = [json.loads(h.body)["data"] for h in hook.hits if h.status == 200]
    return Delivered(read_alerts(root / "alerts.jsonl"), accepted)


@dataclass(frozen=True)
class Timing:
    """Seconds from a full run's start to opening its store (imports done) and to its end."""

    store_opened: float
    ended: float


def wait_for_store(root: Path, proc: subprocess.Popen[bytes]) -> None:
    """Return once the run has created its store (or has ended)."""
    while not (root / "state.db").exists() and proc.poll() is None:
        time.sleep(0.005)


def reference_run(tmp_path: Path, cf: Path) -> tuple[Delivered, Timing]:
    root = tmp_path / "reference"
    with WebhookReceiver(delay_s=0.04) as hook:
        config = write_config(root, cf, hook.url)
        began = time.monotonic()
        with poll_process(config) as proc:
            wait_for_store(root, proc)
            opened = time.monotonic() - began
            assert proc.wait(60) == 0
        timing = Timing(opened, time.monotonic() - began)
        return delivered(root, hook), timing


def crashed_trial(tmp_path: Path, cf: Path, seed: int, timing: Timing) -> tuple[Delivered, int]:
    """Kill runs at seeded random moments, then re-run until clean; return what was
    delivered and how many kills hit a live process."""
    rng = random.Random(seed)
    root = tmp_path / f"trial-{seed}"
    landed = 0
    with WebhookReceiver(delay_s=0.04) as hook:
        config = write_config(root, cf, hook.url)
        for kill in range(KILLS_PER_TRIAL):
            with poll_process(config) as proc:
                if kill == 0:
                    # Inside the work of a full run: windows, commits, deliveries.
                    wait_for_store(root, proc)
                    time.sleep(rng.uniform(0.0, 0.8) * (timing.ended - timing.store_opened))
                else:
                    # Anywhere in a (shorter) resumed run, start-up included.
                    time.sleep(rng.uniform(0.2, 1.0) * timing.ended)
                proc.send_signal(signal.SIGKILL)
                landed += proc.wait(60) == -signal.SIGKILL
        poll_until_clean(config)
        assert outbox_size(config) == 0
        return delivered(root, hook), landed


def test_sigkill_at_random_points_loses_nothing_and_keeps_ids(tmp_path: Path) -> None:
    cf = tmp_path / "cf"
    chains = plant(cf, datetime.now(UTC))
    reference, timing = reference_run(tmp_path, cf)
    ref_file, ref_hook = reference.ids()
    assert sorted(ids_by_match(reference.file)) == sorted(c.ids for c in chains)
    assert ref_hook == ref_file and len(ref_file) == len(chains)

    landed = 0
    for seed in TRIAL_SEEDS:
        got, hits = crashed_trial(tmp_path, cf, seed, timing)
        landed += hits
        file_ids, hook_ids = got.ids()
        assert file_ids == ref_file, f"seed {seed}: file output differs"
        assert hook_ids == ref_hook, f"seed {seed}: webhook output differs"
        for match, ids in ids_by_match(got.file + got.hook).items():
            assert len(ids) == 1, f"seed {seed}: {match} delivered under {sorted(ids)}"
        # Each acknowledgement is committed as it arrives, so a kill repeats at most the
        # one alert in flight per output.
        assert len(got.hook) - len(hook_ids) <= hits, f"seed {seed}: too many repeats"
        assert len(got.file) - len(file_ids) <= hits, f"seed {seed}: too many repeats"
    # Guard against a vacuous pass: the kills must really have interrupted runs.
    assert landed >= len(TRIAL_SEEDS)
