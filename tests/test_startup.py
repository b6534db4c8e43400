"""Start-up stays light: `--help` must not import what only some commands need.

Each case runs the CLI in a fresh interpreter (a module imported once stays imported, so
only a new process shows what a command pulls in) and lists `sys.modules` at exit. The
time it takes is measured by `scripts/bench_startup.py`, not here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Modules that cost tens to hundreds of milliseconds to import or that build grammars or
# tables when imported; none is needed to print help.
HEAVY = (
    "connector.simulator",
    "connector.detection.eql.parser",
    "connector.mapping.plan",
    "connector.config",
    "connector.runner",
    "lark",
    "pydantic",
    "requests",
    "boto3",
    "sigma",
    "ahocorasick",
)

_PROBE = """
import contextlib, io, json, sys
from connector.cli import run
with contextlib.redirect_stdout(io.StringIO()):
    code = run(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def _modules_after(*argv: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, check=True
    )
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0, done.stderr
    modules: list[str] = result["modules"]
    return modules


def _heavy(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


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
