"""Making an alert fit a size limit without cutting structure (outputs-and-operations §1.4).

Structured payloads are never cut at a byte offset: the alert is degraded and rendered again.
Outputs walk `STEPS` in order until their render fits:

| step                      | the alert given to the renderer                                |
|---------------------------|----------------------------------------------------------------|
| (none)                    | the full alert                                                 |
| `Step(n)`, n = 8192 … 32  | `sequence.events` cut to `@timestamp` + `event.id`; every      |
|                           | string cut to n characters (ending `…`)                        |
| `Step(n, essential=True)` | only the `ESSENTIAL` fields (who, what, where, ids); strings   |
|                           | cut to n = 256 … 16                                            |

Strings are cut before any escaping, so an escape sequence is never split. File outputs keep
the full alert; syslog and webhooks degrade.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connector.ecsutil import flatten, nest
from connector.outputs.formats import shorten

__all__ = [
    "ESSENTIAL",
    "STEPS",
    "Step",
    "degrade",
    "essential",
    "json_bytes",
    "reduce_events",
    "shorten_strings",
    "utf8",
]

ESSENTIAL = frozenset(
    {
        "@timestamp",
        "message",
        "tags",
        "event.kind",
        "event.id",
        "event.created",
        "event.risk_score",
        "rule.id",
        "rule.name",
        "rule.severity",
        "host.name",
        "host.id",
        "user.name",
        "user.domain",
        "process.name",
        "process.pid",
        "process.command_line",
        "process.parent.name",
        "destination.ip",
        "destination.port",
        "sentinel_one.storyline.id",
    }
)


@dataclass(frozen=True)
class Step:
    """One degradation: cut strings to `max_chars`; keep only ESSENTIAL fields if set."""

    max_chars: int
    essential: bool = False


STEPS: tuple[Step, ...] = tuple(
    Step(n) for n in (8192, 4096, 2048, 1024, 512, 256, 128, 64, 32)
) + tuple(Step(n, essential=True) for n in (256, 128, 64, 32, 16))


def utf8(text: str) -> bytes:
    """UTF-8 bytes; a lone surrogate (possible in decoded JSON input) becomes `?`."""
    return text.encode("utf-8", "replace")


def json_bytes(doc: Any) -> bytes:
    """Compact JSON, UTF-8, non-ASCII kept; falls back to `\\u` escapes for lone surrogates."""
    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def reduce_events(alert: Mapping[str, Any]) -> dict[str, Any]:
    """A copy whose `sequence.events` keep only each event's `@timestamp` and `event.id`."""
    doc = dict(alert)
    sequence = doc.get("sequence")
    if isinstance(sequence, Mapping) and isinstance(sequence.get("events"), list):
        doc["sequence"] = {**sequence, "events": [_event_stub(e) for e in sequence["events"]]}
    return doc


def _event_stub(event: Any) -> Any:
    if not isinstance(event, Mapping):
        return event
    stub: dict[str, Any] = {}
    if "@timestamp" in event:
        stub["@timestamp"] = event["@timestamp"]
    inner = event.get("event")
    if isinstance(inner, Mapping) and inner.get("id") is not None:
        stub["event"] = {"id": inner["id"]}
    return stub


def essential(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Only the ESSENTIAL fields of the alert, nested again."""
    return nest({k: v for k, v in flatten(alert).items() if k in ESSENTIAL})


def shorten_strings(value: Any, max_chars: int) -> Any:
    """A copy with every string value (not key) cut to `max_chars` characters."""
    if isinstance(value, str):
        return shorten(value, max_chars)
    if isinstance(value, Mapping):
        return {k: shorten_strings(v, max_chars) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [shorten_strings(v, max_chars) for v in value]
    return value


def degrade(alert: Mapping[str, Any], step: Step | None) -> Mapping[str, Any]:
    """The alert as `step` degrades it (see the module table); None returns it unchanged."""
    if step is None:
        return alert
    doc = essential(alert) if step.essential else reduce_events(alert)
    return dict(shorten_strings(doc, step.max_chars))
