"""The alert document: one nested ECS object per rule match, with a deterministic id.

| key                          | value                                                          |
|------------------------------|----------------------------------------------------------------|
| `@timestamp`                 | last matched event's `@timestamp` (UTC, ms)                    |
| `event.kind` / `.id`         | `"alert"` / `alert_id(match)`                                  |
| `event.created`              | when the connector produced the alert (`created`)              |
| `event.start` / `.end`       | first / last matched `@timestamp`                              |
| `event.risk_score`           | the rule's risk score                                          |
| `message`, `event.reason`    | the reason line ("cmd.exe /c … started by WINWORD.EXE on …")   |
| `rule.*`, `threat`, `tags`   | from the rule file (Sigma: also `rule.author`, `.license`)     |
| `host.*`, `user.*`, `process.*` | from the first matched event                                |
| `source.*`, `destination.*`, `network.*` | from the first network event (if any)              |
| `sequence.join_key`         | the join key values                                            |
| `sequence.events`           | the matched events, nested, in order                           |
| `sequence.gap_s`            | seconds from the first to the last matched event               |
| `sentinel_one.storyline.id`  | the storyline of the first event's process                     |
| `sentinel_one.console_url`   | console link for the host, when the console URL is known       |

`alert_id` depends only on the rule id, the join key values and the matched events' S1 ids,
so `poll`, `hunt` and `replay` give the same match the same id on any machine.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
from collections.abc import Iterable
from datetime import datetime
from json.encoder import encode_basestring_ascii
from typing import Any
from urllib.parse import quote

import orjson

from connector.detection.model import Event, Match, Rule
from connector.ecsutil import nest
from connector.timeutil import format_utc, to_datetime, to_epoch_ms

__all__ = ["ALERT_ID_VERSION", "TEST_RULE_ID", "alert_id", "build_alert", "test_alert"]

ALERT_ID_VERSION = "s1-alert-v1"
"""Recipe tag hashed into every id: change it only together with the recipe."""

TEST_RULE_ID = "s1-connector-test"
_FIRST_EVENT_PREFIXES = ("host.", "user.", "process.")
_NETWORK_PREFIXES = ("source.", "destination.", "network.")
_REASON_SUBJECT_CHARS = 60
_WHITESPACE = re.compile(r"[\s\x00-\x1f\x7f]+")
# Where a console link points. The console's routes are not part of its public API; this
# endpoint-list filter is the form seen in public integrations, so an analyst lands on the
# host. Change it here only.
_CONSOLE_HOST_PATH = "/sentinels/devices?filter="


def alert_id(match: Match) -> str:
    """Lowercase hex SHA-256 of a versioned canonical encoding of the match.

    The encoding is a JSON array `[version, rule id, [join values], [event ids]]`: JSON
    quoting makes the parts unambiguous (no separator can be forged from inside a value),
    and no wall-clock time or run id takes part.
    """
    rule_id, join_key = match.rule.rule_id, match.join_key
    keys = [_event_key(event) for event in match.events]
    if rule_id.__class__ is str and all(value.__class__ is str for value in join_key):
        # Only strings (the common case): the same text `_canonical_json` writes for them,
        # without building an encoder (json quotes each string with this very function).
        text = "".join(
            (
                _ID_HEAD,
                encode_basestring_ascii(rule_id),
                ",[",
                ",".join(map(encode_basestring_ascii, join_key)),
                "],[",
                ",".join(map(encode_basestring_ascii, keys)),
                "]]",
            )
        )
    else:
        text = _canonical_json([ALERT_ID_VERSION, rule_id, list(join_key), keys])
    return hashlib.sha256(text.encode("ascii")).hexdigest()


_ID_HEAD = "[" + encode_basestring_ascii(ALERT_ID_VERSION) + ","


def _canonical_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), sort_keys=True, default=str)


def _event_key(event: Event) -> str:
    """The S1 event id; an event without one (never from our mapper) is keyed by content."""
    event_id = event.get("event.id")
    if event_id is not None and event_id != "":
        return str(event_id)
    return "sha256:" + hashlib.sha256(_canonical_json(event).encode("ascii")).hexdigest()


def build_alert(match: Match, *, created: datetime, console_url: str = "") -> dict[str, Any]:
    """The nested ECS alert document for a match (see the module table).

    Raises ValueError for a match without events (the engine never emits one).
    """
    if not match.events:
        raise ValueError(f"match of rule {match.rule.rule_id!r} has no events")
    first = match.events[0]
    network = _network_event(match.events)
    span = _Span(match.events)
    flat: dict[str, Any] = {}
    flat.update(_with_prefixes(first, _FIRST_EVENT_PREFIXES))
    if network is not None:
        flat.update(_with_prefixes(network, _NETWORK_PREFIXES))
    flat.update(_event_fields(match, created, span))
    flat.update(_rule_fields(match.rule))
    flat.update(_sequence_fields(match, span))
    flat.update(_sentinel_one_fields(first, console_url))
    reason = _reason_line(match, network, span)
    flat["message"] = flat["event.reason"] = reason
    doc = nest(flat)
    doc["threat"] = _threat_copy(match.rule.threat)
    doc["tags"] = list(match.rule.tags)
    return doc


class _Span:
    """The first and last matched events' times, read once per alert: `start`/`end` (None
    when unusable), as `format_utc` writes them (`start_text`/`end_text`, None when
    unusable), and `gap_ms`, the milliseconds between them (None when either is unusable).
    A match of one event reads its time once (start is end, the gap is 0)."""

    __slots__ = ("end", "end_text", "gap_ms", "start", "start_text")

    def __init__(self, events: tuple[Event, ...]) -> None:
        first, last = events[0], events[-1]
        stamp = first.get("@timestamp")
        self.start = start = to_datetime(stamp)
        self.start_text = _utc_text(stamp, start)
        if last is first:
            self.end, self.end_text = start, self.start_text
        else:
            stamp = last.get("@timestamp")
            self.end = to_datetime(stamp)
            self.end_text = _utc_text(stamp, self.end)
        end = self.end
        if start is None or end is None:
            self.gap_ms: int | None = None
        elif end is start:
            self.gap_ms = 0
        else:
            self.gap_ms = to_epoch_ms(end) - to_epoch_ms(start)

    def gap_seconds(self) -> float:
        """Seconds from the first to the last matched event (0.0 when unknown or single)."""
        return 0.0 if self.gap_ms is None else self.gap_ms / 1000.0


def _with_prefixes(event: Event, prefixes: tuple[str, ...]) -> dict[str, Any]:
    return {
        k: v if v.__class__ in _IMMUTABLE else _copy(v)
        for k, v in event.items()
        if k.startswith(prefixes)
    }


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (the alert must not share lists with the event or the
    rule): `copy.deepcopy` without its memo, for what events and rules hold. Immutable
    items are taken as they are without a call (most items of a list or dict are)."""
    kind = value.__class__
    if kind in _IMMUTABLE:
        return value
    if kind is list:
        return [item if item.__class__ in _IMMUTABLE else _copy(item) for item in value]
    if kind is dict:
        return {
            key: item if item.__class__ in _IMMUTABLE else _copy(item)
            for key, item in value.items()
        }
    return copy.deepcopy(value)


