"""The mocked-API path (`responses`) and the simulator give the same alerts for the same day.

Mocked: `connector.runner.hunt` in this process against the `responses` fakes of the source
tests (`tests/sources/fakes.py`). They serve every process start and network connection of
the demo day in the window, with no query evaluation beyond the event type (kept only to
hold the page count, and the paced requests, down), so the engine alone selects. Passthrough
is off: a request the fakes do not know fails. Simulated: the real CLI in a subprocess
against the simulator, which evaluates the pushed-down S1QL / SDL filter. Both must give the
planted chains under the same alert ids.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.config import load_config
from connector.runner import HuntRequest, hunt
from connector.simulator import DemoScenario
from connector.simulator.convert import cf_to_dv
from connector.timeutil import format_utc
from tests.e2e_sim.conftest import SimulatorFactory
from tests.e2e_sim.support import (
    TOKEN,
    alert_ids,
    assert_exactly_the_planted,
    parse_alerts,
    run_cli,
    write_config,
)
from tests.sources.fakes import BASE, FakeDV, FakeSDL

SERVED_TYPES = {"Process Creation", "IP Connect"}
ONE_WINDOW = timedelta(days=2)


@pytest.fixture
def mocked_console(monkeypatch: pytest.MonkeyPatch) -> Iterator[responses.RequestsMock]:
    monkeypatch.setenv("S1_API_TOKEN", TOKEN)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _hunt_mocked(config: Path, demo: DemoScenario) -> list[dict[str, Any]]:
    out = io.StringIO()
    start, end = demo.start - timedelta(seconds=1), demo.end + timedelta(seconds=1)
    request = HuntRequest(start, end, window=ONE_WINDOW)
    assert hunt(load_config(config), request, out) == 0
    return parse_alerts(out.getvalue())


def _hunt_simulated(config: Path, demo: DemoScenario) -> list[dict[str, Any]]:
    start = format_utc(demo.start - timedelta(seconds=1))
    end = format_utc(demo.end + timedelta(seconds=1))
    run = run_cli(config, "hunt", "--from", start, "--to", end, "--window", "2d")
    assert run.code == 0, run
    return parse_alerts(run.stdout)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["deep-visibility", "sdl"])
def test_mocked_api_and_simulator_give_the_same_alerts(
    kind: str,
    demo: DemoScenario,
    simulator: SimulatorFactory,
    mocked_console: responses.RequestsMock,
    tmp_path: Path,
) -> None:
    served = [r for r in demo.records if r["event.type"] in SERVED_TYPES]
    if kind == "sdl":
        FakeSDL(mocked_console, served, steps=1)
    else:
        FakeDV(mocked_console, [cf_to_dv(r) for r in served], states=("FINISHED",))
    (tmp_path / "mocked").mkdir()
    (tmp_path / "simulated").mkdir()
    mocked = _hunt_mocked(write_config(tmp_path / "mocked", BASE, kind=kind), demo)
    sim = simulator()
    simulated = _hunt_simulated(write_config(tmp_path / "simulated", sim.url, kind=kind), demo)

    assert_exactly_the_planted(mocked, demo)
    assert sorted(alert_ids(mocked)) == sorted(alert_ids(simulated))
