"""The `s1-connector` command line: parse, load the config, call the runner, map errors.

The CLI is thin. Every command returns an exit code; `main()` catches the root
`ConnectorError` once and turns it into that error's exit code with a one-line message on
stderr (a JSON object with `--log-format json`). Only an unexpected exception (a bug, exit 1)
prints a traceback, with a hint to run with `--log-level debug`.

Global options (`--config`, `--log-level`, `--log-format`) may also follow the command
(`s1-connector poll --config X`): `hoist_global_options` moves them in front before click
parses, up to a `--`.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector import __version__
from connector.commands import LazyGroup
from connector.errors import EXIT_BUG, EXIT_OK, EXIT_USAGE, ConfigError, ConnectorError
from connector.logsetup import redact, setup_logging, status_line

if TYPE_CHECKING:
    from connector.config import Config

__all__ = ["AppContext", "cli", "hoist_global_options", "main"]

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
                "(use --config PATH or $S1_CONNECTOR_CONFIG; "
                "`s1-connector init` writes a commented example)"
            )
        return load_config(self.config_path)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point: run the CLI and exit with the mapped code."""
    # pydantic looks for plugins (observability hooks) by scanning the entry points of every
    # installed distribution when the first model is built, ~50 ms of each start; the
    # config models have no use for them. Set PYDANTIC_DISABLE_PLUGINS= to keep them.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    code = run(argv)
    # The process ends: what is left (the loaded rules, ~millions of objects with 1,599 rules)
    # goes to the collector's permanent generation, so the full collections of interpreter
    # shutdown skip it (~0.6 s CPU of a 2 s Elastic + Sigma replay start-up). Objects left
    # in reference cycles are then not finalized at exit, which Python does not promise
    # anyway; files are closed by the runners and the standard streams flushed by Python.
    gc.freeze()
    sys.exit(code)


_GLOBAL_OPTIONS = ("--config", "--log-level", "--log-format")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options found after the command in front of it (`--` stops the search).

    `["poll", "--config", "x.toml"]` → `["--config", "x.toml", "poll"]`; the `--opt=value`
    form too. Everything else keeps its order.
    """
    hoisted: list[str] = []
    rest: list[str] = []
    index, seen_command = 0, False
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        name = arg.split("=", 1)[0]
        if name in _GLOBAL_OPTIONS:
            takes_next = "=" not in arg and index + 1 < len(args)
            pair = args[index : index + (2 if takes_next else 1)]
            (hoisted if seen_command else rest).extend(pair)
            index += len(pair)
            continue
        seen_command = seen_command or not arg.startswith("-")
        rest.append(arg)
        index += 1
    return hoisted + rest


def _json_logs(args: list[str]) -> bool:
    """Whether these arguments ask for JSON logs (known before click has parsed them)."""
    for index, arg in enumerate(args):
        if arg == "--log-format=json" or (
            arg == "--log-format" and args[index + 1 : index + 2] == ["json"]
        ):
            return True
    return False


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return the exit code instead of exiting (for tests and `main`)."""
    args = hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    if _json_logs(args):
        setup_logging("info", "json")  # usage errors are reported as JSON too
    try:
        result = cli.main(args=args, prog_name="s1-connector", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except (click.Abort, KeyboardInterrupt):
        status_line("s1-connector: interrupted", level="error", exit_code=130)
        return 130
    except click.ClickException as exc:
        code = exc.exit_code if exc.exit_code else EXIT_USAGE
        if _json_logs(args):
            status_line(f"s1-connector: {exc.format_message()}", level="error", exit_code=code)
        else:
            exc.show()
        return code
    except ConnectorError as exc:
        status_line(f"s1-connector: error: {exc}", level="error", exit_code=exc.exit_code)
        log.debug("error detail", exc_info=True)
        return exc.exit_code
    except Exception:  # a bug: show where, say how to learn more
        trace = redact(traceback.format_exc())
        if not _json_logs(args):
            click.echo(trace, err=True)
        status_line(
            "s1-connector: internal error (a bug). Run again with --log-level debug and report it.",
            level="error",
            exit_code=EXIT_BUG,
            traceback=trace,
        )
        return EXIT_BUG
    return result if isinstance(result, int) else EXIT_OK
