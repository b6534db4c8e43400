"""Pieces poll, hunt and replay share: rule loading, outputs, delivery, the run summary."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING

from connector.config import Config
from connector.detection.model import Rule
from connector.detection.rules import load_rules
from connector.detection.suppression import suppression_from_config
from connector.detection.tuning import Attachment, Override, Tuning, build_tuning
from connector.errors import (
    EXIT_PARTIAL,
    EXIT_PERM,
    ConnectorError,
)
from connector.logsetup import report_repeats, status_line
from connector.ops import RunSummary, write_textfile

if TYPE_CHECKING:
    from connector.outputs.base import Output
    from connector.sources.base import Source
    from connector.state import StateStore

__all__ = [
    "deliver",
    "finish_run",
    "load_configured_rules",
    "load_tuning",
    "open_outputs",
    "recording_exit",
    "restore_rate_limit",
    "save_rate_limit",
    "shared_rate_limit",
]

log = logging.getLogger(__name__)

# Delivery, the outputs and the state store are imported where they are used: `replay`
# needs none of them (start-up time, `tests/test_startup.py`).


def load_configured_rules(config: Config) -> list[Rule]:
    rules = load_rules(config.rules.builtin, config.rules.paths, config.rules.disabled)
    log.info("%d rule(s) loaded", len(rules))
    return rules


def load_tuning(config: Config, rules: Sequence[Rule]) -> Tuning:
    """The rules' exceptions and suppression from the rule files and `[rules]` config keys."""
    section = config.rules
    tuning = build_tuning(
        rules,
        attachments=[Attachment(a.file, tuple(a.rules)) for a in section.exceptions],
        value_lists={v.id: v.file for v in section.value_lists},
        overrides=[
            Override(
                tuple(o.rules),
                suppression_from_config(o.group_by, o.duration, o.missing_fields_strategy),
            )
            for o in section.suppress
        ],
    )
    if tuning.exceptions or tuning.suppression:
        log.info(
            "tuning: %d rule(s) with exceptions, %d with alert suppression",
            len(tuning.exceptions),
            len(tuning.suppression),
        )
    return tuning


@contextlib.contextmanager
def open_outputs(config: Config) -> Iterator[list[Output]]:
    from connector.outputs import open_output  # noqa: PLC0415 - lazy: start-up time

    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(open_output(o)) for o in config.outputs if o.enabled]


def finish_run(summary: RunSummary, config: Config | None, store: StateStore | None) -> None:
    report_repeats()
    status_line(summary.line(), summary=summary.as_dict())
    if store is not None:
        try:
            store.record_run(summary.command, summary.started, summary.exit_code, summary.as_dict())
        except ConnectorError as exc:
            log.warning("could not record the run summary: %s", exc)
    if config is not None and config.metrics.textfile is not None:
        write_textfile(config.metrics.textfile, summary)


@contextlib.contextmanager
def recording_exit(summary: RunSummary) -> Iterator[None]:
    """Put the exit code an escaping exception will cause into the summary."""
    try:
        yield
    except ConnectorError as exc:
        summary.exit_code = exc.exit_code
        raise
    except KeyboardInterrupt:
        summary.exit_code = 130
        raise
    except BaseException:
        summary.exit_code = 1
        raise


def deliver(
    config: Config,
    store: StateStore,
    outputs: Sequence[Output],
    summary: RunSummary,
    deadline: float,
) -> list[int]:
    """Drain the outbox; return 77 if an output refused our credentials, 3 if rows are left."""
    from connector.delivery import deliver_outbox  # noqa: PLC0415 - lazy: start-up time

    codes: list[int] = []
    backoff = config.poll.delivery_backoff.total_seconds()
    report = deliver_outbox(store, outputs, deadline, backoff)
    summary.delivered.update(report.delivered)
    summary.failed.update(report.failed)
    if report.auth_failed:
        codes.append(EXIT_PERM)
    for name in sorted(report.gone):
        log.error(
            "output %s answered 410 Gone: disabled for this run; its alerts stay queued", name
        )
    # Every row left for a configured output counts, rejected ones and those of an output
    # that answered 410 too: each is an alert not delivered everywhere (exit 3, §5.4).
    names = [o.name for o in outputs]
    summary.outbox_size = store.outbox_size(names)
    if summary.outbox_size:
        codes.append(EXIT_PARTIAL)
    for name, count in sorted(store.orphaned_rows(names).items()):
        log.warning(
            "%d queued alert(s) for output %r, which is no longer configured or enabled; "
            "they are kept: re-enable it, or drop them with `s1-connector state drop-output %s`",
            count, name, name,
        )  # fmt: skip
    return codes


# DV allows one init-query per minute per token, whichever command sends it: `poll` and
# `hunt` keep the time of the last one in the store, so neither walks into a 429.
_RATE_KEY = "dv.last_init_query_at"


def restore_rate_limit(store: StateStore, source: Source) -> None:
    value = store.get(_RATE_KEY)
    if value is not None and hasattr(source, "last_init_query_at"):
        source.last_init_query_at = float(value)


def save_rate_limit(store: StateStore, source: Source) -> None:
    value = getattr(source, "last_init_query_at", None)
    if isinstance(value, int | float) and value > 0:
        with store.transaction():
            store.put(_RATE_KEY, repr(float(value)))


@contextlib.contextmanager
def shared_rate_limit(config: Config, source: Source) -> Iterator[None]:
    """For a command without the run lock (`hunt`): read the DV init-query time `poll`
    stored, and store ours when done. Sources without that limit are left alone; a store
    that cannot be opened costs only the sharing (a warning), not the hunt."""
    if not hasattr(source, "last_init_query_at"):
        yield
        return
    from connector.state import StateStore  # noqa: PLC0415 - lazy: start-up time

    try:
        store = StateStore.open(config.state.path)
    except ConnectorError as exc:
        log.warning("cannot share the DV init-query spacing with poll: %s", exc)
        yield
        return
    try:
        restore_rate_limit(store, source)
        yield
    finally:
        try:
            save_rate_limit(store, source)
        finally:
            store.close()
