"""`state show` and `state reset`: inspect or clear the store."""

from __future__ import annotations

import json
import logging
import sys

import click

from connector.cli import AppContext
from connector.errors import EXIT_OK, UsageError
from connector.logsetup import status_line
from connector.state import RunLock, StateStore

__all__ = ["state"]


@click.group()
def state() -> None:
    """Inspect or reset the state store."""


@state.command("show")
@click.pass_obj
def state_show(app: AppContext) -> int:
    """Checkpoints, pending sequences, outbox size, last run (JSON on stdout)."""
    config = app.config()
    with StateStore.open(config.state.path, create=False) as store:
        overview = store.overview()
        engine = store.engine_state()
        tuning = store.engine_state("suppression")
    overview["pending_sequences"] = _pending_count(engine)
    overview["tuning"] = _tuning(tuning)
    click.echo(json.dumps(overview, indent=2, default=str))
    return EXIT_OK


def _pending_count(engine: dict[str, object] | None) -> dict[str, int]:
    """Pending partial sequences per rule id, and buffered (not yet evaluated) events."""
    if not engine:
        return {}
    counts: dict[str, int] = {}
    rules = engine.get("rules")
    if isinstance(rules, dict):
        for rule_id, saved in rules.items():
            pending = saved.get("pending") if isinstance(saved, dict) else None
            counts[str(rule_id)] = len(pending) if isinstance(pending, list) else 0
    lanes = engine.get("lanes")
    if isinstance(lanes, dict):  # one lane per agent (state version 2)
        buffered = sum(
            len(lane.get("buffer", [])) for lane in lanes.values() if isinstance(lane, dict)
        )
        counts["(agents tracked)"] = len(lanes)
    else:
        buffer = engine.get("buffer")
        buffered = len(buffer) if isinstance(buffer, list) else 0
    counts["(reorder buffer events)"] = buffered
    return counts


def _tuning(saved: dict[str, object] | None) -> dict[str, object]:
    """Per-rule totals over every poll run (events excepted, matches suppressed) and the
    suppression groups still open."""
    saved = saved or {}
    totals = saved.get("totals")
    totals = totals if isinstance(totals, dict) else {}
    groups = saved.get("groups")
    return {
        "excepted_events": dict(totals.get("excepted", {})),
        "suppressed_matches": dict(totals.get("suppressed", {})),
        "open_suppression_groups": len(groups) if isinstance(groups, list) else 0,
    }


@state.command("reset")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def state_reset(app: AppContext, yes: bool) -> int:
    """Delete the store (checkpoints, matcher state, outbox). Takes the run lock first."""
    config = app.config()
    path = config.state.path
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("state reset needs --yes when not on a terminal")
        click.confirm(f"Delete {path} (queued alerts are lost)?", abort=True, err=True)
    with RunLock(path):
        removed = [
            p
            for p in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
            if p.exists()
        ]
        for file in removed:
            file.unlink()
    status_line(f"state reset: removed {len(removed)} file(s) at {path}")
    return EXIT_OK


@state.command("drop-output")
@click.argument("output")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def state_drop_output(app: AppContext, output: str, yes: bool) -> int:
    """Delete the queued alerts of one output (e.g. one removed from the config)."""
    config = app.config()
    if not yes:
        if not sys.stdin.isatty():
            raise UsageError("state drop-output needs --yes when not on a terminal")
        click.confirm(f"Drop every queued alert of output {output!r}?", abort=True, err=True)
    with RunLock(config.state.path), StateStore.open(config.state.path, create=False) as store:
        dropped = store.drop_output_rows(output)
    logging.getLogger(__name__).warning(
        "dropped %d queued alert(s) of output %r on request", dropped, output
    )
    status_line(f"dropped {dropped} queued alert(s) of output {output!r}")
    return EXIT_OK
