"""The values detection hands downstream: a loaded rule and a match of it.

These are plain data so that alerts, outputs and the runner depend on them without
depending on the parser or the matcher.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event", "ExceptionRef", "Match", "Rule", "Suppression"]

Event = dict[str, Any]
"""A flat ECS event: dotted keys (`"process.name"`), lists for multi-valued fields."""


@dataclass(frozen=True)
class ExceptionRef:
    """A rule's `[[rule.exceptions_list]]` entry: which Kibana exception list applies.

    Resolved against the loaded exception lists by `list_id` (and `namespace_type`)."""

    list_id: str
    namespace_type: str = "single"
    type: str = "detection"


@dataclass(frozen=True)
class Suppression:
    """Alert suppression (`[rule.alert_suppression]`, Kibana's semantics).

    `duration_ms` None means "per run" (Kibana's per rule execution); `missing_fields` is
    `"suppress"` (events lacking a group_by field form one group) or `"doNotSuppress"`
    (each such match is its own alert)."""

    group_by: tuple[str, ...]
    duration_ms: int | None = None
    missing_fields: str = "suppress"


@dataclass(frozen=True)
class Rule:
    """One detection rule as read from an Elastic detection-rules TOML file.

    `threat` is the TOML's `[[rule.threat]]` list as-is (ECS `threat.*` shape: framework,
    tactic {id, name, reference}, technique [{id, name, reference, subtechnique}]).
    `source` names the file it came from (for messages); `version` is a string ("1" if absent).
    `query_line_offset` is the number of file lines before the query text (0 when unknown).
    """

    rule_id: str
    name: str
    query: str
    severity: str = "low"
    risk_score: int = 21
    version: str = "1"
    description: str = ""
    threat: tuple[dict[str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    source: str = ""
    language: str = "eql"
    query_line_offset: int = 0
    """Lines before the query's first line in `source` (so errors point into the file)."""
    author: str = ""
    """Who wrote the rule (Sigma `author`; DRL 1.1 requires naming them in every alert)."""
    license: str = ""
    """The rule's licence (`DRL-1.1` for SigmaHQ rules), empty when unknown."""
    reference: str = ""
    """A link to the rule's own source, where known (alerts show it as `rule.reference`)."""
    notes: tuple[str, ...] = ()
    """Rule-file keys read but not honoured, each with why (`rules check` shows them)."""
    exceptions_list: tuple[ExceptionRef, ...] = ()
    alert_suppression: Suppression | None = None


@dataclass(frozen=True)
class Match:
    """A rule matched: the events in match order, and the join key values (empty for a
    single-event rule). Events are the flat ECS dicts exactly as the engine saw them."""

    rule: Rule
    events: tuple[Event, ...]
    join_key: tuple[Any, ...] = field(default=())
