"""Start-up stays light: a command imports only what it needs.

Each case runs the CLI in a fresh interpreter (a module imported once stays imported, so
only a new process shows what a command pulls in) and lists `sys.modules` at exit. The
time it takes is measured by `scripts/bench_startup.py`, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

# Modules that cost tens to hundreds of milliseconds to import or that build grammars or
# tables when imported; none is needed to print help.
HEAVY = (
    "connector.simulator",
    "connector.detection.eql.parser",
    "connector.detection.eql.transform",
    "connector.mapping.plan",
    "connector.config",
    "connector.runner",
    "lark",
    "pydantic",
    "requests",
    "boto3",
    "botocore",
    "sigma",
    "ahocorasick",
    "dask",
    "distributed",
    "keyring",
    "tenacity",
    "yaml",
)

# What a replay over local files never needs once its rules are in the rule cache: the
# simulator, the EQL grammar (lark; rules come parsed from the cache), Sigma, the HTTP
# source, the cluster, the webhook output (requests, tenacity), the keyring.
REPLAY_NEVER = (
    "connector.simulator",
    "connector.detection.eql.transform",
    "connector.detection.sigma",
    "connector.sources.http",
    "connector.runner.cluster",
    "connector.outputs.webhook",
    "lark",
    "sigma",
    "requests",
    "urllib3",
    "tenacity",
    "boto3",
    "botocore",
    "dask",
    "distributed",
    "keyring",
    "yaml",
)

# What a replay (unlike `rules list`) never needs either: the other commands' modules and
# runners, the state store (sqlite3), the console token (secrets), delivery and the outputs
# it opens.
REPLAY_ONLY_NEVER = (
    "connector.commands.auth",
    "connector.commands.check",
    "connector.commands.init",
    "connector.commands.rules",
    "connector.commands.simulate",
    "connector.commands.state",
    "connector.runner.hunt",
    "connector.runner.poll",
    "connector.state",
    "connector.secrets",
    "connector.delivery",
    "connector.outputs",
    "sqlite3",
)

_PROBE = """
import contextlib, io, json, sys
from connector.cli import run
with contextlib.redirect_stdout(io.StringIO()):
    code = run(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(
    *argv: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv],
        capture_output=True,
        text=True,
        check=True,
        env=None if env is None else {**os.environ, **env},
        cwd=cwd,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stderr
    modules: list[str] = result["modules"]
    return modules


def _heavy(modules: list[str], heavy: tuple[str, ...] = HEAVY) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy)]


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("replay", "--help"), ("simulate", "--help"), ("rules", "--help")],
)
def test_help_imports_nothing_heavy(argv: tuple[str, ...]) -> None:
    assert _heavy(_modules_after(*argv)) == []


def test_the_probe_sees_heavy_imports_when_a_command_needs_them() -> None:
    """The guard can fail: `rules list` reads the config (pydantic) and parses the rules."""
    heavy = _heavy(_modules_after("rules", "list"))
    assert "pydantic" in heavy
    assert "connector.detection.eql.parser" in heavy or "connector.config" in heavy


# One Cloud Funnel record (an IP connect), as in `../shared/bench/workload.py`.
_RECORD = {
    "event.time": 1763900000007,
    "event.id": "01J00000000000000000001_001",
    "event.category": "ip",
    "event.type": "IP Connect",
    "endpoint.name": "WKS-0172",
    "endpoint.os": "windows",
    "agent.uuid": "11c58ef0dd463c09475287aa5408f9ac",
    "src.process.name": "cmd.exe",
    "src.process.uid": "000000009E3779B1",
    "src.process.cmdline": "cmd.exe /c ping",
    "dst.ip.address": "192.0.2.1",
    "dst.port.number": 443,
}


@pytest.mark.parametrize(
    ("rules", "command"),
    [
        ("builtin = true", ("replay", "--format", "cloud-funnel")),
        (f"builtin = false\npaths = [{json.dumps(str(FIXTURES / 'detection-rules-s1' / 'rules'))}]",
         ("replay", "--format", "cloud-funnel")),
        ("builtin = true", ("rules", "list")),
    ],
    ids=["replay-seed", "replay-408-rules", "rules-list"],
)  # fmt: skip
def test_a_run_from_the_rule_cache_imports_only_what_it_needs(
    tmp_path: Path, rules: str, command: tuple[str, ...]
) -> None:
    (tmp_path / "s1-connector.toml").write_text(f"[rules]\n{rules}\n", encoding="utf-8")
    (tmp_path / "one.ndjson").write_text(json.dumps(_RECORD) + "\n", encoding="utf-8")
    argv = (*command, "one.ndjson") if command[0] == "replay" else command
    env = {"S1_CONNECTOR_CACHE_DIR": str(tmp_path / "cache")}
    first = _modules_after(*argv, env=env, cwd=tmp_path)  # fills the rule cache
    assert "lark" in first  # the guard can fail: parsing the rules needs the grammar
    never = REPLAY_NEVER + (REPLAY_ONLY_NEVER if command[0] == "replay" else ())
    assert _heavy(_modules_after(*argv, env=env, cwd=tmp_path), never) == []


def test_the_runner_names_are_the_functions_whatever_was_imported_first() -> None:
    """`connector.runner` imports its runners on first use; importing a runner's submodule
    first must not make the package's name of it the submodule (as with eager imports)."""
    probe = (
        "import importlib, json\n"
        "modules = {n: importlib.import_module('connector.runner.' + n)"
        " for n in ('replay', 'hunt', 'poll')}\n"
        "import connector.runner as runner\n"
        "from connector.runner import HuntRequest, hunt, poll, replay\n"
        "print(json.dumps([replay is modules['replay'].replay, hunt is modules['hunt'].hunt,"
        " poll is modules['poll'].poll, runner.replay is replay,"
        " HuntRequest is modules['hunt'].HuntRequest]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], check=False, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [True, True, True, True, True]


def test_every_command_is_listed_and_loads_under_its_name() -> None:
    import click  # noqa: PLC0415

    from connector.cli import cli  # noqa: PLC0415
    from connector.commands import COMMANDS  # noqa: PLC0415

    context = click.Context(cli)
    assert cli.list_commands(context) == sorted(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(context, name)
        assert command is not None and command.name == name
    assert cli.get_command(context, "no-such-command") is None


def test_the_console_script_freezes_what_is_left_before_the_interpreter_exits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`main` moves what is left to the collector's permanent generation before exiting: the
    shutdown's full collections then skip the loaded rules (~0.6 s CPU with 1,599 rules)."""
    import gc  # noqa: PLC0415

    from connector import cli  # noqa: PLC0415

    monkeypatch.setattr(cli, "run", lambda argv=None: 3)
    gc.unfreeze()
    try:
        with pytest.raises(SystemExit) as exited:
            cli.main([])
        assert exited.value.code == 3
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
