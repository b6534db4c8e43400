"""Helpers for the end-to-end tests: a demo config, the real CLI in a subprocess, alert files.

The CLI always runs as `sys.executable -m connector` with the token in `$S1_API_TOKEN`, a null
keyring and no `$S1_CONNECTOR_CONFIG`, so nothing of the developer's machine leaks in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.simulator import DemoScenario
from connector.state import StateStore
from tests.conftest import REPO

TOKEN = "e2e-sim-token"
CLI_TIMEOUT_S = 90.0

Chain = tuple[str, ...]
"""The S1 event ids an alert matched, in order (stage 1, stage 2)."""


def write_config(
    folder: Path,
    console_url: str,
    *,
    kind: str = "deep-visibility",
    poll: Mapping[str, str] | None = None,
    console: Mapping[str, Any] | None = None,
    alerts_file: str = "alerts.jsonl",
) -> Path:
    """A config in `folder`: the simulator as console, state and alerts file beside it.

    `poll` and `console` add or override keys of those sections (TOML values as Python).
    """
    poll_keys = {"initial_lookback": "25h", "lag": "0s", "max_window": "6h", **(poll or {})}
    console_keys = {
        "url": console_url,
        "min_query_interval": "0s",  # the simulator does not enforce the 1/min limit here
        "timeout": "10s",
        **(console or {}),
    }
    text = "\n".join(
        [
            f"[source]\nkind = {_toml(kind)}",
            "[console]",
            *(f"{k} = {_toml(v)}" for k, v in console_keys.items()),
            "[poll]",
            *(f"{k} = {_toml(v)}" for k, v in poll_keys.items()),
            '[state]\npath = "state.db"',
            f'[[outputs]]\ntype = "file"\npath = {_toml(alerts_file)}',
            "",
        ]
    )
    path = folder / "s1-connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _toml(value: Any) -> str:
    # JSON strings, numbers and booleans are valid TOML for the values used here.
    return json.dumps(value)


@dataclass(frozen=True)
class Run:
    """One finished CLI run."""

    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str
    seconds: float

    def summary_line(self) -> str:
        """The run's one-line summary from stderr (`poll: windows=…`), or ''."""
        lines = [line for line in self.stderr.splitlines() if " windows=" in line]
        return lines[-1] if lines else ""

    def __str__(self) -> str:
        return f"s1-connector {' '.join(self.args)} → exit {self.code}\n{self.stderr[-3000:]}"


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("S1_")}
    env.update(
        S1_API_TOKEN=TOKEN,
        PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring",
        PYTHONPATH=str(REPO),
    )
    return env


def run_cli(config: Path | None, *args: str, timeout: float = CLI_TIMEOUT_S) -> Run:
    """Run `python -m connector [--config CONFIG] ARGS…` and wait for it."""
    argv = [*(["--config", str(config)] if config else []), *args]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "connector", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(),
        cwd=REPO,
        check=False,
    )
    return Run(tuple(argv), done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def read_alerts(path: Path) -> list[dict[str, Any]]:
    """The alert documents of a JSON Lines file (none when it does not exist yet)."""
    if not path.exists():
        return []
    return parse_alerts(path.read_text(encoding="utf-8"))


def parse_alerts(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def chain_of(alert: Mapping[str, Any]) -> Chain:
    return tuple(str(e["event"]["id"]) for e in alert["sequence"]["events"])


def alert_ids(alerts: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(a["event"]["id"]) for a in alerts]


def planted_chains(demo: DemoScenario, names: Sequence[str] | None = None) -> list[Chain]:
    """The (stage 1, stage 2) event ids of the planted chains (all, or those named)."""
    return sorted(
        (p.stage1_id, p.stage2_id) for p in demo.planted if names is None or p.name in names
    )


def near_miss_ids(demo: DemoScenario) -> set[str]:
    return {i for m in demo.near_misses for i in m.event_ids}


def assert_exactly_the_planted(alerts: Sequence[Mapping[str, Any]], demo: DemoScenario) -> None:
    """Every planted chain alerted once, under one id each, and nothing else."""
    ids = alert_ids(alerts)
    assert len(ids) == len(set(ids)), f"an alert was delivered twice: {sorted(ids)}"
    chains = sorted(chain_of(a) for a in alerts)
    touched = {i for chain in chains for i in chain} & near_miss_ids(demo)
    assert not touched, f"near-miss events alerted: {touched}"
    assert chains == planted_chains(demo)


def checkpoint_ms(config: Path, kind: str, console_url: str) -> int | None:
    """The poll checkpoint in the store beside `config` (None: no store or no checkpoint)."""
    state = config.parent / "state.db"
    if not state.exists():
        return None
    with StateStore.open(state, create=False) as store:
        return store.checkpoint(f"{kind}|{console_url}")


def lag_until(moment: datetime) -> str:
    """A `poll.lag` that makes a poll started now end its last window at about `moment`."""
    lag_ms = int((time.time() - moment.timestamp()) * 1000)
    assert lag_ms > 0, "the moment must lie in the past"
    return f"{lag_ms}ms"
