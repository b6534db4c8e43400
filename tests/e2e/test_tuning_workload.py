"""Tuning over the benchmark workload (`../shared/bench/workload.py`), through `replay`:

* a Kibana exception-list export excluding `process.parent.name` `WINWORD.EXE` removes exactly
  the planted chains Word started, and no other alert;
* suppression by `host.name` for 1 h gives one alert per host, and the alerts plus their
  `docs_count` account for every match.

Which chains Word started is read from the workload itself: a chain's first event is the
process start of cmd.exe, whose parent the generator records in each shape's own field.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connector import cli
from tests.e2e.conftest import truth_chains
from tests.e2e.support import matched_ids

pytestmark = pytest.mark.slow

WORD_EXPORT = (
    Path(__file__).parent.parent / "detection" / "data" / "exceptions" / "word_parent.ndjson"
)
SEED_RULE = "89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"
# The start event's id, parent and host fields in each shape the generator writes.
SHAPE_FIELDS = {
    "cloud-funnel": ("event.id", "src.process.name", "endpoint.name"),
    "dv": ("id", "srcProcName", "endpointName"),
    "ecs": ("event.id", "process.parent.name", "host.name"),
}


def replay(
    capsys: pytest.CaptureFixture[str], config: Path | None, path: Path
) -> tuple[list[dict[str, Any]], str]:
    args = ["--config", str(config)] if config else []
    code = cli.run([*args, "replay", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()], err


def start_events(path: Path, shape: str) -> dict[str, tuple[str, str]]:
    """Chain start event id -> (parent process name, host name), read from the workload."""
    id_field, parent_field, host_field = SHAPE_FIELDS[shape]
    starts = {chain[0] for chain in truth_chains(path)}
    found: dict[str, tuple[str, str]] = {}
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            if str(record.get(id_field)) in starts:
                found[str(record[id_field])] = (record[parent_field], record[host_field])
    assert len(found) == len(starts)
    return found


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "s1-connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("shape", ["cloud-funnel", "dv", "ecs"])
def test_word_exception_removes_exactly_the_word_started_chains(
    workload: dict[str, Path], shape: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workload[shape]
    parents = start_events(path, shape)
    word = {c for c in truth_chains(path) if parents[c[0]][0] == "WINWORD.EXE"}
    assert word and len(word) < len(truth_chains(path)), "the workload must plant both kinds"

    before, _ = replay(capsys, None, path)
    config = write_config(
        tmp_path, f'[[rules.exceptions]]\nfile = "{WORD_EXPORT}"\nrules = ["*"]\n'
    )
    after, err = replay(capsys, config, path)

    assert {matched_ids(a) for a in before} == truth_chains(path)
    assert {matched_ids(a) for a in after} == truth_chains(path) - word
    # the other alerts are untouched, ids included
    kept = {a["event"]["id"] for a in before if matched_ids(a) not in word}
    assert {a["event"]["id"] for a in after} == kept
    # never silent: the removed events are counted (chain starts and Word near misses)
    excepted = int(err.split("excepted=")[1].split()[0])
    assert excepted >= len(word)


def _suppress_config(tmp_path: Path, group_by: str) -> Path:
    return write_config(
        tmp_path,
        f'[[rules.suppress]]\nrules = ["{SEED_RULE}"]\ngroup_by = ["{group_by}"]\n'
        f'duration = "1h"\n',
    )


def _docs_count(alert: dict[str, Any]) -> int:
    count: int = alert["kibana"]["alert"]["suppression"]["docs_count"]
    return count


@pytest.mark.parametrize("shape", ["cloud-funnel", "ecs"])
def test_suppression_by_host_gives_one_alert_per_host_counting_every_match(
    workload: dict[str, Path], shape: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = workload[shape]
    hosts = Counter(host for _, host in start_events(path, shape).values())
    alerts, err = replay(capsys, _suppress_config(tmp_path, "host.name"), path)

    by_host = {a["kibana"]["alert"]["suppression"]["terms"][0]["value"][0]: a for a in alerts}
    assert len(by_host) == len(alerts) == len(hosts)  # one alert per host
    assert {h: 1 + _docs_count(a) for h, a in by_host.items()} == dict(hosts)
    assert sum(1 + _docs_count(a) for a in alerts) == len(truth_chains(path))
    assert f"suppressed={sum(hosts.values()) - len(hosts)}" in err
    for alert in alerts:  # each alert is one real chain of its host, within its window
        assert matched_ids(alert) in truth_chains(path)
        window = alert["kibana"]["alert"]["suppression"]
        assert window["start"] <= alert["@timestamp"] <= window["end"]


def test_a_rules_own_alert_suppression_is_honoured(
    workload: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The seed rule copied with a `[rule.alert_suppression]` by host.os.type: every chain
    runs on Windows, so one alert stands for all of them."""
    builtin = Path(cli.__file__).parent / "rules" / "command_prompt_network_connection.toml"
    rule = tmp_path / "rules" / "suppressed.toml"
    rule.parent.mkdir()
    rule.write_text(
        builtin.read_text(encoding="utf-8")
        + '\n[rule.alert_suppression]\ngroup_by = ["host.os.type"]\n'
        + 'duration = {value = 2, unit = "h"}\n',
        encoding="utf-8",
    )
    config = write_config(tmp_path, 'rules.builtin = false\nrules.paths = ["rules"]\n')
    path = workload["ecs"]
    [alert], _ = replay(capsys, config, path)
    suppression = alert["kibana"]["alert"]["suppression"]
    assert suppression["terms"] == [{"field": "host.os.type", "value": ["windows"]}]
    assert suppression["docs_count"] == len(truth_chains(path)) - 1
