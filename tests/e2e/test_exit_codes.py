"""Every exit code of CONTRACT.md, produced through the real command line.

`connector.cli.run([...])` runs in-process (the console is faked with `responses`, the
webhook receiver is real); the closed-stdout case (141) runs a subprocess, since only a
real pipe can be closed under a writer.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import responses

from connector import cli
from connector.detection.engine import Engine
from connector.state import RunLock, StateStore
from tests.e2e.conftest import ConfigFactory, base_config
from tests.e2e.support import (
    TOKEN,
    FakeDV,
    WebhookReceiver,
    chain,
    noise,
    read_alerts,
    to_toml,
    write_cloud_funnel,
)

MINUTE = timedelta(minutes=1)


def recent_chain_folder(tmp_path: Path) -> None:
    """A Cloud Funnel export with one chain well inside a poll's first look-back."""
    now = datetime.now(UTC)
    records = [*chain("x", now - 6 * MINUTE).records, *noise("n", now - 8 * MINUTE, 6, MINUTE)]
    write_cloud_funnel(tmp_path / "cf", records, "part-1")


def cf_ndjson(tmp_path: Path) -> Path:
    """A plain NDJSON file of Cloud Funnel records holding one chain."""
    path = tmp_path / "records.ndjson"
    records = chain("r", datetime(2026, 11, 20, 9, tzinfo=UTC)).records
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def no_traceback(err: str) -> None:
    assert "Traceback" not in err, err


# -- 0 ---------------------------------------------------------------------------------------


