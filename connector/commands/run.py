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
from connector.timeutil import parse_duration, parse_time, utcnow

if TYPE_CHECKING:
    from connector.sources.base import Shape

__all__ = ["hunt_command", "poll_command", "replay_command"]


@click.command("poll")
@click.pass_obj
def poll_command(app: AppContext) -> int:
    """One scheduled cycle: query since the checkpoint, detect, deliver, advance."""
    from connector.runner import poll  # noqa: PLC0415 - lazy: start-up time

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
    from connector.runner import HuntRequest, hunt  # noqa: PLC0415 - lazy: start-up time

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
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
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
@click.pass_obj
def replay_command(app: AppContext, paths: tuple[Path, ...], fmt: str, emit: str) -> int:
    """Run the rules over local files (DV JSON, NDJSON of DV / Cloud Funnel / ECS, .gz, folders)."""
    from connector.runner import replay  # noqa: PLC0415 - lazy: start-up time

    config = app.config(required=False)
    shape: Shape = fmt  # type: ignore[assignment]  # click.Choice guarantees a valid Shape
    return _guard_stdout(lambda out: replay(config, list(paths), shape, emit, out))


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
