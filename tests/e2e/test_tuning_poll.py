"""Alert suppression in `poll`: the first alert of a group goes out at once, later matches are
counted in the store and go out again under the same alert id with the current `docs_count`;
the counts carry across runs, and a `poll` killed with SIGKILL at random points ends with the
same alerts and the same final counts as an uninterrupted run. `hunt` hands out each group
once, final."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from connector import cli
from connector.config import load_config
from connector.errors import Unavailable
from connector.sources.base import RawRecord
from connector.sources.cloud_funnel import CloudFunnelSource
from connector.timeutil import Window
from tests.e2e.conftest import ConfigFactory
from tests.e2e.support import (
    WebhookReceiver,
    chain,
    first_output_alerts,
    poll_at,
    write_cloud_funnel,
)
from tests.e2e.test_crash import (
    delivered,
    plant,
    poll_process,
    poll_until_clean,
    wait_for_store,
    write_config,
)

SEED_RULE = "89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"
SUPPRESS = f"""
[[rules.suppress]]
rules = ["{SEED_RULE}"]
group_by = ["host.name"]
duration = "1h"
"""
CLI = [sys.executable, "-m", "connector"]


def final_counts(alerts: list[dict[str, Any]]) -> dict[str, int]:
    """Alert id -> the highest docs_count delivered for it (updates carry the current one)."""
    out: dict[str, int] = {}
    for alert in alerts:
        count = alert["kibana"]["alert"]["suppression"]["docs_count"]
        out[alert["event"]["id"]] = max(out.get(alert["event"]["id"], -1), count)
    return out


def tuning_totals(config: Path) -> dict[str, Any]:
    done = subprocess.run(
        [*CLI, "--config", str(config), "state", "show"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    totals: dict[str, Any] = json.loads(done.stdout)["tuning"]
    return totals


def test_counts_carry_across_poll_runs(tmp_path: Path, make_config: ConfigFactory) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    chains = [
        chain(f"c{i}", now - timedelta(minutes=50) + i * timedelta(minutes=4)) for i in range(6)
    ]
    write_cloud_funnel(tmp_path / "cf", [r for c in chains for r in c.records], "part")
    path, config = make_config(poll={"initial_lookback": "1h", "max_window": "1h"})
    path.write_text(path.read_text(encoding="utf-8") + SUPPRESS, encoding="utf-8")
    config = load_config(path)
    assert poll_at(config, now - timedelta(minutes=38)) == 0  # sees chains c0..c2 (lag 1m)
    first = first_output_alerts(config)
    assert len({a["event"]["id"] for a in first}) == 1  # one host: one alert
    assert max(final_counts(first).values()) == 2
    assert poll_at(config, now) == 0  # the rest, in a second run
    everything = first_output_alerts(config)
    assert set(final_counts(everything)) == set(final_counts(first))  # same alert id
    assert final_counts(everything) == {first[0]["event"]["id"]: len(chains) - 1}
    assert [a["kibana"]["alert"]["suppression"]["docs_count"] for a in everything] == sorted(
        a["kibana"]["alert"]["suppression"]["docs_count"] for a in everything
    )
    assert tuning_totals(path)["suppressed_matches"] == {SEED_RULE: len(chains) - 1}


@pytest.mark.slow
def test_sigkill_between_and_inside_runs_keeps_the_counts(tmp_path: Path) -> None:
    cf = tmp_path / "cf"
    chains = plant(cf, datetime.now(UTC))  # 13 chains on 5 hosts over 25 minutes
    hosts = {c.start["endpoint.name"] for c in chains}

    reference_root = tmp_path / "reference"
    with WebhookReceiver(delay_s=0.02) as hook:
        config = suppressed_config(reference_root, cf, hook.url)
        began = datetime.now(UTC)
        with poll_process(config) as proc:
            assert proc.wait(60) == 0
        took = (datetime.now(UTC) - began).total_seconds()
        reference = delivered(reference_root, hook)
    ref_counts = final_counts(reference.file)
    assert len(ref_counts) == len(hosts)
    assert sum(1 + c for c in ref_counts.values()) == len(chains)
    assert final_counts(reference.hook) == ref_counts

    rng = random.Random(16)
    landed = 0
    for trial in range(2):
        root = tmp_path / f"trial-{trial}"
        with WebhookReceiver(delay_s=0.02) as hook:
            config = suppressed_config(root, cf, hook.url)
            for _ in range(2):
                with poll_process(config) as proc:
                    wait_for_store(root, proc)
                    sleep_s = rng.uniform(0.1, 0.9) * took
                    try:
                        proc.wait(sleep_s)
                    except subprocess.TimeoutExpired:
                        proc.send_signal(signal.SIGKILL)
                        landed += proc.wait(60) == -signal.SIGKILL
            poll_until_clean(config)
            got = delivered(root, hook)
        assert final_counts(got.file) == ref_counts, f"trial {trial}: file output differs"
        assert final_counts(got.hook) == ref_counts, f"trial {trial}: webhook output differs"
        totals = tuning_totals(config)
        assert totals["suppressed_matches"] == {SEED_RULE: len(chains) - len(hosts)}
    assert landed >= 1, "the kills must really interrupt runs"


def suppressed_config(root: Path, cf: Path, hook_url: str) -> Path:
    config = write_config(root, cf, hook_url)
    config.write_text(config.read_text(encoding="utf-8") + SUPPRESS, encoding="utf-8")
    return config


def test_hunt_emits_each_group_once_with_its_final_count(
    tmp_path: Path, make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    start = now - timedelta(hours=1)
    plan = [("WKS-1", 0), ("WKS-1", 5), ("WKS-1", 10), ("WKS-2", 12), ("WKS-1", 25), ("WKS-1", 30)]
    chains = [
        chain(f"h{n}", start + timedelta(minutes=m, seconds=30), 3.0, host)
        for n, (host, m) in enumerate(plan)
    ]
    write_cloud_funnel(tmp_path / "cf", [r for c in chains for r in c.records], "part")
    path, _ = make_config()
    path.write_text(
        path.read_text(encoding="utf-8") + SUPPRESS.replace('"1h"', '"20m"'), encoding="utf-8"
    )
    args = ["--from", start.isoformat(), "--to", now.isoformat(), "--window", "10m"]
    assert cli.run(["--config", str(path), "hunt", *args]) == 0
    out, err = capsys.readouterr()
    alerts = [json.loads(line) for line in out.splitlines()]
    got = sorted(
        (a["host"]["name"], a["kibana"]["alert"]["suppression"]["docs_count"]) for a in alerts
    )
    # 20-minute windows from each group's first alert: WKS-1 {0, 5, 10} and {25, 30}; WKS-2 {12}
    assert got == [("WKS-1", 1), ("WKS-1", 2), ("WKS-2", 0)]
    assert len({a["event"]["id"] for a in alerts}) == 3  # each group once
    assert "suppressed=3" in err


def test_a_hunt_that_stops_early_still_writes_the_groups_it_found(
    tmp_path: Path,
    make_config: ConfigFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    start = now - timedelta(hours=1)
    chains = [
        chain(f"s{n}", start + timedelta(minutes=m, seconds=30)) for n, m in enumerate((1, 4))
    ]
    write_cloud_funnel(tmp_path / "cf", [r for c in chains for r in c.records], "part")
    path, _ = make_config()
    path.write_text(path.read_text(encoding="utf-8") + SUPPRESS, encoding="utf-8")
    real_fetch = CloudFunnelSource.fetch
    calls = []

    def failing_fetch(self: CloudFunnelSource, window: Window) -> Iterator[RawRecord]:
        calls.append(window)
        if len(calls) == 3:
            raise Unavailable("the export folder went away")
        return real_fetch(self, window)

    monkeypatch.setattr(CloudFunnelSource, "fetch", failing_fetch)
    args = ["--from", start.isoformat(), "--to", now.isoformat(), "--window", "10m"]
    assert cli.run(["--config", str(path), "hunt", *args]) == 69
    out, _ = capsys.readouterr()
    [alert] = [json.loads(line) for line in out.splitlines()]
    assert alert["kibana"]["alert"]["suppression"]["docs_count"] == 1
