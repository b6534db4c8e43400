"""The alert document as it was built before the speed-ups of December 2026: the plain
step-by-step form (flat dict → `nest` step by step, timestamps read where used), kept as the
reference that `test_alert_equivalence.py` compares `connector.alerts.build_alert` with."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from connector.alerts import ALERT_ID_VERSION, console_link
from connector.detection.model import Event, Match, Rule
from connector.ecsutil import _nest_steps as nest
from connector.timeutil import format_utc, to_datetime, to_epoch_ms

_FIRST_EVENT_PREFIXES = ("host.", "user.", "process.")
_NETWORK_PREFIXES = ("source.", "destination.", "network.")
_REASON_SUBJECT_CHARS = 60
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f]+")


def alert_id(match: Match) -> str:
    """The alert id as it was computed before (one `json.dumps` of the parts)."""
    parts = [
        ALERT_ID_VERSION,
        match.rule.rule_id,
        list(match.join_key),
        [_event_key(event) for event in match.events],
    ]
    return hashlib.sha256(_canonical_json(parts).encode("ascii")).hexdigest()


def _canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True, default=str)


def _event_key(event: Event) -> str:
    event_id = event.get("event.id")
    if event_id is not None and event_id != "":
        return str(event_id)
    return "sha256:" + hashlib.sha256(_canonical_json(event).encode("ascii")).hexdigest()


def reference_alert(match: Match, *, created: datetime, console_url: str = "") -> dict[str, Any]:
    """The nested ECS alert document for a match (see the module table).

    Raises ValueError for a match without events (the engine never emits one).
    """
    if not match.events:
        raise ValueError(f"match of rule {match.rule.rule_id!r} has no events")
    first = match.events[0]
    network = _network_event(match.events)
    flat: dict[str, Any] = {}
    flat.update(_with_prefixes(first, _FIRST_EVENT_PREFIXES))
    if network is not None:
        flat.update(_with_prefixes(network, _NETWORK_PREFIXES))
    flat.update(_event_fields(match, created))
    flat.update(_rule_fields(match.rule))
    flat.update(_sequence_fields(match))
    flat.update(_sentinel_one_fields(first, console_url))
    reason = reason_line(match)
    flat["message"] = flat["event.reason"] = reason
    doc = nest(flat)
    doc["threat"] = [_copy(entry) for entry in match.rule.threat]
    doc["tags"] = list(match.rule.tags)
    return doc


def _with_prefixes(event: Event, prefixes: tuple[str, ...]) -> dict[str, Any]:
    return {k: _copy(v) for k, v in event.items() if k.startswith(prefixes)}


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (the alert must not share lists with the event or the
    rule): `copy.deepcopy` without its memo, for what events and rules hold."""
    kind = value.__class__
    if kind in _IMMUTABLE:
        return value
    if kind is list:
        return [_copy(item) for item in value]
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    return copy.deepcopy(value)


def _network_event(events: Iterable[Event]) -> Event | None:
    """The first event that describes a connection (category network or a destination)."""
    for event in events:
        if "network" in _as_list(event.get("event.category")) or "destination.ip" in event:
            return event
    return None


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _timestamp(event: Event) -> datetime | None:
    return to_datetime(event.get("@timestamp"))


def _event_fields(match: Match, created: datetime) -> dict[str, Any]:
    start, end = _timestamp(match.events[0]), _timestamp(match.events[-1])
    fields: dict[str, Any] = {
        "@timestamp": format_utc(end or created),
        "event.kind": "alert",
        "event.id": alert_id(match),
        "event.created": format_utc(created),
        "event.risk_score": match.rule.risk_score,
    }
    if start is not None and end is not None:
        fields["event.start"] = format_utc(start)
        fields["event.end"] = format_utc(end)
        # ECS event.duration is in nanoseconds; ms precision is all the events carry.
        fields["event.duration"] = (to_epoch_ms(end) - to_epoch_ms(start)) * 1_000_000
    return fields


def _rule_fields(rule: Rule) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "rule.id": rule.rule_id,
        "rule.name": rule.name,
        "rule.version": rule.version or "1",
        "rule.severity": rule.severity,
        "rule.risk_score": rule.risk_score,
    }
    if rule.description:
        fields["rule.description"] = rule.description
    # The rule's own source link wins over its first threat-intel reference (Sigma: DRL 1.1
    # asks every alert to name the rule's author and link its source).
    if rule.reference or rule.references:
        fields["rule.reference"] = rule.reference or rule.references[0]
    if rule.author:
        fields["rule.author"] = rule.author
    if rule.license:
        fields["rule.license"] = rule.license
    return fields


def _sequence_fields(match: Match) -> dict[str, Any]:
    return {
        "sequence.join_key": list(match.join_key),
        "sequence.events": [nest(event) for event in match.events],
        "sequence.gap_s": _gap_seconds(match.events),
    }


def _gap_seconds(events: tuple[Event, ...]) -> float:
    """Seconds from the first to the last matched event (0.0 when unknown or single)."""
    start, end = _timestamp(events[0]), _timestamp(events[-1])
    if start is None or end is None:
        return 0.0
    return (to_epoch_ms(end) - to_epoch_ms(start)) / 1000.0


def _sentinel_one_fields(first: Event, console_url: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    storyline = first.get("sentinel_one.tgt.process.storyline.id") or first.get(
        "sentinel_one.src.process.storyline.id"
    )
    if storyline:
        fields["sentinel_one.storyline.id"] = storyline
    for key in ("sentinel_one.site.id", "sentinel_one.account.id"):
        if first.get(key):
            fields[key] = first[key]
    link = console_link(console_url, first.get("host.name"))
    if link:
        fields["sentinel_one.console_url"] = link
    return fields


def reason_line(match: Match) -> str:
    """One human sentence: what ran, who started it, where, what it reached, how fast.

    `cmd.exe /c … started by WINWORD.EXE on WS-0042 connected to 203.0.113.9:443 within 4.2 s`.
    Control characters and line breaks become single spaces: this is a summary line.
    """
    first = match.events[0]
    parts = [_subject(first, match.rule)]
    parent = first.get("process.parent.name")
    if parent and "start" in _as_list(first.get("event.type")):
        parts.append(f"started by {_clean(str(parent))}")
    if first.get("host.name"):
        parts.append(f"on {_clean(str(first['host.name']))}")
    parts.extend(_network_phrase(match.events))
    if len(match.events) > 1:
        parts.append(f"within {_gap_seconds(match.events):.1f} s")
    return " ".join(parts)


def _subject(first: Event, rule: Rule) -> str:
    text = first.get("process.command_line") or first.get("process.name")
    if not text:
        return _clean(rule.name)
    return _shorten(_clean(str(text)), _REASON_SUBJECT_CHARS)


def _network_phrase(events: tuple[Event, ...]) -> list[str]:
    network = _network_event(events)
    if network is None:
        return [f"followed by {len(events) - 1} more event(s)"] if len(events) > 1 else []
    address = network.get("destination.ip") or network.get("destination.address")
    if not address:
        return []
    port = network.get("destination.port")
    host = f"[{address}]" if ":" in str(address) and port is not None else str(address)
    return [f"connected to {host}:{port}" if port is not None else f"connected to {host}"]


def _clean(text: str) -> str:
    return _WHITESPACE.sub(" ", text).strip()


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + " …"
