"""`hunt` and `poll` share the DV init-query spacing through the store, and say when they wait."""

from __future__ import annotations

import re
from pathlib import Path

from tests.e2e_sim.conftest import SimulatorFactory
from tests.e2e_sim.support import run_cli, write_config

_WAIT = re.compile(r"INFO connector\.sources\.http: waiting (\d+) s for the next DV init-query")


def test_hunt_waits_out_the_spacing_poll_left_and_says_so(
    simulator: SimulatorFactory, tmp_path: Path
) -> None:
    sim = simulator()
    config = write_config(
        tmp_path, sim.url, poll={"max_window": "26h"}, console={"min_query_interval": "10s"}
    )
    poll = run_cli(config, "poll")
    assert poll.code == 0, poll
    hunt = run_cli(config, "--log-level", "info", "hunt", "--from", "-1h", "--to", "now")
    assert hunt.code == 0, hunt
    waits = [int(m.group(1)) for m in _WAIT.finditer(hunt.stderr)]
    assert len(waits) == 1 and 3 <= waits[0] <= 10, hunt.stderr[-2000:]
    assert hunt.seconds >= waits[0]

    again = run_cli(config, "--log-level", "info", "poll")  # and poll respects hunt's query
    assert again.code == 0, again
    assert len(_WAIT.findall(again.stderr)) == 1, again.stderr[-2000:]
