"""The CLI skeleton: help, auth status, check, and one place that maps errors to exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import click
import pytest

from connector import cli as cli_module
from connector.errors import AuthError, Unavailable
from connector.simulator import Simulator

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = str(REPO / "config.example.toml")


def test_help_via_python_m() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "connector", "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0
    assert "auth" in done.stdout and "check" in done.stdout


def test_check_without_token_is_78(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_module.run(["--config", EXAMPLE, "check"]) == 78
    assert "token: FAILED — " in capsys.readouterr().out


def _console_config(tmp_path: Path, url: str) -> str:
    path = tmp_path / "c.toml"
    path.write_text(f'[console]\nurl = "{url}"\nmax_retries = 0\n')
    return str(path)


def test_check_with_env_token_against_a_console(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("S1_API_TOKEN", "cli-secret-token-1")
    with Simulator([], token="cli-secret-token-1", status_delay_s=0) as console:
        assert cli_module.run(["--config", _console_config(tmp_path, console.url), "check"]) == 0
    out = capsys.readouterr()
    assert "env:S1_API_TOKEN" in out.out and "token accepted" in out.out
    assert "cli-secret-token-1" not in out.out + out.err


def test_check_with_a_refused_token_is_77(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setenv("S1_API_TOKEN", "not-the-right-token")
    with Simulator([], token="cli-secret-token-1", status_delay_s=0) as console:
        assert cli_module.run(["--config", _console_config(tmp_path, console.url), "check"]) == 77
    assert "not-the-right-token" not in capsys.readouterr().out


def test_check_with_console_down_is_69(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("S1_API_TOKEN", "cli-secret-token-1")
    with Simulator([], token="x-token-1", status_delay_s=0) as console:
        url = console.url  # a loopback port that is closed once the simulator stops
    assert cli_module.run(["--config", _console_config(tmp_path, url), "check"]) == 69


def test_auth_status_never_prints_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("S1_API_TOKEN", "cli-secret-token-2")
    assert cli_module.run(["--config", EXAMPLE, "auth", "status"]) == 0
    out = capsys.readouterr()
    assert "fingerprint" in out.out
    assert "cli-secret-token-2" not in out.out + out.err


def test_auth_set_without_keyring_is_78(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("tok\n"))
    assert cli_module.run(["--config", EXAMPLE, "auth", "set", "--stdin"]) == 78


def test_missing_config_is_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_module.run(["--config", str(tmp_path / "none.toml"), "check"]) == 78
    assert "config file not found" in capsys.readouterr().err


def test_invalid_config_lists_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "c.toml"
    bad.write_text('[poll]\nlag = "x"\n[[outputs]]\ntype = "syslog"\nhost = "h"\nport = 99999\n')
    assert cli_module.run(["--config", str(bad), "check"]) == 78
    err = capsys.readouterr().err
    assert "poll.lag" in err and "outputs[0].port" in err


def test_usage_error_is_2() -> None:
    assert cli_module.run(["--log-level", "loud", "check"]) == 2
    assert cli_module.run(["no-such-command"]) == 2


@pytest.fixture
def failing_command():
    calls: list[BaseException] = []

    @click.command("boom")
    def boom() -> None:
        raise calls[0]

    cli_module.cli.add_command(boom)
    yield calls
    cli_module.cli.commands.pop("boom")


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (AuthError("401 Authentication failed"), 77),
        (Unavailable("down"), 69),
        (ValueError("bug"), 1),
    ],
)
def test_errors_map_to_exit_codes_in_one_place(
    failing_command: list[BaseException],
    error: BaseException,
    code: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    failing_command.append(error)
    assert cli_module.run(["boom"]) == code
    err = capsys.readouterr().err
    if code == 1:
        assert "Traceback" in err and "--log-level debug" in err
    else:
        assert "Traceback" not in err and str(error) in err
