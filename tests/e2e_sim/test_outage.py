"""With the console down, `poll` exits 69 and changes nothing; the next run recovers."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import EXIT_UNAVAILABLE
from connector.simulator import DemoScenario
from tests.e2e_sim.conftest import SimulatorFactory
from tests.e2e_sim.support import (
    assert_exactly_the_planted,
    checkpoint_ms,
    read_alerts,
    run_cli,
    write_config,
)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["deep-visibility", "sdl"])
def test_poll_exits_69_while_the_console_is_down_and_recovers_after(
    kind: str, demo: DemoScenario, simulator: SimulatorFactory, tmp_path: Path
) -> None:
    first = simulator()
    port = first.port
    first.stop()
    # One retry keeps the outage short (the backoff starts at 1 s).
    config = write_config(
        tmp_path, first.url, kind=kind, poll={"max_window": "13h"}, console={"max_retries": 1}
    )

    down = run_cli(config, "poll")
    assert down.code == EXIT_UNAVAILABLE, down
    assert "exit=69" in down.summary_line()
    assert read_alerts(tmp_path / "alerts.jsonl") == []
    assert checkpoint_ms(config, kind, first.url) is None

    again = simulator(port=port)  # the console is back, at the same address
    up = run_cli(config, "poll")
    assert up.code == 0, up
    assert_exactly_the_planted(read_alerts(tmp_path / "alerts.jsonl"), demo)
    assert again.stats["calls"], "the recovering run must have reached the console"
