"""Alert suppression: one alert per group of matches per duration, as Kibana does it.

A rule's `[rule.alert_suppression]` (or a `[[rules.suppress]]` override) names up to a few
`group_by` fields. Alerts of the rule whose values of those fields are equal form a group;
the first alert of a group opens a window of `duration` (event time, from that alert's
`@timestamp`); later alerts inside the window are *suppressed*: they are counted in the group's
alert, which carries Kibana's fields:

| field (under `kibana.alert.`) | value                                                    |
|-------------------------------|----------------------------------------------------------|
| `suppression.terms`           | `[{"field": f, "value": [sorted values] or null}]`       |
| `suppression.start` / `.end`  | earliest / latest time of the group's alerts             |
| `suppression.docs_count`      | matches folded into this alert (its own one not counted) |
| `instance.id`                 | the group's id (rule id + terms, hashed)                 |

So every match of a suppressed rule is either an alert or counted in one: the alerts plus the
sum of their `docs_count` equal the matches. Without a duration, a group lasts one run (Kibana's
"per rule execution"). A sequence's value of a field is the one all its events share (Kibana
builds a sequence alert from the fields common to its events); a field the events disagree on
or lack is *missing*: `missing_fields_strategy = "suppress"` groups such matches together (value
null), `"doNotSuppress"` makes each its own, unsuppressed alert.

`Suppressor(live=True)` (poll) hands out a group's first alert at once and reports groups whose
count changed (`take_updates`), to be delivered again under the same alert id;
`Suppressor(live=False)` (hunt, replay) hands out each group once, when its window closes or at
`flush()`, with its final count.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from connector.detection.model import Suppression
from connector.errors import RuleError, StateError
from connector.timeutil import EPOCH, format_utc, to_datetime, to_epoch_ms

__all__ = ["STRATEGIES", "Group", "Suppressor", "parse_suppression", "suppression_terms"]

STRATEGIES = ("suppress", "doNotSuppress")
_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000}
STATE_VERSION = 1

Alert = dict[str, Any]


def parse_suppression(value: Any, source: str) -> Suppression | None:
    """`[rule.alert_suppression]` of a detection-rules TOML (None when absent)."""
    if value is None:
        return None
    where = "[rule.alert_suppression]"
    if not isinstance(value, dict):
        raise RuleError(f"{where} must be a table", source=source)
    unknown = sorted(set(value) - {"group_by", "duration", "missing_fields_strategy"})
    if unknown:
        raise RuleError(f"{where}: unknown key(s) {', '.join(unknown)}", source=source)
    group_by = value.get("group_by")
    names = group_by if isinstance(group_by, list) else []
    if not names or not all(isinstance(f, str) and f for f in names):
        raise RuleError(f"{where}: group_by must be a non-empty list of field names", source=source)
    strategy = value.get("missing_fields_strategy", "suppress")
    if strategy not in STRATEGIES:
        message = f"{where}: missing_fields_strategy must be one of {', '.join(STRATEGIES)}"
        raise RuleError(message, source=source)
    return Suppression(tuple(names), _duration(value.get("duration"), where, source), strategy)


def _duration(value: Any, where: str, source: str) -> int | None:
    if value is None:
        return None
    if (
        isinstance(value, dict)
        and set(value) == {"value", "unit"}
        and isinstance(value["value"], int)
        and not isinstance(value["value"], bool)
        and value["value"] > 0
        and value["unit"] in _UNIT_MS
    ):
        return int(value["value"]) * _UNIT_MS[value["unit"]]
    raise RuleError(
        f'{where}: duration must be {{value = N, unit = "s"|"m"|"h"}} with N > 0, got {value!r}',
        source=source,
    )


def suppression_from_config(
    group_by: Sequence[str], duration: timedelta | None, strategy: str
) -> Suppression:
    """A `[[rules.suppress]]` override as a `Suppression`."""
    ms = None if duration is None else int(duration / timedelta(milliseconds=1))
    return Suppression(tuple(group_by), ms, strategy)


# -- group values ---------------------------------------------------------------------------


def _nested_values(doc: Mapping[str, Any], field: str) -> list[Any] | None:
    """The values of a dotted field in a nested document (None when absent or null)."""
    node: Any = doc
    for part in field.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    if node is None:
        return None
    values = node if isinstance(node, list) else [node]
    kept = [v for v in values if v is not None and not isinstance(v, dict | list)]
    return sorted(set(kept), key=lambda v: (str(type(v)), v)) or None


def suppression_terms(alert: Mapping[str, Any], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Kibana's `terms` for an alert: per field, the sorted values its matched events share
    (all of them, for a sequence), or None."""
    events = alert.get("sequence", {}).get("events") or []
    terms: list[dict[str, Any]] = []
    for name in group_by:
        per_event = [_nested_values(e, name) for e in events]
        shared = per_event[0] if per_event and all(v == per_event[0] for v in per_event) else None
        terms.append({"field": name, "value": shared})
    return terms


def _alert_ms(alert: Mapping[str, Any]) -> int:
    moment = to_datetime(alert.get("@timestamp"))
    return to_epoch_ms(moment) if moment is not None else 0


def _iso(ms: int) -> str:
    return format_utc(EPOCH + timedelta(milliseconds=ms))


# -- groups ---------------------------------------------------------------------------------