def test_0_poll_success_then_nothing_new(
    make_config: ConfigFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recent_chain_folder(tmp_path)
    path, _ = make_config("cloud-funnel")
    assert cli.run(["--config", str(path), "poll"]) == 0
    assert cli.run(["--config", str(path), "poll"]) == 0
    assert len(read_alerts(tmp_path / "alerts.jsonl")) == 1
    err = capsys.readouterr().err
    assert err.count("poll: windows=") == 2 and "exit=0" in err


def test_0_replay_with_alerts_on_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.run(["replay", str(cf_ndjson(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert [json.loads(line)["event"]["kind"] for line in out.splitlines()] == ["alert"]


# -- 1 ---------------------------------------------------------------------------------------


def test_1_internal_error_prints_traceback_and_debug_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: Engine, *args: object, **kwargs: object) -> list[object]:
        raise ZeroDivisionError("a bug in the engine")

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(Engine, "evaluate_ordered", broken)  # replay's in-order engine run
    assert cli.run(["replay", str(cf_ndjson(tmp_path))]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: a bug in the engine" in err
    assert "--log-level debug" in err


# -- 2 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["hunt", "--from", "last tuesday"],
        ["hunt", "--from", "-1h", "--to", "-2h"],
        ["hunt", "--from", "-1h", "--window", "0s"],
        ["replay"],
        ["replay", "--emit", "nothing", "x"],
        ["poll", "--no-such-option"],
    ],
    ids=["bad-time", "to-before-from", "zero-window", "no-path", "bad-choice", "bad-option"],
)
def test_2_usage_errors(
    args: list[str], make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = make_config("cloud-funnel")
    assert cli.run(["--config", str(path), *args]) == 2
    no_traceback(capsys.readouterr().err)


# -- 3 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [503, 400], ids=["output-down", "payload-rejected"])
def test_3_alerts_left_in_the_outbox(
    status: int, make_config: ConfigFactory, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recent_chain_folder(tmp_path)
    with WebhookReceiver(status=status) as hook:
        outputs = [{"type": "webhook", "name": "hook", "url": hook.url, "max_retry_time": "0s"}]
        path, config = make_config("cloud-funnel", outputs=outputs)
        assert cli.run(["--config", str(path), "poll"]) == 3
    assert "outbox=1" in capsys.readouterr().err
    with StateStore.open(config.state.path, create=False) as store:
        assert store.outbox_size() == 1


# -- 65 --------------------------------------------------------------------------------------


def test_65_replay_of_unreadable_data(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    garbage = tmp_path / "garbage.json.gz"
    garbage.write_bytes(gzip.compress(b"\x00\x01 this is { not json at all\n" * 50))
    assert cli.run(["replay", str(garbage)]) == 65
    no_traceback(capsys.readouterr().err)


# -- 69, 77: the console -----------------------------------------------------------------------


def test_69_console_unavailable_after_retries(
    make_config: ConfigFactory,
    rsps: responses.RequestsMock,
    token: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ = make_config("deep-visibility")
    FakeDV(rsps, [], fail_all_from=1)
    assert cli.run(["--config", str(path), "poll"]) == 69
    no_traceback(capsys.readouterr().err)


def test_77_console_refuses_the_token(
    make_config: ConfigFactory,
    rsps: responses.RequestsMock,
    token: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path, _ = make_config("deep-visibility")
    FakeDV(rsps, [], fail_init={1: 401})
    assert cli.run(["--config", str(path), "poll"]) == 77
    captured = capsys.readouterr()
    no_traceback(captured.err)
    assert TOKEN not in captured.out + captured.err


# -- 75 --------------------------------------------------------------------------------------


def test_75_lock_held(make_config: ConfigFactory, capsys: pytest.CaptureFixture[str]) -> None:
    path, config = make_config("cloud-funnel")
    with RunLock(config.state.path):
        assert cli.run(["--config", str(path), "poll"]) == 75
    no_traceback(capsys.readouterr().err)


# -- 78 --------------------------------------------------------------------------------------


def _unknown_key(tmp_path: Path, make_config: ConfigFactory) -> list[str]:
    config = base_config(tmp_path, "cloud-funnel")
    config["poll"]["max_windows"] = "1h"
    path = tmp_path / "typo.toml"
    path.write_text(to_toml(config), encoding="utf-8")
    return ["--config", str(path), "poll"]


def _missing_token(tmp_path: Path, make_config: ConfigFactory) -> list[str]:
    path, _ = make_config("deep-visibility")  # no S1_API_TOKEN, no file, no keyring, no TTY
    return ["--config", str(path), "poll"]


def _bad_rule_file(tmp_path: Path, make_config: ConfigFactory) -> list[str]:
    rule = tmp_path / "bad_rule.toml"
    rule.write_text(
        '[rule]\nrule_id = "r-1"\nname = "broken"\ntype = "eql"\nlanguage = "eql"\n'
        "risk_score = 1\nseverity = \"low\"\nquery = '''\nprocess where process.name ==\n'''\n",
        encoding="utf-8",
    )
    path, _ = make_config("cloud-funnel", rules={"builtin": True, "paths": [str(rule)]})
    return ["--config", str(path), "poll"]


def _corrupt_store(tmp_path: Path, make_config: ConfigFactory) -> list[str]:
    path, config = make_config("cloud-funnel")
    config.state.path.write_bytes(b"SQLite format 3\x00" + b"\xff" * 5000)
    return ["--config", str(path), "poll"]


def _newer_store(tmp_path: Path, make_config: ConfigFactory) -> list[str]:
    path, config = make_config("cloud-funnel")
    StateStore.open(config.state.path).close()
    with sqlite3.connect(config.state.path) as conn:
        conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.close()
    return ["--config", str(path), "poll"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (_unknown_key, "poll.max_windows: unknown key"),
        (_missing_token, "token"),
        (_bad_rule_file, "bad_rule.toml"),
        (_corrupt_store, "corrupt"),
        (_newer_store, "schema version 99"),
    ],
    ids=["unknown-key", "missing-token", "bad-rule-file", "corrupt-store", "newer-store"],
)
def test_78_configuration_errors(
    setup: object,
    message: str,
    make_config: ConfigFactory,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert callable(setup)
    args = setup(tmp_path, make_config)
    store = tmp_path / "state.db"
    before = store.read_bytes() if store.exists() else None
    assert cli.run(args) == 78
    err = capsys.readouterr().err
    no_traceback(err)
    assert message in err
    if before is not None:  # a store we cannot use is left exactly as it was
        assert store.read_bytes() == before


def test_empty_store_left_by_a_kill_during_creation_is_initialised(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    # `sqlite3.connect` + WAL writes a 4 KiB header before the schema is committed; a run
    # killed in between leaves such a file. It holds nothing, so it is no reason for 78.
    recent_chain_folder(tmp_path)
    path, config = make_config("cloud-funnel")
    conn = sqlite3.connect(config.state.path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.close()
    assert config.state.path.stat().st_size > 0
    assert cli.run(["--config", str(path), "poll"]) == 0
    assert len(read_alerts(tmp_path / "alerts.jsonl")) == 1


# -- 141 -------------------------------------------------------------------------------------


@pytest.mark.slow
def test_141_stdout_closed_by_the_reader(workload: dict[str, Path], tmp_path: Path) -> None:
    # Like `s1-connector replay --emit events FILE | head -1`: megabytes of events, one read.
    args = [sys.executable, "-m", "connector", "replay", "--emit", "events"]
    with subprocess.Popen(
        [*args, str(workload["dv"])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read().decode()
        code = proc.wait(60)
    assert json.loads(first)["event"]["id"]
    assert code == 141, err
    no_traceback(err)
