"""With 20 % of the API requests failing, `poll` delivers the same alerts, only slower.

The faults (simulator docs: per-request rates add up, the first that fires wins): 5 % 429
with `Retry-After: 1`, 5 % 500/502/503, 5 % dropped connections, 5 % query expiry. One of each
kind is also forced on a fixed early request, so every kind is exercised whatever the draws;
the seed is fixed, so the run is reproducible.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.simulator import DemoScenario, Faults
from tests.e2e_sim.conftest import SimulatorFactory
from tests.e2e_sim.support import (
    alert_ids,
    assert_exactly_the_planted,
    read_alerts,
    run_cli,
    write_config,
)

FAULTS = Faults.from_mapping(
    {
        "http_429": {"rate": 0.05, "nth": [2]},
        "http_500": {"rate": 0.02, "nth": [4]},
        "http_502": {"rate": 0.015},
        "http_503": {"rate": 0.015},
        "drop": {"rate": 0.05, "nth": [7]},
        "expire": {"rate": 0.05, "nth": [3]},
        "retry_after_s": 1,
    }
)
INJECTED = {"http_429", "http_500", "drop", "expire"}
RUNS = 3


def _poll_until_caught_up(config: Path) -> float:
    """Poll until a run finds nothing new; return the seconds all runs took."""
    lines, seconds = [], 0.0
    for _ in range(RUNS):
        run = run_cli(config, "poll")
        assert run.code == 0, run
        lines.append(run.summary_line())
        seconds += run.seconds
        if "alerts_new=0" in lines[-1]:
            return seconds
    raise AssertionError(f"poll did not catch up in {RUNS} runs: {lines}")


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["deep-visibility", "sdl"])
def test_faults_at_20_percent_give_the_same_alerts(
    kind: str, demo: DemoScenario, simulator: SimulatorFactory, tmp_path: Path
) -> None:
    clean, faulty = simulator(), simulator(faults=FAULTS, seed=11)
    poll = {"max_window": "13h"}
    # Enough attempts per call that 20 % of failures never exhaust them.
    console = {"max_retries": 8}

    (tmp_path / "clean").mkdir()
    (tmp_path / "faulty").mkdir()
    fast = _poll_until_caught_up(write_config(tmp_path / "clean", clean.url, kind=kind, poll=poll))
    slow = _poll_until_caught_up(
        write_config(tmp_path / "faulty", faulty.url, kind=kind, poll=poll, console=console)
    )

    expected = read_alerts(tmp_path / "clean" / "alerts.jsonl")
    got = read_alerts(tmp_path / "faulty" / "alerts.jsonl")
    assert_exactly_the_planted(got, demo)
    assert sorted(alert_ids(got)) == sorted(alert_ids(expected))
    assert set(faulty.stats["faults"]) >= INJECTED, faulty.stats
    assert not clean.stats["faults"]
    # The forced 429 (Retry-After: 1), 500 and drop each cost a retry wait of 1 s or more;
    # 2 s leaves room for the noise in start-up times.
    assert slow > fast + 2, (slow, fast)