def _threat_copy(threat: tuple[dict[str, Any], ...]) -> list[Any]:
    """`[_copy(entry) for entry in threat]`, made from the rule's threat as JSON kept once
    per rule (`orjson.loads` makes fresh objects about twice as fast as `_copy`). Only a
    threat that JSON gives back exactly (same values, same types, same key order) is kept
    that way; any other is copied with `_copy`."""
    entry = _THREATS.get(id(threat))
    if entry is None or entry[0] is not threat:
        if len(_THREATS) >= _THREATS_KEPT:
            _THREATS.clear()
        entry = _THREATS[id(threat)] = (threat, _threat_json(threat))
    blob = entry[1]
    if blob is None:
        return [_copy(item) for item in threat]
    copied: list[Any] = orjson.loads(blob)
    return copied


def _threat_json(threat: tuple[dict[str, Any], ...]) -> bytes | None:
    """The threat as JSON when JSON gives it back exactly, else None."""
    items = list(threat)
    if not all(map(_plain_json, items)):
        return None
    try:
        blob = orjson.dumps(items)
    except orjson.JSONEncodeError:
        return None  # see `_plain_json`: such a threat is copied with `_copy`
    return blob


_THREATS: dict[int, tuple[tuple[dict[str, Any], ...], bytes | None]] = {}
"""By `id` of a rule's threat tuple: the tuple (kept, so the id is not reused) and its JSON."""
_THREATS_KEPT = 4_096


