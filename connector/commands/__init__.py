"""CLI command groups, one module each; `register` attaches them to the root group."""

from __future__ import annotations

import click

from connector.commands import auth, check

__all__ = ["register"]


def register(root: click.Group) -> None:
    """Attach every command to the root group."""
    root.add_command(auth.auth)
    root.add_command(check.check)
