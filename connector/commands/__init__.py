"""CLI command groups, one module each; `LazyGroup` attaches them to the root group.

A command's module is imported when click asks for that command (`get_command`): running
`replay` does not import `check`, `state` (sqlite3), `init` (importlib.resources) and the
others. Listing the commands (`--help`) imports them all, as before.
"""

from __future__ import annotations

import importlib

import click

__all__ = ["COMMANDS", "LazyGroup"]

# Command name → (module, attribute) of its click command.
COMMANDS: dict[str, tuple[str, str]] = {
    "auth": ("connector.commands.auth", "auth"),
    "check": ("connector.commands.check", "check"),
    "hunt": ("connector.commands.run", "hunt_command"),
    "init": ("connector.commands.init", "init"),
    "poll": ("connector.commands.run", "poll_command"),
    "replay": ("connector.commands.run", "replay_command"),
    "rules": ("connector.commands.rules", "rules"),
    "simulate": ("connector.commands.simulate", "simulate"),
    "state": ("connector.commands.state", "state"),
}


class LazyGroup(click.Group):
    """A click group whose commands of `COMMANDS` are imported on first use.

    Commands added with `add_command` take precedence; `list_commands` is sorted, as
    click's own."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{module}.{attribute} is not a click command")
            self.add_command(command, cmd_name)
        return self.commands.get(cmd_name)
