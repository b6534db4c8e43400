"""`s1-connector check`: can this configuration run? Config, rules, token, console, outputs.

Each line says what was checked and the outcome; the exit code is the most actionable
failure (78 config/rules/token, 77 credentials refused, 69 console unreachable, 3 an output
failed the test alert), 0 when everything passed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.cli import AppContext
from connector.errors import (
    EXIT_CONFIG,
    EXIT_PARTIAL,
    ConnectorError,
    SecretError,
    most_actionable,
)
from connector.timeutil import to_datetime

if TYPE_CHECKING:
    from connector.config import Config
    from connector.secrets import ResolvedSecret

__all__ = ["check"]

TOKEN_EXPIRY_WARNING = timedelta(days=14)


@click.command()
@click.option("--send-test", is_flag=True, help="Send a marked test alert through every output.")
@click.pass_obj
def check(app: AppContext, send_test: bool) -> int:
    """Verify config, rules, token, console reach and permissions, and the outputs."""
    config = app.config()
    click.echo(f"config: ok ({app.config_path})")
    codes = [_check_rules(config), _check_source(config), _check_outputs(config, send_test)]
    code = most_actionable([c for c in codes if c])
    click.echo("check: all good" if code == 0 else f"check: problems found (exit {code})")
    return code


def _check_rules(config: Config) -> int:
    from connector.detection.check import check_rule  # noqa: PLC0415 - lazy: start-up time
    from connector.detection.rules import load_rules  # noqa: PLC0415 - lazy: start-up time

    try:
        rules = load_rules(config.rules.builtin, config.rules.paths, config.rules.disabled)
    except ConnectorError as exc:
        click.echo(f"rules: FAILED — {exc}")
        return exc.exit_code
    broken = [c for c in map(check_rule, rules) if not c.ok]
    for failed in broken:
        click.echo(f"rules: FAILED — {failed.error}")
    click.echo(f"rules: {len(rules) - len(broken)}/{len(rules)} compile")
    return EXIT_CONFIG if broken or not rules else 0


def _check_source(config: Config) -> int:
    from connector.secrets import resolve_token  # noqa: PLC0415 - lazy: start-up time

    click.echo(f"source: {config.source.kind}")
    if config.source.kind == "cloud-funnel":
        return _check_cloud_funnel(config)
    if not config.console.url:
        click.echo("console: FAILED — [console] url is not set")
        return EXIT_CONFIG
    try:
        token = resolve_token(config.console.url, config.console.token_file)
    except SecretError as exc:
        click.echo(f"token: MISSING — {exc}")
        return exc.exit_code
    click.echo(f"token: from {token.source}, fingerprint {token.fingerprint}")
    return _check_console(config, token)


def _check_cloud_funnel(config: Config) -> int:
    location = config.cloud_funnel.location
    if location.startswith("s3://"):
        click.echo(f"cloud funnel: {location} (S3; objects are listed at poll time)")
        return 0
    if not Path(location).is_dir():
        click.echo(f"cloud funnel: FAILED — {location} is not a folder")
        return EXIT_CONFIG
    click.echo(f"cloud funnel: folder {location} exists")
    return 0


def _check_console(config: Config, token: ResolvedSecret) -> int:
    """One cheap authenticated call: the token's own details (also gives its expiry)."""
    from connector.sources.base import SourceStats  # noqa: PLC0415 - lazy: start-up time
    from connector.sources.http import HttpClient  # noqa: PLC0415 - lazy: start-up time

    client = HttpClient(config.console, token.value, scheme="ApiToken", stats=SourceStats())
    try:
        body = client.call(
            "POST",
            "/web/api/v2.1/users/api-token-details",
            label="users/api-token-details",
            body={"data": {"apiToken": token.value.get_secret_value()}},
        )
    except ConnectorError as exc:
        click.echo(f"console: FAILED — {exc}")
        return exc.exit_code
    finally:
        client.close()
    click.echo(f"console: reachable at {config.console.url}; token accepted")
    _report_expiry(body)
    return 0


def _report_expiry(body: object) -> None:
    data = body.get("data") if isinstance(body, dict) else None
    expires = to_datetime(data.get("expiresAt")) if isinstance(data, dict) else None
    if expires is None:
        return
    left = expires - datetime.now(UTC)
    warning = "  WARNING: renew it soon" if left < TOKEN_EXPIRY_WARNING else ""
    click.echo(f"token: expires {expires:%Y-%m-%d} ({left.days} days){warning}")


def _check_outputs(config: Config, send_test: bool) -> int:
    from connector.outputs import send_test_alert  # noqa: PLC0415 - lazy: start-up time
    from connector.outputs.base import Outcome  # noqa: PLC0415 - lazy: start-up time

    enabled = [o for o in config.outputs if o.enabled]
    if not enabled:
        click.echo("outputs: none configured (alerts are only logged)")
        return 0
    for output in enabled:
        click.echo(f"output {output.name}: {output.type}")
    if not send_test:
        return 0
    failed = 0
    for name, answer in send_test_alert(enabled, created=datetime.now(UTC)).items():
        status = "delivered" if answer.outcome is Outcome.DELIVERED else answer.outcome.value
        click.echo(
            f"output {name}: test alert {status}{' — ' + answer.reason if answer.reason else ''}"
        )
        failed += answer.outcome is not Outcome.DELIVERED
    return EXIT_PARTIAL if failed else 0
