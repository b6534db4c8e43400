"""Fixtures for the end-to-end tests: the demo day and simulators serving it on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from connector.simulator import DemoScenario, Faults, Simulator, demo_scenario
from tests.e2e_sim.support import TOKEN

SimulatorFactory = Callable[..., Simulator]


@pytest.fixture(scope="session")
def demo() -> DemoScenario:
    """The demo day ending at the start of the session (ids do not depend on the time)."""
    return demo_scenario(datetime.now(UTC), seed=7)


@pytest.fixture
def simulator(demo: DemoScenario) -> Iterator[SimulatorFactory]:
    """Start simulators over the demo day (fast: no status delay); all stopped at the end."""
    started: list[Simulator] = []

    def start(*, faults: Faults | None = None, seed: int = 0, port: int = 0) -> Simulator:
        sim = Simulator(
            demo.records, token=TOKEN, port=port, faults=faults, seed=seed, status_delay_s=0
        )
        started.append(sim.start())
        return sim

    yield start
    for sim in started:
        sim.stop()
