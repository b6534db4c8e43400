"""Fixtures for the simulator tests: small hand-made records and a running simulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from connector.simulator import Clock, Simulator
from tests.simulator.support import TOKEN, Client, cf_record


@pytest.fixture
def records() -> list[dict[str, Any]]:
    """30 records, one per second from T0."""
    return [cf_record(n) for n in range(30)]


@pytest.fixture
def clock() -> Clock:
    return Clock(manual=True)


@pytest.fixture
def sim(records: list[dict[str, Any]], clock: Clock) -> Iterator[Simulator]:
    """A started simulator over `records` with a manual clock (queries finish after 1 s)."""
    with Simulator(
        records, token=TOKEN, status_delay_s=1.0, clock=clock, retention_days=None
    ) as simulator:
        yield simulator


@pytest.fixture
def client(sim: Simulator) -> Iterator[Client]:
    c = Client(sim.url)
    yield c
    c.session.close()
