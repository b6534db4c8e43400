"""Which ECS fields the mapping can produce — found by running the mapper, not by listing.

`rules check` warns about rule fields outside this set ("fields the mapping never produces").
The set is derived by mapping one fully populated Cloud Funnel record per known event type
(and one of an unknown type), so it can never drift from what `to_ecs` really writes.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from connector.mapping.ecs import to_ecs
from connector.mapping.fields import CF_TO_DV
from connector.mapping.skip import Skip
from connector.mapping.tables import EVENT_TYPES

__all__ = ["mapped_fields"]

_TIME_MS = 1_700_000_000_000
# Cloud Funnel keys with no DV twin (so not in CF_TO_DV) that the mapper still reads.
_CF_ONLY = ("os.name", "event.repetitionCount")
# Values whose form decides whether a field is written at all.
_SPECIFIC: dict[str, Any] = {
    "event.network.connectionStatus": "SUCCESS",
    "event.repetitionCount": 2,
    "event.dns.response": "203.0.113.9;198.51.100.7",
}


def _sample_value(key: str) -> Any:
    """A well-typed value for a Cloud Funnel key, so no field is dropped as malformed."""
    leaf = key.rsplit(".", 1)[-1]
    if key in _SPECIFIC:
        return _SPECIFIC[key]
    if leaf == "uid":
        return f"UID-{key.upper()}"  # a different uid per role: equal ones are dropped
    if key.endswith("Time") or key == "event.time":
        return _TIME_MS
    if leaf in ("pid", "number", "size", "sessionId"):
        return 4242
    if key.endswith(".ip.address"):
        return "203.0.113.9"
    if leaf.startswith("is"):
        return True
    if key == "endpoint.os":
        return "windows"
    if leaf in ("path", "oldPath", "keyPath"):
        return "C:\\Users\\Public\\sample.bin"
    if leaf == "user":
        return "CORP\\bob"
    if key.endswith("cmdline"):
        return "cmd.exe /c run.bat"
    if key == "event.network.direction":
        return "OUTGOING"
    return f"sample-{leaf}"


def _record(event_type: str) -> dict[str, Any]:
    record = {key: _sample_value(key) for key in (*CF_TO_DV, *_CF_ONLY)}
    record.update({"event.type": event_type, "event.id": "catalog_1", "event.time": _TIME_MS})
    return record


@cache
def mapped_fields() -> frozenset[str]:
    """Every flat ECS key the mapper writes for some record (cached)."""
    fields: set[str] = set()
    for event_type in [*EVENT_TYPES, "somethingnew"]:
        event = to_ecs(_record(event_type), "cloud-funnel")
        if not isinstance(event, Skip):
            fields.update(event)
    return frozenset(fields)
