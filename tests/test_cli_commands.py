"""The smaller commands through the real CLI: rules, state, check --send-test, simulate."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from connector import cli as cli_module
from tests.conftest import FIXTURES

SEED_RULE_ID = "89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"


def _config(tmp_path: Path, body: str) -> str:
    (tmp_path / "cf").mkdir(exist_ok=True)
    path = tmp_path / "c.toml"
    path.write_text(
        f'[source]\nkind = "cloud-funnel"\n[cloud_funnel]\nlocation = "cf"\n'
        f'[state]\npath = "state/s.db"\n{body}'
    )
    return str(path)


def test_rules_list_shows_the_seed_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_module.run(["rules", "list"]) == 0
    out = capsys.readouterr().out
    assert SEED_RULE_ID in out and "Suspicious Command Prompt Network Connection" in out


def test_rules_check_the_elastic_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    folder = FIXTURES / "detection-rules-s1" / "rules"
    assert cli_module.run(["rules", "check", str(folder)]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("408 rules: 408 ok, 0 errors, ")


def test_rules_check_reports_a_broken_rule_with_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[metadata]\nmaturity = "production"\n[rule]\nname = "x"\nrule_id = "r1"\n'
        'type = "eql"\nrisk_score = 5\nseverity = "low"\nquery = """\nprocess wher true\n"""\n'
    )
    assert cli_module.run(["rules", "check", str(bad)]) == 78
    out = capsys.readouterr().out
    assert "ERROR" in out and "bad.toml" in out
    assert out.strip().splitlines()[-1] == "1 rules: 0 ok, 1 errors, 0 with warnings, 0 skipped"


def test_rules_check_warns_about_unmapped_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rule = tmp_path / "r.toml"
    rule.write_text(
        '[rule]\nname = "y"\nrule_id = "r2"\ntype = "eql"\nrisk_score = 5\nseverity = "low"\n'
        'query = """\nprocess where winlog.event_id == 1\n"""\n'
    )
    assert cli_module.run(["rules", "check", str(rule)]) == 0
    out = capsys.readouterr().out
    assert "winlog.event_id" in out and "1 with warnings" in out


def test_rules_pushdown_prints_both_queries(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_module.run(["rules", "pushdown"]) == 0
    out = capsys.readouterr().out
    assert 'TgtProcName In Anycase ("cmd.exe")' in out
    assert "dataSource.name='SentinelOne'" in out


def test_check_send_test_through_a_file_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, '[[outputs]]\ntype = "file"\npath = "alerts.jsonl"\n')
    assert cli_module.run(["--config", config, "check", "--send-test"]) == 0
    assert "test alert delivered" in capsys.readouterr().out
    (line,) = (tmp_path / "alerts.jsonl").read_text().splitlines()
    alert = json.loads(line)
    assert alert["event"]["kind"] == "alert" and "test" in alert["tags"]
    assert "TEST" in alert["rule"]["name"].upper()


def test_check_send_test_to_an_unreachable_receiver_is_69(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = _config(
        tmp_path,
        f'[[outputs]]\ntype = "syslog"\nhost = "127.0.0.1"\nport = {port}\ntransport = "tcp"\n',
    )
    assert cli_module.run(["--config", config, "check", "--send-test"]) == 69
    out = capsys.readouterr().out
    assert "cannot connect" in out and "test alert retry" in out


def test_state_show_and_reset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, "")
    assert cli_module.run(["--config", config, "state", "show"]) == 78  # no store yet
    assert cli_module.run(["--config", config, "poll"]) == 0
    capsys.readouterr()
    assert cli_module.run(["--config", config, "state", "show"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["last_run"]["command"] == "poll" and shown["outbox_size"] == 0
    assert list(shown["checkpoints"]) == [f"cloud-funnel|{tmp_path / 'cf'}"]
    assert cli_module.run(["--config", config, "state", "reset"]) == 2  # no TTY, no --yes
    assert cli_module.run(["--config", config, "state", "reset", "--yes"]) == 0
    assert not (tmp_path / "state" / "s.db").exists()


def test_simulate_serves_until_interrupted(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "S1_API_TOKEN": "sim-token-123"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "connector", "simulate", "--port", str(port), "--status-delay",
         "0", "--sdl-progress", "stepsTotal", "--sdl-results", "pieces"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/web/api/v2.1/system/status"
        answer = _wait_for(url, {"Authorization": "ApiToken sim-token-123"})
        assert answer.status_code == 200
        refused = requests.get(url, headers={"Authorization": "ApiToken nope"}, timeout=5)
        assert refused.status_code == 401
        launched = requests.post(
            f"http://127.0.0.1:{port}/sdl/v2/api/queries",
            json={"queryType": "LOG", "tenant": True, "startTime": "2026-01-01T00:00:00Z",
                  "endTime": "2026-01-02T00:00:00Z",
                  "log": {"filter": "", "limit": 5}},
            headers={"Authorization": "Bearer sim-token-123"}, timeout=5,
        )  # fmt: skip
        assert launched.status_code == 200, launched.text
        assert "stepsTotal" in launched.json() and "totalSteps" not in launched.json()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()  # never leave a simulator behind when the test fails
            proc.communicate()
            raise
    assert proc.returncode == 0
    assert "sim-token-123" not in err


def _wait_for(url: str, headers: dict[str, str]) -> requests.Response:
    # A loaded machine can take seconds to start the simulator: a deadline, not a count.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            return requests.get(url, headers=headers, timeout=5)
        except requests.ConnectionError:
            time.sleep(0.1)
    raise AssertionError(f"simulator never answered at {url}")
