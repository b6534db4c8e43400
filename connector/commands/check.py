"""`s1-connector check`: is the configuration usable? (extended as stages land)."""

from __future__ import annotations

import click

from connector.cli import AppContext
from connector.errors import EXIT_CONFIG, EXIT_OK, SecretError
from connector.secrets import resolve_token

__all__ = ["check"]


@click.command()
@click.pass_obj
def check(app: AppContext) -> int:
    """Verify the configuration and the token source."""
    config = app.config()
    click.echo(f"config: ok ({app.config_path})")
    click.echo(f"source: {config.source.kind}")
    if config.source.kind == "cloud-funnel":
        return EXIT_OK
    try:
        found = resolve_token(config.console.url, config.console.token_file)
    except SecretError as exc:
        click.echo(f"token: MISSING — {exc}")
        return EXIT_CONFIG
    click.echo(f"token: from {found.source}, fingerprint {found.fingerprint}")
    return EXIT_OK
