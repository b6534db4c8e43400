"""The command line's small promises: global options anywhere, JSON for every stderr line,
clear config messages, `init`, and repeated warnings logged once with a count."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from connector import cli as cli_module
from connector.cli import hoist_global_options
from connector.commands.init import example_config
from connector.config import load_config
from connector.logsetup import once, report_repeats, setup_logging

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["poll", "--config", "x.toml"], ["--config", "x.toml", "poll"]),
        (["poll", "--config=x.toml"], ["--config=x.toml", "poll"]),
        (
            ["--log-level", "debug", "hunt", "--from", "-1h", "--log-format", "json"],
            ["--log-format", "json", "--log-level", "debug", "hunt", "--from", "-1h"],
        ),
        (
            ["rules", "check", "--config", "c", "r.toml"],
            ["--config", "c", "rules", "check", "r.toml"],
        ),
        (["replay", "--", "--config"], ["replay", "--", "--config"]),
        (["--config", "c", "poll"], ["--config", "c", "poll"]),
    ],
)
def test_global_options_are_hoisted_before_the_command(
    args: list[str], expected: list[str]
) -> None:
    assert hoist_global_options(args) == expected


def test_config_after_the_command_is_used(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    (tmp_path / "cf").mkdir()
    config.write_text('[source]\nkind = "cloud-funnel"\n[cloud_funnel]\nlocation = "cf"\n')
    assert cli_module.run(["check", "--config", str(config), "--log-level", "warning"]) == 0
    assert f"config: ok ({config})" in capsys.readouterr().out


def _json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_logs_cover_the_summary_and_error_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = tmp_path / "one.ndjson"  # one ECS event, no alert
    one.write_text(
        '{"@timestamp":"2026-11-20T10:00:00.000Z","event":{"id":"e1","category":["process"],'
        '"type":["start"]},"host":{"name":"h"},"process":{"name":"cmd.exe","entity_id":"p1"}}\n'
    )
    assert cli_module.run(["replay", str(one), "--log-format", "json"]) == 0
    lines = _json_lines(capsys.readouterr().err)  # every line parses as JSON
    summary = lines[-1]
    assert str(summary["message"]).startswith("replay: windows=")
    assert summary["summary"]["exit_code"] == 0  # type: ignore[index]

    missing = tmp_path / "nope.toml"
    assert cli_module.run(["--log-format", "json", "--config", str(missing), "poll"]) == 78
    (error,) = _json_lines(capsys.readouterr().err)
    assert error["level"] == "error" and error["exit_code"] == 78
    assert "config file not found" in str(error["message"])

    assert cli_module.run(["--log-format=json", "poll", "--bogus"]) == 2
    (usage,) = _json_lines(capsys.readouterr().err)
    assert usage["exit_code"] == 2 and "--bogus" in str(usage["message"])


def test_a_missing_output_type_is_named_plainly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[[outputs]]\nurl = "https://hooks.example.com/x"\n')
    assert cli_module.run(["--config", str(config), "poll"]) == 78
    err = capsys.readouterr().err
    assert "outputs[0]: missing key 'type'" in err
    assert '"webhook", "syslog" or "file"' in err
    assert "discriminator" not in err


def test_init_writes_the_packaged_example_which_loads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "s1-connector.toml"
    assert cli_module.run(["init", str(target)]) == 0
    text = target.read_text()
    assert text == (REPO / "config.example.toml").read_text() == example_config()
    assert sum("#" in line for line in text.splitlines()) > 40  # commented
    load_config(target)
    assert cli_module.run(["init", str(target)]) == 78  # never overwrites silently
    assert "already exists" in capsys.readouterr().err
    assert cli_module.run(["init", str(target), "--force"]) == 0


def test_init_uses_the_config_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli_module.run(["init", "--config", "mine.toml"]) == 0
    assert (tmp_path / "mine.toml").read_text() == example_config()


def test_the_missing_config_error_points_to_init(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli_module.run(["--config", str(tmp_path / "none.toml"), "poll"]) == 78
    assert "`s1-connector init`" in capsys.readouterr().err


def test_a_repeated_warning_is_logged_once_with_a_count(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging("info", "text")
    log = logging.getLogger("connector.test")
    for window in range(5):
        log.warning("window %d is older than retention", window, extra=once("retention"))
    log.warning("another warning")
    report_repeats()
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(": ", 1)[1] for line in lines] == [
        "window 0 is older than retention",
        "another warning",
        "window 0 is older than retention (repeated 4 more time(s) this run)",
    ]
    logging.getLogger().handlers.clear()


def test_command_status_lines_are_json_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "c.toml"
    assert cli_module.run(["init", str(target), "--log-format", "json"]) == 0
    (line,) = _json_lines(capsys.readouterr().err)
    assert line["level"] == "info" and str(line["message"]).startswith(f"wrote {target}")
    assert cli_module.run(["rules", "list", "--log-format", "json"]) == 0
    assert all(isinstance(doc, dict) for doc in _json_lines(capsys.readouterr().err))
