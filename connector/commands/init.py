"""`s1-connector init`: write the commented example configuration to start from."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import click

from connector.cli import AppContext
from connector.errors import EXIT_OK, ConfigError
from connector.logsetup import status_line

__all__ = ["example_config", "init"]


def example_config() -> str:
    """The example configuration shipped inside the package (every key, with its default)."""
    return resources.files("connector").joinpath("config.example.toml").read_text("utf-8")


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_obj
def init(app: AppContext, path: Path | None, force: bool) -> int:
    """Write a commented config (default: the --config path) to edit and run with."""
    target = path or app.config_path
    if target.exists() and not force:
        raise ConfigError(f"{target} already exists; use --force to overwrite it")
    try:
        # O_EXCL unless forced: never replace a file that appeared meanwhile.
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if force else os.O_EXCL)
        with os.fdopen(os.open(target, flags, 0o644), "w", encoding="utf-8") as handle:
            handle.write(example_config())
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror or exc}") from exc
    status_line(
        f"wrote {target}: set [console] url and add [[outputs]], provide the API token "
        "($S1_API_TOKEN, token_file or `s1-connector auth set`), then run `s1-connector check`"
    )
    return EXIT_OK
