"""`s1-connector auth set|delete|status`: the API token in the OS keyring."""

from __future__ import annotations

import sys

import click

from connector.cli import AppContext
from connector.errors import EXIT_OK, ConfigError, SecretError
from connector.logsetup import status_line

__all__ = ["auth"]


def _console_url(app: AppContext) -> str:
    url = app.config().console.url
    if not url:
        raise ConfigError("[console] url is not set: the keyring entry is keyed by it")
    return url


@click.group()
def auth() -> None:
    """Store, remove or inspect the API token (never shown)."""


@auth.command("set")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the token from standard input.")
@click.pass_obj
def auth_set(app: AppContext, from_stdin: bool) -> int:
    """Store the API token in the OS keyring (prompted without echo)."""
    from pydantic import SecretStr  # noqa: PLC0415 - lazy: start-up time

    from connector.secrets import store_token  # noqa: PLC0415 - lazy: start-up time

    url = _console_url(app)
    if from_stdin:
        value = sys.stdin.readline().strip()
    elif sys.stdin.isatty():
        value = click.prompt("SentinelOne API token", hide_input=True, err=True).strip()
    else:
        raise SecretError("no TTY to prompt on: pass --stdin and pipe the token in")
    if not value:
        raise SecretError("empty token: nothing stored")
    store_token(url, SecretStr(value))
    status_line(f"token stored in the OS keyring for {url}")
    return EXIT_OK


@auth.command("delete")
@click.pass_obj
def auth_delete(app: AppContext) -> int:
    """Remove the stored API token from the OS keyring."""
    from connector.secrets import delete_token  # noqa: PLC0415 - lazy: start-up time

    url = _console_url(app)
    removed = delete_token(url)
    status_line("token removed" if removed else "no token was stored")
    return EXIT_OK


@auth.command("status")
@click.pass_obj
def auth_status(app: AppContext) -> int:
    """Show where the token would come from and its fingerprint — never the token."""
    from connector.secrets import keyring_status, resolve_token  # noqa: PLC0415 - lazy: start-up time

    config = app.config()
    status = keyring_status()
    click.echo(f"keyring: {'available' if status.usable else 'not available'} ({status.detail})")
    try:
        found = resolve_token(config.console.url, config.console.token_file)
    except SecretError as exc:
        click.echo(f"token: none found — {exc}")
        return EXIT_OK
    click.echo(f"token: from {found.source}, fingerprint {found.fingerprint}")
    return EXIT_OK