def _plain_json(value: Any) -> bool:
    """Whether JSON gives `value` back exactly, as far as types tell: dicts, lists, strings,
    integers, bools, None and finite floats, of exactly these types (what orjson refuses,
    keys that are not strings, integers beyond 64 bits, lone surrogates, deep nesting, is
    found when it writes the threat)."""
    kind = value.__class__
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return all(map(_plain_json, value))
    if kind is dict:
        return all(map(_plain_json, value.values()))
    return False


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


def _utc_text(value: Any, moment: datetime | None) -> str | None:
    """`format_utc(moment)` for `moment = to_datetime(value)` (None when that is None): the
    text `value` itself when it already has that form (mapped events' `@timestamp`, UTC with
    milliseconds, ASCII digits, a year from 1000: `format_utc` writes that text back)."""
    if moment is None:
        return None
    if value.__class__ is str and _UTC_MS.fullmatch(value) is not None:
        return str(value)
    return format_utc(moment)


_UTC_MS = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")


def _event_fields(match: Match, created: datetime, span: _Span) -> dict[str, Any]:
    end = span.end_text
    fields: dict[str, Any] = {
        "@timestamp": end if end is not None else format_utc(created),
        "event.kind": "alert",
        "event.id": alert_id(match),
        "event.created": format_utc(created),
        "event.risk_score": match.rule.risk_score,
    }
    if span.start is not None and span.gap_ms is not None:
        fields["event.start"] = span.start_text
        fields["event.end"] = end
        # ECS event.duration is in nanoseconds; ms precision is all the events carry.
        fields["event.duration"] = span.gap_ms * 1_000_000
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


def _sequence_fields(match: Match, span: _Span) -> dict[str, Any]:
    return {
        "sequence.join_key": list(match.join_key),
        "sequence.events": [nest(event) for event in match.events],
        "sequence.gap_s": span.gap_seconds(),
    }


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


def console_link(console_url: str, host_name: Any) -> str:
    """A console URL that opens the endpoint list filtered to the host; "" when unknown."""
    if not console_url:
        return ""
    base = console_url.rstrip("/")
    if not host_name:
        return base
    query = json.dumps({"computerName__contains": str(host_name)}, separators=(",", ":"))
    return base + _CONSOLE_HOST_PATH + quote(query, safe="")


def reason_line(match: Match) -> str:
    """One human sentence: what ran, who started it, where, what it reached, how fast.

    `cmd.exe /c … started by WINWORD.EXE on WS-0042 connected to 203.0.113.9:443 within 4.2 s`.
    Control characters and line breaks become single spaces: this is a summary line.
    """
    return _reason_line(match, _network_event(match.events), _Span(match.events))


def _reason_line(match: Match, network: Event | None, span: _Span) -> str:
    first = match.events[0]
    parts = [_subject(first, match.rule)]
    parent = first.get("process.parent.name")
    if parent and "start" in _as_list(first.get("event.type")):
        parts.append(f"started by {_clean(str(parent))}")
    if first.get("host.name"):
        parts.append(f"on {_clean(str(first['host.name']))}")
    parts.extend(_network_phrase(len(match.events), network))
    if len(match.events) > 1:
        parts.append(f"within {span.gap_seconds():.1f} s")
    return " ".join(parts)


def _subject(first: Event, rule: Rule) -> str:
    text = first.get("process.command_line") or first.get("process.name")
    if not text:
        return _clean(rule.name)
    return _shorten(_clean(str(text)), _REASON_SUBJECT_CHARS)


def _network_phrase(count: int, network: Event | None) -> list[str]:
    """`network` is the first network event of the `count` matched events (None: none)."""
    if network is None:
        return [f"followed by {count - 1} more event(s)"] if count > 1 else []
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


def test_alert(created: datetime) -> dict[str, Any]:
    """A clearly marked test alert for `check --send-test`: rule name says TEST, tag "test".

    Deterministic for a given `created`, so a resent test carries the same id.
    """
    rule = Rule(
        rule_id=TEST_RULE_ID,
        name="TEST ALERT - s1-connector delivery check (not a detection)",
        query="",
        severity="low",
        risk_score=0,
        description="Sent by `s1-connector check --send-test` to prove this output works.",
        tags=("test",),
    )
    event: Event = {
        "@timestamp": format_utc(created),
        "event.id": f"test-{to_epoch_ms(created)}",
        "event.kind": "event",
        "host.name": "s1-connector-test",
    }
    doc = build_alert(Match(rule=rule, events=(event,)), created=created)
    doc["message"] = doc["event"]["reason"] = "TEST alert from s1-connector: delivery check"
    return doc
