"""`rules list | check | pushdown`: what is loaded, is it usable, what is sent to the console."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from connector.cli import AppContext
from connector.errors import EXIT_CONFIG, EXIT_OK, ConnectorError
from connector.logsetup import status_line

if TYPE_CHECKING:
    from connector.detection.check import RuleCheck

__all__ = ["rules"]


@click.group()
def rules() -> None:
    """List, validate, or show the console query of the rules."""


@rules.command("list")
@click.pass_obj
def rules_list(app: AppContext) -> int:
    """One line per loaded rule: id, severity, risk, name, file."""
    from connector.detection.rules import load_rules  # noqa: PLC0415 - lazy: start-up time

    config = app.config(required=False)
    loaded = load_rules(config.rules.builtin, config.rules.paths, config.rules.disabled)
    for rule in loaded:
        click.echo(
            f"{rule.rule_id}  {rule.severity:<8} {rule.risk_score:>3}  {rule.name}  ({rule.source})"
        )
    status_line(f"{len(loaded)} rule(s)")
    return EXIT_OK


@rules.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--explain", is_flag=True, help="Show each rule's EQL (Sigma: as converted) and why.")
@click.pass_obj
def rules_check(app: AppContext, paths: tuple[Path, ...], explain: bool) -> int:
    """Parse and compile rule files (default: the configured rules); 78 if any fails.

    TOML and Sigma (`*.yml`/`*.yaml`) files; a Sigma rule SentinelOne data cannot serve is
    skipped with its reason. Last line: `N rules: N ok, N errors, N with warnings, N skipped`."""
    from connector.detection.rules import IGNORED_KEYS  # noqa: PLC0415 - lazy: start-up time
    from connector.mapping.catalog import mapped_fields  # noqa: PLC0415 - lazy: start-up time

    checks = _checks(app, paths)
    known = mapped_fields()
    errors = warned = skipped = 0
    ignored: dict[str, int] = {}
    for check in checks:
        unmapped = sorted(check.fields - known)
        errors += not check.ok
        skipped += bool(check.ok and check.skipped)
        warned += bool(check.ok and not check.skipped and unmapped)
        _report(check, unmapped)
        if explain:
            _explain(check)
        for note in check.rule.notes if check.rule else ():
            key = note.split("`")[1]
            ignored[key] = ignored.get(key, 0) + 1
    for key, count in ignored.items():
        click.echo(f"note   {count} rule(s) set `{key}`, which is ignored: {IGNORED_KEYS[key]}")
    ok = len(checks) - errors - skipped
    bad_exceptions = _check_exception_files(app, paths)
    click.echo(
        f"{len(checks)} rules: {ok} ok, {errors} errors, {warned} with warnings, {skipped} skipped"
    )
    return EXIT_CONFIG if errors or bad_exceptions else EXIT_OK


def _check_exception_files(app: AppContext, paths: tuple[Path, ...]) -> int:
    """Validate Kibana exception-list exports: the `.ndjson` PATHs given, else the configured
    `[[rules.exceptions]]` files. Prints one line per problem (file:line); returns how many
    files have problems."""
    from connector.detection.exception_files import parse_exception_file  # noqa: PLC0415 - lazy

    config = app.config(required=False)
    value_lists = {v.id: v.file for v in config.rules.value_lists}
    if paths:
        files = [p for p in paths if p.suffix == ".ndjson"]
    else:
        files = list(dict.fromkeys(a.file for a in config.rules.exceptions))
    bad = 0
    for file in files:
        parsed = parse_exception_file(file, value_lists)
        bad += bool(parsed.problems)
        for problem in parsed.problems:
            click.echo(f"ERROR  {problem}")
        if not parsed.problems:
            items = sum(len(x.items) for x in parsed.lists)
            click.echo(f"ok     {file}: {len(parsed.lists)} exception list(s), {items} item(s)")
    if not paths and not bad:
        for warning in _tuning_warnings(app):
            click.echo(f"warn   {warning}")
    if files:
        click.echo(f"{len(files)} exception files: {len(files) - bad} ok, {bad} errors")
    return bad


def _tuning_warnings(app: AppContext) -> list[str]:
    """Exception-list references no loaded list satisfies, attachments or overrides naming
    rules that are not loaded (the rule set must load; its errors are reported above)."""
    from connector.detection.rules import load_rules  # noqa: PLC0415 - lazy: start-up time
    from connector.runner.common import load_tuning  # noqa: PLC0415 - lazy: start-up time

    config = app.config(required=False)
    try:
        rules = load_rules(config.rules.builtin, config.rules.paths, config.rules.disabled)
        return load_tuning(config, rules).warnings
    except ConnectorError:
        return []


def _checks(app: AppContext, paths: tuple[Path, ...]) -> list[RuleCheck]:
    from connector.detection.check import check_path  # noqa: PLC0415 - lazy: start-up time
    from connector.detection.rules import rule_files  # noqa: PLC0415 - lazy: start-up time

    if not paths:
        config = app.config(required=False)
        files = rule_files(config.rules.builtin, config.rules.paths)
        disabled = set(config.rules.disabled)
        return [
            check
            for file in files
            for check in check_path(file)
            if check.rule is None
            or (check.rule.rule_id not in disabled and check.rule.name not in disabled)
        ]
    # `.ndjson` PATHs are exception-list exports, checked by _check_exception_files.
    rule_paths = [path for path in paths if path.suffix != ".ndjson"]
    given = [file for path in rule_paths for file in rule_files(False, [path])]
    return [check for file in given for check in check_path(file)]


def _explain(check: RuleCheck) -> None:
    if check.rule is None:
        return
    if check.rule.query:
        click.echo("       " + check.rule.query.strip().replace("\n", "\n       "))
    for note in check.rule.notes:
        click.echo(f"       note: {note}")


def _report(check: RuleCheck, unmapped: list[str]) -> None:
    name = check.rule.name if check.rule else "?"
    if check.error is not None:
        click.echo(f"ERROR  {check.source}: {check.error}")
    elif check.skipped:
        click.echo(f"skip   {check.source}: {name}: {check.skipped}")
    elif unmapped:
        click.echo(
            f"warn   {check.source}: {name}: fields the mapping never produces: "
            f"{', '.join(unmapped)}"
        )
    else:
        click.echo(f"ok     {check.source}: {name}")


@rules.command("pushdown")
@click.pass_obj
def rules_pushdown(app: AppContext) -> int:
    """Print the S1QL (Deep Visibility) and SDL filter the loaded rules produce."""
    from connector.detection.rules import load_rules  # noqa: PLC0415 - lazy: start-up time
    from connector.sources.pushdown import build_pushdown  # noqa: PLC0415 - lazy: start-up time

    config = app.config(required=False)
    pushdown = build_pushdown(
        load_rules(config.rules.builtin, config.rules.paths, config.rules.disabled),
        max_s1ql=config.console.max_s1ql_length,
        max_sdl=config.console.max_sdl_filter_length,
    )
    click.echo(f"S1QL (Deep Visibility):\n{pushdown.s1ql}\n")
    click.echo(f"SDL LOG filter:\n{pushdown.sdl_filter}")
    levels = pushdown.levels
    click.echo(
        f"\nsize: S1QL {len(pushdown.s1ql):,} characters ({levels.get('s1ql', 'exact')}, "
        f"limit {config.console.max_s1ql_length:,}), SDL filter {len(pushdown.sdl_filter):,} "
        f"characters ({levels.get('sdl', 'exact')}, limit {config.console.max_sdl_filter_length:,})"
    )
    for widened in pushdown.widened:
        click.echo(f"widened: {widened}")
    for note in pushdown.notes:
        status_line(f"note: {note}")
    return EXIT_OK
