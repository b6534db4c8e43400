"""Fixtures of the end-to-end tests: a config factory, the token, a `responses` mock that
lets loopback traffic (the webhook receiver) through, and workload files generated once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.config import Config, load_config
from connector.sources import deep_visibility, sdl
from connector.sources.http import HttpClient
from tests.conftest import SHARED
from tests.e2e.support import CONSOLE, TOKEN, to_toml

ConfigFactory = Callable[..., tuple[Path, Config]]
WORKLOAD_EVENTS = 30_000
WORKLOAD_SEED = 1  # 16 planted chains in 30,000 events (seed 7 plants only 3)


def base_config(tmp_path: Path, kind: str) -> dict[str, Any]:
    """A test configuration: no real waits (no rate-limit spacing, no delivery backoff,
    no HTTP retries), small windows, a file output, everything under `tmp_path`."""
    return {
        "source": {"kind": kind},
        "console": {
            "url": CONSOLE,
            "min_query_interval": "0s",
            "max_retries": 0,
            "timeout": "5s",
        },
        "cloud_funnel": {"location": str(tmp_path / "cf")},
        "poll": {
            "initial_lookback": "10m",
            "lag": "1m",
            "max_window": "10m",
            "allowed_lateness": "2m",
            "max_runtime": "2m",
            "delivery_backoff": "0s",
        },
        "state": {"path": str(tmp_path / "state.db")},
        "outputs": [{"type": "file", "name": "file", "path": str(tmp_path / "alerts.jsonl")}],
    }


@pytest.fixture
def make_config(tmp_path: Path) -> ConfigFactory:
    """`make_config(kind, poll={...}, outputs=[...], ...)`: write the TOML file (sections
    given replace or, for `poll` and `console`, update the defaults) and load it."""

    def factory(kind: str = "cloud-funnel", **sections: Any) -> tuple[Path, Config]:
        config = base_config(tmp_path, kind)
        for name, value in sections.items():
            if name in ("poll", "console") and isinstance(value, dict):
                config[name] = {**config[name], **value}
            else:
                config[name] = value
        path = tmp_path / "s1-connector.toml"
        path.write_text(to_toml(config), encoding="utf-8")
        return path, load_config(path)

    return factory


@pytest.fixture
def token(monkeypatch: pytest.MonkeyPatch) -> str:
    """The console API token, from the environment as under cron."""
    monkeypatch.setenv("S1_API_TOKEN", TOKEN)
    return TOKEN


class _UnpacedClient(HttpClient):
    """The real HTTP layer without its client-side spacing (0.5 s between DV requests)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["min_interval"] = 0.0
        super().__init__(*args, **kwargs)


@pytest.fixture
def rsps(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    """Mocked HTTP for the console; 127.0.0.1 (our own receivers) passes through.

    The sources' pacing (request spacing, the 1 s SDL poll interval) is set to zero: it is
    covered by the source tests, and here it would only make every window cost seconds.
    """
    monkeypatch.setattr(deep_visibility, "HttpClient", _UnpacedClient)
    monkeypatch.setattr(sdl, "HttpClient", _UnpacedClient)
    monkeypatch.setattr(sdl, "POLL_INTERVAL", 0.0)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru("http://127.0.0.1")
        yield mock


@pytest.fixture(scope="session")
def workload(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`../shared/bench/workload.py` output in all three shapes (same seed, same chains)."""
    script = SHARED / "bench" / "workload.py"
    if not script.is_file():
        pytest.fail(f"{script} not found: the replay tests generate their data with it")
    folder = tmp_path_factory.mktemp("workload")
    out: dict[str, Path] = {}
    for shape in ("cloud-funnel", "dv", "ecs"):
        path = folder / f"{shape}.ndjson"
        subprocess.run(
            [sys.executable, str(script), "--shape", shape, "--events", str(WORKLOAD_EVENTS),
             "--seed", str(WORKLOAD_SEED), "--out", str(path)],
            check=True, capture_output=True,
        )  # fmt: skip
        out[shape] = path
    return out


def truth_chains(path: Path) -> set[tuple[str, ...]]:
    """The planted chains of a workload file, from its `.truth.json` beside it."""
    truth = json.loads(Path(f"{path}.truth.json").read_text(encoding="utf-8"))
    return {tuple(str(i) for i in chain) for chain in truth["chains"]}