@dataclass
class Group:
    """One open suppression window of one rule: its alert and what was folded into it."""

    rule_id: str
    key: str
    terms: list[dict[str, Any]]
    alert: Alert
    opened_ms: int
    closes_ms: int | None
    start_ms: int
    end_ms: int
    docs_count: int = 0
    dirty: bool = False

    @property
    def alert_id(self) -> str:
        return str(self.alert["event"]["id"])

    def covers(self, at_ms: int) -> bool:
        return self.closes_ms is None or at_ms < self.closes_ms

    def add(self, at_ms: int) -> None:
        self.docs_count += 1
        self.start_ms = min(self.start_ms, at_ms)
        self.end_ms = max(self.end_ms, at_ms)
        self.dirty = True

    def document(self) -> Alert:
        """The group's alert with its current suppression fields."""
        doc = dict(self.alert)
        doc["kibana"] = {
            "alert": {
                "instance": {"id": self.key},
                "suppression": {
                    "terms": copy.deepcopy(self.terms),
                    "start": _iso(self.start_ms),
                    "end": _iso(self.end_ms),
                    "docs_count": self.docs_count,
                },
            }
        }
        return doc

    def dump(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id, "key": self.key, "terms": self.terms, "alert": self.alert,
            "opened_ms": self.opened_ms, "closes_ms": self.closes_ms, "start_ms": self.start_ms,
            "end_ms": self.end_ms, "docs_count": self.docs_count,
        }  # fmt: skip

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> Group:
        return cls(
            rule_id=str(data["rule_id"]), key=str(data["key"]), terms=list(data["terms"]),
            alert=dict(data["alert"]), opened_ms=int(data["opened_ms"]),
            closes_ms=None if data["closes_ms"] is None else int(data["closes_ms"]),
            start_ms=int(data["start_ms"]), end_ms=int(data["end_ms"]),
            docs_count=int(data["docs_count"]),
        )  # fmt: skip


def _group_key(rule_id: str, terms: list[dict[str, Any]]) -> str:
    canonical = json.dumps([rule_id, terms], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class Suppressor:
    """Folds alerts of rules with suppression into per-group alerts (see the module doc).

    `specs` maps rule ids to their suppression; alerts of other rules pass through unchanged.
    `suppressed` counts, per rule, the matches folded into an existing alert."""

    def __init__(self, specs: Mapping[str, Suppression], *, live: bool) -> None:
        self.specs = {rule_id: s for rule_id, s in specs.items() if s.group_by}
        self.live = live
        self.groups: dict[tuple[str, str], Group] = {}
        self.suppressed: Counter[str] = Counter()
        self._replaced: list[Group] = []

    def offer(self, alert: Alert) -> list[Alert]:
        """Take one alert; return the alerts to hand out now (possibly none)."""
        rule_id = str(alert["rule"]["id"])
        spec = self.specs.get(rule_id)
        if spec is None:
            return [alert]
        terms = suppression_terms(alert, spec.group_by)
        if spec.missing_fields == "doNotSuppress" and any(t["value"] is None for t in terms):
            return [alert]
        at_ms = _alert_ms(alert)
        slot = (rule_id, _group_key(rule_id, terms))
        group = self.groups.get(slot)
        if group is not None and group.covers(at_ms):
            group.add(at_ms)
            self.suppressed[rule_id] += 1
            return []
        out = [] if group is None or self.live else [group.document()]
        if group is not None and self.live and group.dirty:
            self._replaced.append(group)  # its last count still has to go out
        closes = None if spec.duration_ms is None else at_ms + spec.duration_ms
        group = Group(rule_id, slot[1], terms, alert, at_ms, closes, at_ms, at_ms)
        self.groups[slot] = group
        return [*out, group.document()] if self.live else out

    def take_updates(self) -> list[Alert]:
        """(live) The current documents of groups that counted new matches since last asked."""
        updated = [*self._replaced, *(g for g in self.groups.values() if g.dirty)]
        self._replaced = []
        for group in updated:
            group.dirty = False
        return [g.document() for g in updated]

    def expire(self, now_ms: int) -> None:
        """(live) Forget groups whose window closed before `now_ms`."""
        self.groups = {
            slot: g
            for slot, g in self.groups.items()
            if g.closes_ms is None or g.closes_ms > now_ms
        }

    def flush(self) -> list[Alert]:
        """Every open group's document (oldest first); the groups are closed."""
        groups = sorted(self.groups.values(), key=lambda g: (g.opened_ms, g.alert_id))
        self.groups = {}
        return [g.document() for g in groups]

    # -- persistence (poll) -----------------------------------------------------------------

    def dump(self) -> dict[str, Any]:
        """The open groups as JSON-ready data (versioned)."""
        return {"version": STATE_VERSION, "groups": [g.dump() for g in self.groups.values()]}

    def load(self, state: Mapping[str, Any]) -> None:
        """Restore `dump()` output. Groups without a duration lasted one run and are dropped,
        as are groups of rules that lost their suppression. Raises StateError when the state
        is malformed or from a newer version."""
        version = state.get("version")
        if not isinstance(version, int) or not 1 <= version <= STATE_VERSION:
            raise StateError(
                f"suppression state version {version!r} is not supported (this build reads up "
                f"to {STATE_VERSION}); reset the state with `s1-connector state reset`"
            )
        try:
            groups = [Group.load(data) for data in state.get("groups", [])]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise StateError(f"suppression state is malformed: {exc!r}") from exc
        for group in groups:
            if group.closes_ms is not None and group.rule_id in self.specs:
                self.groups[(group.rule_id, group.key)] = group
