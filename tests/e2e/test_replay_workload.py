"""`replay` over the benchmark workload (`../shared/bench/workload.py`) in all three shapes
finds exactly the planted chains; `--emit events` prints the mapped events, nested."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from connector import cli
from tests.e2e.conftest import truth_chains
from tests.e2e.support import matched_ids


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run where no `s1-connector.toml` exists: replay must work on the builtin rules."""
    monkeypatch.chdir(tmp_path)


def replay(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[dict[str, Any]], str]:
    """Run `s1-connector replay ARGS` in-process; return the JSON lines and stderr."""
    code = cli.run(["replay", *args])
    out, err = capsys.readouterr()
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()], err


@pytest.mark.parametrize("shape", ["cloud-funnel", "dv", "ecs"])
def test_replay_finds_exactly_the_truth_chains(
    workload: dict[str, Path],
    shape: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    truth = truth_chains(workload[shape])
    assert len(truth) >= 10, "the workload should plant enough chains to compare"
    alerts, err = replay(capsys, str(workload[shape]))
    found = [matched_ids(a) for a in alerts]
    assert len(found) == len(set(found))  # no chain twice
    assert set(found) == truth
    assert all(a["rule"]["name"] == "Suspicious Command Prompt Network Connection" for a in alerts)
    assert f"alerts_new={len(truth)}" in err


def test_replay_alert_ids_do_not_depend_on_the_shape(
    workload: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # DV and ECS renderings carry the same event ids, so the same matches get the same ids.
    dv, _ = replay(capsys, "--format", "dv", str(workload["dv"]))
    ecs, _ = replay(capsys, "--format", "ecs", str(workload["ecs"]))
    assert sorted(a["event"]["id"] for a in dv) == sorted(a["event"]["id"] for a in ecs)


def test_emit_events_prints_nested_ecs(
    workload: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    sample = tmp_path / "sample.ndjson"
    with workload["dv"].open(encoding="utf-8") as source:
        sample.write_text("".join(islice(source, 300)), encoding="utf-8")
    events, err = replay(capsys, "--emit", "events", str(sample))
    assert len(events) == 300  # every record maps; none is filtered out before mapping
    for event in events:
        assert not any("." in key for key in event)  # nested, not flat dotted keys
        assert isinstance(event["event"]["id"], str) and event["@timestamp"].endswith("Z")
        assert isinstance(event["host"], dict) and event["host"]["os"]["type"] == "windows"
    with_process = [e for e in events if "process" in e]
    assert with_process and all(isinstance(e["process"]["name"], str) for e in with_process)
    assert "alerts_new=0" in err
