"""`s1-connector check`: will `poll` work with this configuration? Nothing is sent by default.

| check    | fails (one line each) when                                              | exit |
|----------|-------------------------------------------------------------------------|------|
| config   | the file is missing or invalid                                          | 78   |
| rules    | a rule does not compile; a `[rules] paths` entry holds no loadable rule | 78   |
| tuning   | an exception-list export or value list is unusable (file:line each)     | 78   |
| state    | the store's file or folder is not writable                              | 78   |
| token    | no API token is found                                                   | 78   |
| console  | unreachable (69) or the token is refused (77)                           |      |
| output   | a secret variable is unset or malformed (78); a syslog TCP/TLS or       |      |
|          | webhook endpoint refuses the connection (69) or its TLS handshake fails |      |
|          | (78); with `--send-test`, the marked test alert is not delivered (3)    |      |

Outputs are probed by connecting (and shaking hands for TLS) only; `--send-test` also sends a
clearly marked test alert through each. The exit code is the most actionable failure, 0 when
everything passed. `--json` prints one JSON document on stdout instead of the lines:
`{"ok": bool, "exit_code": int, "checks": [{"check", "ok", "detail"}...]}`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.cli import AppContext
from connector.errors import (
    EXIT_CONFIG,
    EXIT_PARTIAL,
    ConfigError,
    ConnectorError,
    SecretError,
    most_actionable,
)
from connector.timeutil import to_datetime

if TYPE_CHECKING:
    from connector.config import Config
    from connector.detection.model import Rule
    from connector.secrets import ResolvedSecret

__all__ = ["check"]

TOKEN_EXPIRY_WARNING = timedelta(days=14)


@dataclass(frozen=True)
class Line:
    """One checked thing: `code` is the exit code its failure maps to (0 when ok)."""

    check: str
    ok: bool
    detail: str
    code: int = 0

    def text(self) -> str:
        return (
            f"{self.check}: {self.detail}" if self.ok else f"{self.check}: FAILED — {self.detail}"
        )


@dataclass
class Report:
    lines: list[Line] = field(default_factory=list)

    def ok(self, check: str, detail: str) -> None:
        self.lines.append(Line(check, True, detail))

    def fail(self, check: str, detail: str, code: int) -> int:
        self.lines.append(Line(check, False, detail, code))
        return code

    @property
    def exit_code(self) -> int:
        return most_actionable([line.code for line in self.lines if not line.ok])


@click.command()
@click.option("--send-test", is_flag=True, help="Send a marked test alert through every output.")
@click.option("--json", "as_json", is_flag=True, help="One JSON document on stdout.")
@click.pass_obj
def check(app: AppContext, send_test: bool, as_json: bool) -> int:
    """Verify config, rules, state, token, console, and that every output can be reached."""
    report = Report()
    try:
        config = app.config()
    except ConfigError as exc:
        if not as_json:
            raise  # the usual one error on stderr, every problem listed
        report.fail("config", str(exc), exc.exit_code)
    else:
        report.ok("config", f"ok ({app.config_path})")
        _check_rules(config, report)
        _check_state(config, report)
        _check_source(config, report)
        _check_outputs(config, send_test, report)
    code = report.exit_code
    if as_json:
        doc = {"ok": code == 0, "exit_code": code, "checks": [_json(x) for x in report.lines]}
        click.echo(json.dumps(doc, ensure_ascii=False))
    else:
        for line in report.lines:
            click.echo(line.text())
        click.echo("check: all good" if code == 0 else f"check: problems found (exit {code})")
    return code


def _json(line: Line) -> dict[str, object]:
    doc = asdict(line)
    doc.pop("code")
    return doc


def _check_rules(config: Config, report: Report) -> None:
    from connector.detection.check import check_rule  # noqa: PLC0415 - lazy: start-up time
    from connector.detection.rules import load_rules  # noqa: PLC0415 - lazy: start-up time

    failed = False
    for path in config.rules.paths:  # each path on its own: one line per bad path
        try:
            found = load_rules(False, [path], ())
        except ConnectorError as exc:
            failed = bool(report.fail("rules", str(exc), exc.exit_code))
            continue
        if not found:
            failed = bool(report.fail("rules", f"{path} holds no loadable rule", EXIT_CONFIG))
    if failed:
        return
    try:
        rules = load_rules(config.rules.builtin, config.rules.paths, config.rules.disabled)
    except ConnectorError as exc:
        report.fail("rules", str(exc), exc.exit_code)
        return
    broken = [c for c in map(check_rule, rules) if not c.ok]
    for bad in broken:
        report.fail("rules", str(bad.error), EXIT_CONFIG)
    if not rules:
        report.fail("rules", "no rule is loaded (builtin = false and no paths)", EXIT_CONFIG)
    elif not broken:
        report.ok("rules", f"{len(rules)}/{len(rules)} compile")
    _check_tuning(config, rules, report)


def _check_tuning(config: Config, rules: list[Rule], report: Report) -> None:
    """The exception-list exports and suppression `poll` would load (exit 78 when unusable)."""
    from connector.runner.common import load_tuning  # noqa: PLC0415 - lazy: start-up time

    try:
        tuning = load_tuning(config, rules)
    except ConnectorError as exc:
        report.fail("tuning", str(exc), exc.exit_code)
        return
    detail = (
        f"{len(tuning.lists)} exception list(s), {len(tuning.exceptions)} rule(s) with "
        f"exceptions, {len(tuning.suppression)} with alert suppression"
    )
    warnings = f"; {len(tuning.warnings)} warning(s) (see `rules check`)" if tuning.warnings else ""
    report.ok("tuning", detail + warnings)


def _check_state(config: Config, report: Report) -> None:
    from connector.outputs.probe import writable  # noqa: PLC0415 - lazy: start-up time

    problem = writable(Path(config.state.path))
    if problem:
        report.fail("state", problem, EXIT_CONFIG)
    else:
        report.ok("state", f"{config.state.path} is writable")


def _check_source(config: Config, report: Report) -> None:
    from connector.secrets import resolve_token  # noqa: PLC0415 - lazy: start-up time

    report.ok("source", config.source.kind)
    if config.source.kind == "cloud-funnel":
        _check_cloud_funnel(config, report)
        return
    if not config.console.url:
        report.fail("console", "[console] url is not set", EXIT_CONFIG)
        return
    try:
        token = resolve_token(config.console.url, config.console.token_file)
    except SecretError as exc:
        report.fail("token", str(exc), exc.exit_code)
        return
    report.ok("token", f"from {token.source}, fingerprint {token.fingerprint}")
    _check_console(config, token, report)


def _check_cloud_funnel(config: Config, report: Report) -> None:
    location = config.cloud_funnel.location
    if location.startswith("s3://"):
        report.ok("cloud funnel", f"{location} (S3; objects are listed at poll time)")
    elif not Path(location).is_dir():
        report.fail("cloud funnel", f"{location} is not a folder", EXIT_CONFIG)
    else:
        report.ok("cloud funnel", f"folder {location} exists")


def _check_console(config: Config, token: ResolvedSecret, report: Report) -> None:
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
        report.fail("console", str(exc), exc.exit_code)
        return
    finally:
        client.close()
    report.ok("console", f"reachable at {config.console.url}; token accepted")
    _report_expiry(body, report)


def _report_expiry(body: object, report: Report) -> None:
    data = body.get("data") if isinstance(body, dict) else None
    expires = to_datetime(data.get("expiresAt")) if isinstance(data, dict) else None
    if expires is None:
        return
    left = expires - datetime.now(UTC)
    warning = "  WARNING: renew it soon" if left < TOKEN_EXPIRY_WARNING else ""
    report.ok("token", f"expires {expires:%Y-%m-%d} ({left.days} days){warning}")


def _check_outputs(config: Config, send_test: bool, report: Report) -> None:
    from connector.outputs import send_test_alert  # noqa: PLC0415 - lazy: start-up time
    from connector.outputs.base import Outcome  # noqa: PLC0415 - lazy: start-up time
    from connector.outputs.probe import probe_output  # noqa: PLC0415 - lazy: start-up time

    enabled = [o for o in config.outputs if o.enabled]
    if not enabled:
        report.ok("outputs", "none configured (alerts are only logged)")
        return
    for output in enabled:
        probe = probe_output(output)
        where = f"output {output.name}"
        if probe.ok:
            report.ok(where, probe.detail)
        else:
            report.fail(where, probe.detail, probe.code)
    if not send_test:
        return
    for name, answer in send_test_alert(enabled, created=datetime.now(UTC)).items():
        where = f"output {name}"
        if answer.outcome is Outcome.DELIVERED:
            report.ok(where, "test alert delivered")
        else:
            reason = f" — {answer.reason}" if answer.reason else ""
            report.fail(where, f"test alert {answer.outcome.value}{reason}", EXIT_PARTIAL)
