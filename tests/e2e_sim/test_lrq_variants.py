"""`hunt` with `kind = "sdl"` against consoles that answer LRQ the different ways real ones do
(sentinelone-api-evidence.md, differences 2-4): the same alerts every time.

* progress in `totalSteps` only, in `stepsTotal` only, or both;
* rows only in the final answer, or a piece per poll (with a status delay, so the pieces are
  real);
* PowerQuery (`sdl_query_type = "PQ"`) answers cut short and flagged partial: the connector
  narrows the window until no answer is partial, and never reports a partial one as complete.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from connector.simulator import DemoScenario, Simulator
from connector.timeutil import format_utc
from tests.e2e_sim.support import (
    TOKEN,
    alert_ids,
    assert_exactly_the_planted,
    parse_alerts,
    run_cli,
    write_config,
)

VARIANTS: dict[str, dict[str, Any]] = {
    # a status delay, so the connector has to poll and read the progress field to finish
    "totalSteps-only": {"sdl_progress": "totalSteps", "status_delay_s": 1.5},
    "stepsTotal-only": {"sdl_progress": "stepsTotal", "status_delay_s": 1.5},
    "both-progress-fields": {"sdl_progress": "both", "status_delay_s": 1.5},
    "rows-in-pieces": {"sdl_results": "pieces", "status_delay_s": 2.5},
    "pq-rows-in-pieces": {"sdl_results": "pieces", "status_delay_s": 2.5},
}


@pytest.fixture(scope="module")
def baseline(demo: DemoScenario, tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Alert ids of a hunt against the default simulator."""
    with Simulator(demo.records, token=TOKEN, status_delay_s=0) as sim:
        alerts = hunt(tmp_path_factory.mktemp("baseline"), sim, demo)
    assert_exactly_the_planted(alerts, demo)
    return sorted(alert_ids(alerts))


def hunt(folder: Path, sim: Simulator, demo: DemoScenario, **console: Any) -> list[dict[str, Any]]:
    config = write_config(folder, sim.url, kind="sdl", console=console)
    start = format_utc(demo.start - timedelta(seconds=1))
    end = format_utc(demo.end + timedelta(seconds=1))
    run = run_cli(config, "hunt", "--from", start, "--to", end, "--window", "2d")
    assert run.code == 0, run
    assert "DATA LOSS" not in run.stderr, run
    return parse_alerts(run.stdout)


@pytest.fixture
def console(demo: DemoScenario, request: pytest.FixtureRequest) -> Iterator[Simulator]:
    options = {"status_delay_s": 0.0, **request.param}
    with Simulator(demo.records, token=TOKEN, **options) as sim:
        yield sim


@pytest.mark.slow
@pytest.mark.parametrize("console", list(VARIANTS.values()), ids=list(VARIANTS), indirect=True)
def test_hunt_gives_the_same_alerts_whatever_the_lrq_answer_shape(
    console: Simulator,
    demo: DemoScenario,
    baseline: list[str],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    pq = request.node.callspec.id.startswith("pq-")
    alerts = hunt(tmp_path, console, demo, **({"sdl_query_type": "PQ"} if pq else {}))
    assert sorted(alert_ids(alerts)) == baseline
    polls = console.console.stats.calls["sdl/queries:GET"]
    assert polls >= 1  # finished by polling, not in the launch answer
    if console.console.sdl.settings.results == "pieces":
        assert polls >= 2  # the rows really came over several answers


@pytest.mark.slow
@pytest.mark.parametrize(
    "flag", ["omittedEvents"]
)  # every flag: tests/sources/test_evidence_contract.py
def test_partial_powerquery_results_are_narrowed_never_taken_as_complete(
    demo: DemoScenario, baseline: list[str], tmp_path: Path, flag: str
) -> None:
    with Simulator(
        demo.records, token=TOKEN, status_delay_s=0, pq_partial_above=30, pq_partial_flag=flag
    ) as sim:
        alerts = hunt(tmp_path, sim, demo, sdl_query_type="PQ")
        launches = sim.console.stats.calls["sdl/queries:POST"]
    assert sorted(alert_ids(alerts)) == baseline
    assert launches >= 5  # 80 matching rows, 30 per answer: the window was narrowed, twice+
