"""`poll`, `hunt` and `replay`: thin wrappers over `connector.runner`."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import click

from connector.cli import AppContext
from connector.errors import UsageError
from connector.timeutil import Window, parse_duration, parse_time, utcnow

if TYPE_CHECKING:
    from connector.config import Config
    from connector.sources.base import Shape

__all__ = ["hunt_command", "poll_command", "replay_command"]


@click.command("poll")
@click.pass_obj
def poll_command(app: AppContext) -> int:
    """One scheduled cycle: query since the checkpoint, detect, deliver, advance."""
    from connector.runner.poll import poll  # noqa: PLC0415 - lazy: start-up time

    return poll(app.config())


@click.command("hunt")
@click.option("--from", "start", required=True, help="Start (ISO 8601 or relative: -24h, now).")
@click.option("--to", "end", default="now", show_default=True, help="End, exclusive.")
@click.option("--window", default="", help="Window span per query (default: the source's).")
@click.option("--deliver", is_flag=True, help="Also send the alerts to the configured outputs.")
@click.option(
    "--output",
    "output_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write JSON Lines here instead of stdout.",
)
@click.pass_obj
def hunt_command(
    app: AppContext, start: str, end: str, window: str, deliver: bool, output_path: Path | None
) -> int:
    """Evaluate the rules over [--from, --to); alerts to stdout as JSON Lines."""
    from connector.runner.hunt import HuntRequest, hunt  # noqa: PLC0415 - lazy: start-up time

    now = utcnow()
    try:
        begin, finish = parse_time(start, now=now), parse_time(end, now=now)
        span = parse_duration(window) if window else None
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if finish <= begin:
        raise UsageError(f"--to ({end}) must be after --from ({start})")
    if span is not None and span <= timedelta(0):
        raise UsageError("--window must be positive")
    request = HuntRequest(begin, finish, span, deliver)
    config = app.config()
    if output_path is None:
        return _guard_stdout(lambda out: hunt(config, request, out))
    with output_path.open("a", encoding="utf-8") as handle:
        return hunt(config, request, handle)


@click.command("replay")
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", "dv", "cloud-funnel", "ecs"]),
    default="auto",
    show_default=True,
)
@click.option(
    "--emit",
    type=click.Choice(["alerts", "events"]),
    default="alerts",
    show_default=True,
    help="alerts: run the rules; events: print the mapped ECS events (nested).",
)
@click.option(
    "--cluster",
    default="",
    help="Run on Dask: local://N (N local worker processes), tcp://HOST:PORT or tls://… "
    "(a running scheduler). PATH may then be s3://bucket/prefix.",
)
@click.option("--from", "start", default="", help="With --cluster: first day/time to read.")
@click.option("--to", "end", default="", help="With --cluster: end, exclusive (default: now).")
@click.pass_obj
def replay_command(
    app: AppContext,
    paths: tuple[str, ...],
    fmt: str,
    emit: str,
    cluster: str,
    start: str,
    end: str,
) -> int:
    """Run the rules over local files (DV JSON, NDJSON of DV / Cloud Funnel / ECS, .gz,
    folders), or with --cluster over a local or s3:// Cloud Funnel export on Dask."""
    config = app.config(required=False)
    shape: Shape = fmt  # type: ignore[assignment]  # click.Choice guarantees a valid Shape
    if cluster:
        return _replay_on_cluster(config, paths, shape, emit, cluster, start, end)
    if start or end:
        raise UsageError("--from/--to select day folders of a back-fill: use them with --cluster")
    for path in paths:
        if path.startswith("s3://"):
            raise UsageError(f"{path}: s3:// exports are read with --cluster (e.g. local://2)")
        if not Path(path).exists():
            raise UsageError(f"Path '{path}' does not exist.")
    from connector.runner.replay import replay  # noqa: PLC0415 - lazy: start-up time

    return _guard_stdout(lambda out: replay(config, [Path(p) for p in paths], shape, emit, out))


def _replay_on_cluster(
    config: Config, paths: tuple[str, ...], shape: Shape, emit: str, url: str, start: str, end: str
) -> int:
    from connector.runner.cluster import ClusterRequest, replay_on_cluster  # noqa: PLC0415

    if emit != "alerts":
        raise UsageError("--emit events runs on one machine: leave out --cluster")
    window = None
    if start:
        now = utcnow()
        try:
            window = Window(parse_time(start, now=now), parse_time(end or "now", now=now))
        except ValueError as exc:
            raise UsageError(str(exc)) from exc
    elif end:
        raise UsageError("--to needs --from")
    request = ClusterRequest(url, window)
    return _guard_stdout(lambda out: replay_on_cluster(config, paths, shape, request, out))


def _guard_stdout(run: Callable[[TextIO], int]) -> int:
    """Run with stdout; after a closed pipe, point stdout at /dev/null so exit stays quiet."""
    try:
        code = run(sys.stdout)
    except BaseException:
        _silence_stdout_if_broken()
        raise
    return int(code)


def _silence_stdout_if_broken() -> None:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
