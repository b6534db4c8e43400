"""CLI command groups, one module each; `register` attaches them to the root group."""

from __future__ import annotations

import click

from connector.commands import auth, check, init, rules, run, simulate, state

__all__ = ["register"]


def register(root: click.Group) -> None:
    """Attach every command to the root group."""
    root.add_command(auth.auth)
    root.add_command(check.check)
    root.add_command(init.init)
    root.add_command(run.poll_command)
    root.add_command(run.hunt_command)
    root.add_command(run.replay_command)
    root.add_command(state.state)
    root.add_command(rules.rules)
    root.add_command(simulate.simulate)
