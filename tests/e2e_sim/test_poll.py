"""`s1-connector poll`, run for real against the simulator, alerts every planted chain once.

Four runs over the demo day, for each API. The first two end their last window in the middle
of a chain (between its cmd.exe start and its connection), so the chain is completed only by
the next run, from the matcher state and checkpoint the previous run saved; the fourth run
finds nothing new.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from connector.simulator import DemoScenario, Planted
from tests.e2e_sim.conftest import SimulatorFactory
from tests.e2e_sim.support import (
    Chain,
    assert_exactly_the_planted,
    chain_of,
    checkpoint_ms,
    lag_until,
    read_alerts,
    run_cli,
    write_config,
)

KINDS = ["deep-visibility", "sdl"]


def _inside(chain: Planted, demo: DemoScenario, moment_ms: int | None) -> bool:
    """True when `moment_ms` lies after the chain's first event and before its second."""
    times = {r["event.id"]: r["event.time"] for r in demo.records}
    return moment_ms is not None and times[chain.stage1_id] < moment_ms < times[chain.stage2_id]


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_several_polls_alert_every_planted_chain_exactly_once(
    kind: str, demo: DemoScenario, simulator: SimulatorFactory, tmp_path: Path
) -> None:
    sim = simulator()
    alerts_file = tmp_path / "alerts.jsonl"
    chain = {p.name: p for p in demo.planted}
    everything = set(chain)
    # (where the run stops: mid-chain or now, the chains alerted by then)
    runs: list[tuple[tuple[Planted, timedelta] | None, set[str]]] = [
        ((chain["outlook-ftp-maxspan"], timedelta(seconds=7)), {"excel-ipv6"}),
        ((chain["cmd-k-url"], timedelta(seconds=3)), everything - {"cmd-k-url"}),
        (None, everything),
        (None, everything),  # nothing new
    ]
    names: dict[Chain, str] = {(p.stage1_id, p.stage2_id): p.name for p in demo.planted}
    counts = []
    for stop, expected in runs:
        lag = lag_until(stop[0].time + stop[1]) if stop else "0s"
        config = write_config(tmp_path, sim.url, kind=kind, poll={"lag": lag, "max_window": "13h"})
        run = run_cli(config, "poll")
        assert run.code == 0, run
        if stop is not None:  # the run really ended between the chain's two events
            assert _inside(stop[0], demo, checkpoint_ms(config, kind, sim.url))
        alerts = read_alerts(alerts_file)
        assert {names.get(chain_of(a), repr(chain_of(a))) for a in alerts} == expected, run
        counts.append(len(alerts))
    assert counts == [1, 4, 5, 5]
    assert_exactly_the_planted(read_alerts(alerts_file), demo)
