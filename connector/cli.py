"""The `s1-connector` command line: parse, load the config, call the runner, map errors.

The CLI is thin. Every command returns an exit code; `main()` catches the root
`ConnectorError` once and turns it into that error's exit code with a one-line message on
stderr. Only an unexpected exception (a bug, exit 1) prints a traceback, with a hint to run
with `--log-level debug`.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector import __version__
from connector.errors import EXIT_BUG, EXIT_OK, EXIT_USAGE, ConfigError, ConnectorError
from connector.logsetup import redact, setup_logging

if TYPE_CHECKING:
    from connector.config import Config

__all__ = ["AppContext", "cli", "main"]

log = logging.getLogger("connector")
DEFAULT_CONFIG = "s1-connector.toml"


@dataclass
class AppContext:
    """What every command gets: where the config is and how to load it."""

    config_path: Path
    config_explicit: bool

    def config(self, required: bool = True) -> Config:
        """Load the config; without a file, the defaults when `required` is False."""
        # pydantic is imported only by commands that read the config (start-up time).
        from connector.config import default_config, load_config  # noqa: PLC0415

        if not self.config_path.exists() and not (required or self.config_explicit):
            log.debug("no config file at %s; using defaults", self.config_path)
            return default_config()
        if not self.config_path.exists():
            raise ConfigError(
                f"config file not found: {self.config_path} "
                f"(use --config PATH or $S1_CONNECTOR_CONFIG; see config.example.toml)"
            )
        return load_config(self.config_path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Config file (default: $S1_CONNECTOR_CONFIG, else ./s1-connector.toml).",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.version_option(__version__, prog_name="s1-connector")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, log_level: str, log_format: str) -> None:
    """Run Elastic EQL detections over SentinelOne telemetry and deliver the alerts.

    Logs and progress go to stderr; alerts (data) go to stdout as JSON Lines.
    """
    setup_logging(log_level, log_format)
    explicit = config_path is not None or bool(os.environ.get("S1_CONNECTOR_CONFIG"))
    path = config_path or Path(os.environ.get("S1_CONNECTOR_CONFIG") or DEFAULT_CONFIG)
    ctx.obj = AppContext(config_path=path, config_explicit=explicit)


def _register_commands() -> None:
    # Imported here so that each command module may import `cli` helpers without cycles.
    from connector.commands import register  # noqa: PLC0415

    register(cli)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with the mapped code."""
    sys.exit(run(argv))


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code instead of exiting (for tests and `main`)."""
    try:
        result = cli.main(args=argv, prog_name="s1-connector", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.Abort:
        click.echo("s1-connector: interrupted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("s1-connector: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code if exc.exit_code else EXIT_USAGE
    except ConnectorError as exc:
        click.echo(f"s1-connector: error: {redact(str(exc))}", err=True)
        log.debug("error detail", exc_info=True)
        return exc.exit_code
    except Exception:  # a bug: show where, say how to learn more
        click.echo(redact(traceback.format_exc()), err=True)
        click.echo(
            "s1-connector: internal error (a bug). Run again with --log-level debug and report it.",
            err=True,
        )
        return EXIT_BUG
    return result if isinstance(result, int) else EXIT_OK


_register_commands()
