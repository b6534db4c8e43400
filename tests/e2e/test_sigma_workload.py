"""Our Sigma rule set (two rules and a temporal_ordered correlation, `examples/sigma/`) finds
exactly the chains the workload generator planted — the same truth the seed rule is held to."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector import cli
from tests.conftest import REPO
from tests.e2e.conftest import truth_chains
from tests.e2e.support import matched_ids

SIGMA_SET = REPO / "examples" / "sigma"


@pytest.mark.parametrize("shape", ["cloud-funnel", "dv"])
def test_sigma_correlation_finds_exactly_the_planted_chains(
    workload: dict[str, Path], shape: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "cf").mkdir()
    config = tmp_path / "c.toml"
    config.write_text(
        '[source]\nkind = "cloud-funnel"\n[cloud_funnel]\nlocation = "cf"\n'
        f"[rules]\nbuiltin = false\npaths = [{json.dumps(str(SIGMA_SET))}]\n"
    )
    truth = truth_chains(workload[shape])
    assert len(truth) >= 10
    code = cli.run(["--config", str(config), "replay", str(workload[shape])])
    out, err = capsys.readouterr()
    assert code == 0, err
    alerts = [json.loads(line) for line in out.splitlines()]
    found = [matched_ids(alert) for alert in alerts]
    assert len(found) == len(set(found))
    assert set(found) == truth
    rule = alerts[0]["rule"]
    assert rule["name"] == "Suspicious Command Prompt Network Connection (Sigma correlation)"
    assert rule["author"] == "s1-dv-connector team" and rule["license"] == "Apache-2.0"
