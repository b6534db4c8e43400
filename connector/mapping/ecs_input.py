"""Shape `ecs`: an event that is already ECS (flat dotted or nested), checked and normalised.

The result follows the same rules as a mapped event: flat dotted keys; `@timestamp` rewritten
as `YYYY-MM-DDTHH:MM:SS.mmmZ`; `event.id` a string; `event.kind` defaults to `"event"`; no
`None`, `""`, `[]` or `{}` values; the list fields (`LIST_FIELDS`) always lists, and
`event.action` a string (Elastic and `workload.py` write it as a one-element list; a longer
list keeps its first element).
"""

from __future__ import annotations

from typing import Any, Final

from connector.ecsutil import flatten
from connector.mapping.skip import Skip
from connector.mapping.values import to_timestamp

__all__ = ["LIST_FIELDS", "from_ecs"]

Event = dict[str, Any]

LIST_FIELDS: Final = frozenset(
    {
        "event.category",
        "event.type",
        "process.args",
        "process.parent.args",
        "registry.data.strings",
        "dns.resolved_ip",
    }
)
"""ECS fields the mapper always writes as lists."""

_SCALAR_FIELDS: Final = ("event.action",)


def from_ecs(record: object) -> Event | Skip:
    """Validate and normalise one ECS event; Skip with the spec's reasons when unusable."""
    if not isinstance(record, dict):
        return Skip("not_an_object")
    # Records are JSON-decoded (plain dicts): one C-level pass over the value types.
    nested = dict in map(type, record.values())
    flat = flatten(record) if nested else record
    # Empty values are dropped. `all` is one C-level pass: when every value is truthy there
    # is none (None, "", [] and {} are falsy), the common case; a falsy one may still be a
    # value to keep (0, false), so then each is checked: JSON values equal to "", [] or {}
    # are exactly the empty string, list, object.
    if all(flat.values()):
        event: Event = flat if nested else dict(flat)
    else:
        event = {
            key: value
            for key, value in flat.items()
            if value is not None and value not in ("", [], {})
        }
    event_id = event.get("event.id")
    if event_id.__class__ is not str:
        if type(event_id) is not int:
            return Skip("missing_event_id")
        event["event.id"] = str(event_id)
    elif not event_id.strip():
        return Skip("missing_event_id")
    timestamp = to_timestamp(event.get("@timestamp", ""))
    if timestamp is None:
        return Skip("bad_timestamp")
    event["@timestamp"] = timestamp
    if "event.kind" not in event:
        event["event.kind"] = "event"
    _normalise_lists(event)
    return event


_LIST_FIELDS: Final = tuple(sorted(LIST_FIELDS))
_ARGS: Final = (
    ("process.args", "process.args_count"),
    ("process.parent.args", "process.parent.args_count"),
)


def _normalise_lists(event: Event) -> None:
    get = event.get
    for field in _LIST_FIELDS:
        value = get(field)
        if value is not None and value.__class__ is not list:
            event[field] = [value]
    for field in _SCALAR_FIELDS:
        value = get(field)
        if value.__class__ is list:
            event[field] = value[0]
    for field, count in _ARGS:
        args = get(field)
        if args is not None and count not in event:
            event[count] = len(args)
