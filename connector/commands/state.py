"""`state show` and `state reset`: inspect or clear the store."""

from __future__ import annotations

import json
import sys

import click

from connector.cli import AppContext
from connector.errors import EXIT_OK, UsageError
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
    overview["pending_sequences"] = _pending_count(engine)
    click.echo(json.dumps(overview, indent=2, default=str))
    return EXIT_OK


def _pending_count(engine: dict[str, object] | None) -> int:
    """How many partial sequences the saved matcher state holds (0 without a state)."""
    if not engine:
        return 0
    pending = engine.get("pending_count")
    return pending if isinstance(pending, int) else 0


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
    click.echo(f"state reset: removed {len(removed)} file(s) at {path}", err=True)
    return EXIT_OK
