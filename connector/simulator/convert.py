"""Cloud Funnel record → Deep Visibility v2.1 event, as the console would serve it.

Keys go through the mapping's one correspondence table (`connector.mapping.fields.CF_TO_DV`);
Cloud Funnel keys with no DV twin are left out. Values change form the way sentinelone-api.md
§5.3 describes DV:

| Cloud Funnel                         | DV                                                 |
|--------------------------------------|----------------------------------------------------|
| `event.time: 1664811149470` (ms)     | `eventTime: "2022-10-03T15:32:29.470Z"`            |
| `*.startTime` (ms)                   | ISO with `Z`                                       |
| `tgt.process.pid: 4720`              | `tgtProcPid: "4720"` (pids, ids are strings)       |
| `src.process.isStorylineRoot: false` | `srcProcIsStorylineRoot: "False"`                  |
| `event.type: "ProcessCreation"`      | `eventType: "Process Creation"` (spelt as in S1QL) |
| `sca:ingestTime` (s)                 | `createdAt: "…T15:32:31.000000Z"` (6 digits)       |
| `event.id: "<trace>_<n>"`            | `id` (same value, per the table) and `eventIndex: "<n>"` |

DV also carries a few legacy keys (`agentName`, `agentOs`; for IP Connect the source-process
mirror `processName`, `pid`, `processUniqueKey`, `storyline`), and the literal string `"null"`
for an absent `netProtocolName`, as real responses do.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.mapping.fields import CF_TO_DV
from connector.timeutil import format_utc, to_datetime

__all__ = ["DV_EVENT_TYPES", "DV_EXTRA_KEYS", "cf_to_dv", "iso_ms", "iso_us"]

DV_EVENT_TYPES = {
    "processcreation": "Process Creation",
    "ipconnect": "IP Connect",
    "filecreation": "File Creation",
    "filemodification": "File Modification",
    "registryvaluemodified": "Registry Value Modified",
    "dnsresolved": "DNS Resolved",
    "moduleload": "Module Load",
}
"""Event types by their space-less, lower-case spelling → the DV / S1QL spelling."""

_STRING_SUFFIXES = ("Pid", "SessionId")
_FLAG_PREFIXES = ("srcProc", "tgtProc")
_LEGACY_IP_MIRROR = {
    "processName": "srcProcName",
    "pid": "srcProcPid",
    "processUniqueKey": "srcProcUid",
    "processCmd": "srcProcCmdLine",
    "processImagePath": "srcProcImagePath",
    "processGroupId": "srcProcStorylineId",
    "storyline": "srcProcStorylineId",
    "user": "srcProcUser",
    "connectionStatus": "netConnStatus",
    "direction": "netEventDirection",
}

DV_EXTRA_KEYS = frozenset({"eventIndex", "createdAt", "agentName", "agentOs", *_LEGACY_IP_MIRROR})
"""DV keys the conversion adds beyond the correspondence table (S1QL may name them too)."""


def iso_ms(value: Any) -> str | None:
    """Epoch ms (or any `to_datetime` input) → `"…T…:….mmmZ"`; None if unusable."""
    moment = to_datetime(value)
    return None if moment is None else format_utc(moment)


def iso_us(moment: datetime) -> str:
    """`"2022-01-24T18:49:35.296000Z"`: DV's `createdAt` form, six fractional digits."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cf_to_dv(record: Mapping[str, Any]) -> dict[str, Any]:
    """One Cloud Funnel dotted record → one DV camelCase event (a new dict)."""
    event: dict[str, Any] = {}
    for cf_key, value in record.items():
        dv_key = CF_TO_DV.get(cf_key)
        if dv_key is not None and value is not None:
            event[dv_key] = _convert(dv_key, value)
    _add_derived(event, record)
    return event


def _convert(dv_key: str, value: Any) -> Any:
    convert = _converter(dv_key)
    return value if convert is None else convert(value)


@functools.cache
def _converter(dv_key: str) -> Callable[[Any], Any] | None:
    # Keys are few and repeat on every record: decide each key's rule once.
    return next((convert for test, convert in _VALUE_RULES if test(dv_key)), None)


def _to_text(value: Any) -> Any:
    return value if isinstance(value, str) else str(value)


def _to_flag(value: Any) -> Any:
    if isinstance(value, bool):
        return "True" if value else "False"
    return value


def _event_type(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return DV_EVENT_TYPES.get(value.replace(" ", "").casefold(), value)


def _time(value: Any) -> Any:
    converted = iso_ms(value)
    return value if converted is None else converted


_VALUE_RULES: tuple[tuple[Callable[[str], bool], Callable[[Any], Any]], ...] = (
    (lambda k: k == "eventTime" or k.endswith("StartTime"), _time),
    (lambda k: k == "eventType", _event_type),
    (lambda k: k in ("id", "siteId", "accountId", "agentGroupId"), _to_text),
    (lambda k: k.endswith(_STRING_SUFFIXES), _to_text),
    (lambda k: k.startswith(_FLAG_PREFIXES), _to_flag),
)
"""(applies to DV key?, convert value): the first rule that applies wins."""


def _add_derived(event: dict[str, Any], record: Mapping[str, Any]) -> None:
    event_id = record.get("event.id")
    if isinstance(event_id, str) and "_" in event_id:
        event["eventIndex"] = event_id.rsplit("_", 1)[1]
    created = _created_at(record)
    if created is not None:
        event["createdAt"] = created
    for legacy, modern in (("agentName", "endpointName"), ("agentOs", "endpointOs")):
        if modern in event:
            event[legacy] = event[modern]
    if event.get("objectType") == "ip":
        _add_ip_legacy(event)


def _created_at(record: Mapping[str, Any]) -> str | None:
    for key, scale in (("sca:atlantisIngestTime", 1), ("sca:ingestTime", 1000)):
        value = record.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return iso_us(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value * scale))
    moment = to_datetime(record.get("event.time"))
    return None if moment is None else iso_us(moment)


def _add_ip_legacy(event: dict[str, Any]) -> None:
    for legacy, modern in _LEGACY_IP_MIRROR.items():
        if modern in event:
            event[legacy] = event[modern]
    event.setdefault("netProtocolName", "null")
