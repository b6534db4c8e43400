"""Tuning without editing rules: which exception items and which suppression apply per rule.

Exceptions come from Kibana exception-list exports attached in the config
(`[[rules.exceptions]] file, rules = [ids] | ["*"]`) and from a rule's own
`[[rule.exceptions_list]]` references, resolved by `list_id` (and `namespace_type`) against
the loaded lists. Suppression comes from the rule's `[rule.alert_suppression]`, replaced by a
`[[rules.suppress]]` override naming the rule (the last override wins; an empty `group_by`
turns suppression off).

A reference to a list that is not loaded, or an attachment naming a rule that is not loaded,
is a warning (`Tuning.warnings`), logged and shown by `rules check`: the rule then runs
without those exceptions, which can only add alerts, never lose one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from connector.detection.exception_files import load_exception_file
from connector.detection.exceptions import ExceptionItem, ExceptionList, RuleExceptions
from connector.detection.model import Rule, Suppression
from connector.errors import ConfigError

__all__ = ["Attachment", "Override", "Tuning", "build_tuning"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    """`[[rules.exceptions]]`: an export file and the rule ids it applies to (`*` = all)."""

    file: Path
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Override:
    """`[[rules.suppress]]`: suppression for rules one does not own."""

    rules: tuple[str, ...]
    suppression: Suppression


@dataclass
class Tuning:
    """Per rule id: the exception items and the suppression that apply."""

    exceptions: dict[str, RuleExceptions] = field(default_factory=dict)
    suppression: dict[str, Suppression] = field(default_factory=dict)
    lists: list[ExceptionList] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def fields(self) -> set[str]:
        """Every event field some exception item reads (replay maps only what is read)."""
        out: set[str] = set()
        for exceptions in self.exceptions.values():
            out |= exceptions.fields()
        return out


def build_tuning(
    rules: Sequence[Rule],
    attachments: Sequence[Attachment] = (),
    value_lists: Mapping[str, Path] | None = None,
    overrides: Sequence[Override] = (),
    now: datetime | None = None,
) -> Tuning:
    """Load the attached exports and resolve every rule's exceptions and suppression.

    Raises ConfigError when an export is invalid (every problem, file:line each) or a list id
    is loaded twice."""
    tuning = Tuning()
    moment = now or datetime.now(UTC)
    loaded: dict[str, tuple[ExceptionList, Path]] = {}
    attached: dict[str, list[ExceptionList]] = {r.rule_id: [] for r in rules}
    for attachment in attachments:
        for exception_list in load_exception_file(attachment.file, value_lists or {}, moment):
            _register(loaded, exception_list, attachment.file)
            tuning.lists.append(exception_list)
            _attach(tuning, attached, exception_list, attachment)
    for rule in rules:
        _resolve_refs(tuning, attached[rule.rule_id], rule, loaded)
        items = _unique_items(attached[rule.rule_id])
        if items:
            tuning.exceptions[rule.rule_id] = RuleExceptions(items)
        if rule.alert_suppression is not None:
            tuning.suppression[rule.rule_id] = rule.alert_suppression
    _apply_overrides(tuning, rules, overrides)
    for warning in tuning.warnings:
        log.warning("%s", warning)
    return tuning


def _register(
    loaded: dict[str, tuple[ExceptionList, Path]], exception_list: ExceptionList, file: Path
) -> None:
    previous = loaded.get(exception_list.list_id)
    if previous is not None and previous[1] != file:
        raise ConfigError(
            f"exception list {exception_list.list_id!r} is loaded twice: from {previous[1]} "
            f"and from {file}"
        )
    loaded[exception_list.list_id] = (exception_list, file)


def _attach(
    tuning: Tuning,
    attached: dict[str, list[ExceptionList]],
    exception_list: ExceptionList,
    attachment: Attachment,
) -> None:
    targets = list(attached) if "*" in attachment.rules else list(attachment.rules)
    for rule_id in targets:
        if rule_id not in attached:
            tuning.warnings.append(
                f"{attachment.file}: exceptions attached to rule {rule_id!r}, which is not "
                f"loaded (unknown or disabled)"
            )
            continue
        attached[rule_id].append(exception_list)


def _resolve_refs(
    tuning: Tuning,
    lists: list[ExceptionList],
    rule: Rule,
    loaded: Mapping[str, tuple[ExceptionList, Path]],
) -> None:
    for ref in rule.exceptions_list:
        found = loaded.get(ref.list_id)
        if found is None or found[0].namespace_type != ref.namespace_type:
            tuning.warnings.append(
                f"{rule.source or rule.rule_id}: [[rule.exceptions_list]] {ref.list_id!r} "
                f"({ref.namespace_type}) is not loaded; add its export with [[rules.exceptions]] "
                f"(the rule runs without it)"
            )
            continue
        lists.append(found[0])


def _unique_items(lists: Sequence[ExceptionList]) -> tuple[ExceptionItem, ...]:
    seen: dict[tuple[str, str], ExceptionItem] = {}
    for exception_list in lists:
        for item in exception_list.items:
            seen.setdefault((item.list_id, item.item_id), item)
    return tuple(seen.values())


def _apply_overrides(tuning: Tuning, rules: Sequence[Rule], overrides: Sequence[Override]) -> None:
    known = {r.rule_id for r in rules}
    for override in overrides:
        targets = sorted(known) if "*" in override.rules else override.rules
        for rule_id in targets:
            if rule_id not in known:
                tuning.warnings.append(
                    f"[[rules.suppress]] names rule {rule_id!r}, which is not loaded"
                )
            elif override.suppression.group_by:
                tuning.suppression[rule_id] = override.suppression
            else:
                tuning.suppression.pop(rule_id, None)
