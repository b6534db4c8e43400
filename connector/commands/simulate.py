"""`s1-connector simulate`: serve the fake SentinelOne console until interrupted."""

from __future__ import annotations

import os

import click

from connector.errors import EXIT_OK, UsageError
from connector.logsetup import status_line

__all__ = ["simulate"]

FAULT_HELP = (
    "Inject a fault, NAME=VALUE, repeatable: http_429, http_429_bare, http_500, http_502, "
    "http_503, drop, slow, expire, fail take a rate (0.2) and/or request numbers (@3 or 0.1@3,5); "
    "slow_s, retry_after_s, result_cap, init_query_per_minute take numbers; "
    "only=dv/events,sdl/queries:GET limits faults to endpoints."
)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535))
@click.option("--token", default=None, help="Accepted API token (default: $S1_API_TOKEN).")
@click.option("--scenario", default="demo", show_default=True, help="'demo' or an NDJSON file.")
@click.option("--seed", default=7, show_default=True, help="Seed for the demo day and faults.")
@click.option("--fault", "faults", multiple=True, help=FAULT_HELP)
@click.option("--status-delay", default=1.0, show_default=True, help="Seconds until FINISHED.")
@click.option("--query-cap", default=20000, show_default=True, help="DV events per query.")
@click.option("--sdl-limit", default=5000, show_default=True, help="SDL LOG rows per query.")
@click.option(
    "--retention-days",
    default=14,
    show_default=True,
    help="Older windows get the retention 400; 0 = unlimited (old scenario files).",
)
@click.option(
    "--sdl-progress",
    type=click.Choice(["totalSteps", "stepsTotal", "both"]),
    default="totalSteps",
    show_default=True,
    help="Which LRQ step-count field answers carry.",
)
@click.option(
    "--sdl-results",
    type=click.Choice(["end", "pieces"]),
    default="end",
    show_default=True,
    help="LRQ rows all in the final answer, or a piece per poll.",
)
@click.option(
    "--pq-partial-above",
    type=click.IntRange(min=0),
    default=None,
    help="PowerQuery answers with more rows are cut there and flagged partial.",
)
@click.option(
    "--pq-partial-flag",
    type=click.Choice(["partialResultsDueToTimeLimit", "omittedEvents", "discardedArrayItems"]),
    default="partialResultsDueToTimeLimit",
    show_default=True,
)
def simulate(
    host: str,
    port: int,
    token: str | None,
    scenario: str,
    seed: int,
    faults: tuple[str, ...],
    status_delay: float,
    query_cap: int,
    sdl_limit: int,
    retention_days: int,
    sdl_progress: str,
    sdl_results: str,
    pq_partial_above: int | None,
    pq_partial_flag: str,
) -> int:
    """Serve a fake console (DV v2.1 + SDL v2) on HOST:PORT until interrupted."""
    from connector.simulator import Faults, Simulator, scenario_records  # noqa: PLC0415 - lazy: start-up time

    token = token or os.environ.get("S1_API_TOKEN", "")
    if not token:
        raise UsageError("give the token the simulator accepts: --token or $S1_API_TOKEN")
    try:
        injected = Faults.from_options(list(faults))
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    records = scenario_records(scenario, seed=seed)
    simulator = Simulator(
        records,
        token=token,
        host=host,
        port=port,
        faults=injected,
        seed=seed,
        status_delay_s=status_delay,
        query_cap=query_cap,
        sdl_limit=sdl_limit,
        retention_days=retention_days or None,
        sdl_progress=sdl_progress,
        sdl_results=sdl_results,
        pq_partial_above=pq_partial_above,
        pq_partial_flag=pq_partial_flag,
    )
    with simulator:
        status_line(f"simulator: {len(records)} records at {simulator.url} (Ctrl-C stops)")
        try:
            simulator.wait()
        except KeyboardInterrupt:
            status_line("simulator: stopped")
    return EXIT_OK
