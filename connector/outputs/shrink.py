"""Making an alert fit a size limit while keeping its identity and evidence (§1.4).

Structured payloads are never cut at a byte offset: the alert is degraded and rendered again.
Outputs walk `STEPS` in order until their render fits. Each step keeps more of what a receiver
needs to act than the one after it:

| step                          | what the renderer gets                                      |
|-------------------------------|-------------------------------------------------------------|
| (none)                        | the alert as given                                          |
| `Step("all")`                 | optional detail dropped: `sequence.events` cut to their     |
|                               | `@timestamp` + `event.id`; descriptions, notes, references, |
|                               | `*.args` removed (a Sigma rule's author, licence and source |
|                               | link stay in every step: DRL 1.1 attribution)               |
| `Step("essential")`           | only `ESSENTIAL` fields, ids, times, IPs, ports and SHA-256 |
| `Step("essential", n)`        | n = 4096 … 32: every unprotected string whose rendered size |
|                               | (`rendered_size`) is over n bytes is cut **from the middle**|
|                               | (`head…tail`): both ends are kept, since the URL at the end |
|                               | of a command line is the IOC                                |
| `Step(…, events="count")`     | `sequence.events` replaced by `sequence.event_count`        |
| `Step("minimal", …)`          | only `MINIMAL` fields, ids, times, IPs, ports and SHA-256   |
| `Step(…, names=64)`, then 32  | last resort: host/user/rule names cut from the middle too,  |
|                               | other strings to 16 bytes                                   |

**Never cut** (`is_protected`): the alert id (`event.id`), `rule.id`, timestamps, hashes
(`*.hash.*`), IP addresses and ports (`*.ip`, `*.port`). `rule.name`, `host.*` and `user.*`
are cut only by the very last step, which no realistic alert reaches. If even that does not
fit, the caller sends nothing and says so (syslog rejects the alert with its size).

Strings are cut before any escaping, so an escape sequence is never split. The limits are
**bytes as rendered**, not characters: a control character becomes the six bytes `\\u001f` in
JSON and a character outside the BMP four UTF-8 bytes, so a limit in characters does not bound
the message (an alert whose names were full of them overflowed UDP's 1024 bytes even after the
last step). `rendered_size` is an upper bound over every payload (JSON, CEF, LEEF, SD values).

`compact(alert)` is the syslog JSON payload's default document: the key fields and the
matched events' ids, about a quarter of the full alert, so a typical alert fits rsyslog's
default 8 kB message size without shrinking. File outputs and webhooks keep the full alert.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from connector.ecsutil import flatten, nest

__all__ = [
    "COMPACT",
    "ESSENTIAL",
    "MARKER",
    "MINIMAL",
    "STEPS",
    "Step",
    "compact",
    "cut_middle",
    "cut_rendered",
    "degrade",
    "essential",
    "is_protected",
    "json_bytes",
    "reduce_events",
    "rendered_size",
    "shorten_strings",
    "utf8",
]

MARKER = "…"

# Never cut: what a receiver deduplicates, joins and pivots on.
_PROTECTED_EXACT = frozenset(
    {"@timestamp", "event.id", "event.created", "event.start", "event.end", "event.ingested"}
    | {"rule.id", "rule.uuid"}
)
_PROTECTED = re.compile(r"(^|\.)(ip|port|timestamp)$|(^|\.)hash\.[a-z0-9_]+$")
# Cut only by the last step: names of who and where.
_NAMES = frozenset({"rule.name", "host.name", "host.id", "user.name", "user.domain"}) | {
    "rule.author",
    "rule.license",
    "rule.reference",
}
# Sigma rules (DRL 1.1) ask every alert to name the rule's author, licence and source: kept
# by every step, for rules that name an author.
_ATTRIBUTION = ("author", "license", "reference")

# What a receiver needs to act on the alert; with the protected keys below, the essential form.
ESSENTIAL = frozenset(
    {
        "message",
        "event.kind",
        "event.risk_score",
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
        "destination.domain",
        "file.path",
        "url.full",
        "dns.question.name",
        "registry.path",
        "sequence.join_key",
        "sequence.event_count",
    }
)
# The last resort before names are cut: who, what, where, and the protected keys.
MINIMAL = ESSENTIAL - {
    "message",
    "event.kind",
    "event.risk_score",
    "process.parent.name",
    "dns.question.name",
    "registry.path",
    "sequence.join_key",
}
# Protected keys the essential form keeps: every id, time, address and port, and SHA-256
# hashes (MD5/SHA-1 and the parent's hashes are never cut, but the essential form leaves
# them out).
_ESSENTIAL_PROTECTED = re.compile(r"(^|\.)(ip|port)$|(^|\.)hash\.sha256$")
# The compact document adds the rest of who/what/where (not: args, OS details, signatures).
COMPACT = ESSENTIAL | {
    "tags",
    "threat",
    "event.reason",
    "event.duration",
    "process.entity_id",
    "process.executable",
    "process.parent.executable",
    "network.transport",
    "network.protocol",
    "network.direction",
    "dll.path",
    "sentinel_one.storyline.id",
    "sentinel_one.site.id",
    "rule.risk_score",
    "rule.author",
    "rule.license",
    "host.hostname",
    "host.os.type",
    "process.start",
    "process.user.name",
    "process.parent.entity_id",
    "process.parent.pid",
    "process.parent.command_line",
    "file.name",
    "dll.name",
    "registry.value",
    "registry.data.strings",
    "url.domain",
    "sentinel_one.console_url",
}
_COMPACT_PREFIXES = ("kibana.alert.suppression.",)
# Dropped by the first step wherever they appear (nested keys): detail, not evidence.
_OPTIONAL_KEYS = frozenset({"description", "note", "reference", "references", "args", "setup"})


def is_protected(key: str) -> bool:
    """True for a dotted key whose value is never cut (ids, timestamps, hashes, IPs, ports)."""
    return (
        key in _PROTECTED_EXACT
        or key.endswith((".event.id", ".@timestamp"))
        or _PROTECTED.search(key) is not None
    )


def _essential_protected(key: str) -> bool:
    return key in _PROTECTED_EXACT or _ESSENTIAL_PROTECTED.search(key) is not None


@dataclass(frozen=True)
class Step:
    """One degradation of the alert (see the module table)."""

    fields: Literal["all", "essential", "minimal"] = "all"
    max_bytes: int | None = None
    events: Literal["stubs", "count"] = "stubs"
    names: int | None = None


STEPS: tuple[Step, ...] = (
    Step("all"),
    Step("essential"),
    *(Step("essential", n) for n in (4096, 2048, 1024, 512, 256, 128, 64, 32)),
    Step("essential", 32, "count"),
    Step("minimal", 32, "count"),
    Step("minimal", 32, "count", names=64),
    Step("minimal", 16, "count", names=32),
)


def utf8(text: str) -> bytes:
    """UTF-8 bytes; a lone surrogate (possible in decoded JSON input) becomes `?`."""
    return text.encode("utf-8", "replace")


def json_bytes(doc: Any) -> bytes:
    """Compact JSON, UTF-8, non-ASCII kept; falls back to `\\u` escapes for lone surrogates."""
    try:
        return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(doc, ensure_ascii=True, separators=(",", ":")).encode("ascii")


# Characters some payload escapes into two bytes (JSON, CEF, RFC 5424 SD values).
_ESCAPED_TWICE = frozenset('\\"=|]')


def _char_size(char: str) -> int:
    """The most bytes `char` takes in any payload (see `rendered_size`)."""
    code = ord(char)
    if code < 0x20:
        return 6  # JSON `\u001f`; CEF/LEEF/SD turn it into one space or `\n`
    if code < 0x80:
        return 2 if char in _ESCAPED_TWICE else 1
    if code < 0x800:
        return 2
    return 3 if code < 0x10000 else 4


def rendered_size(text: str) -> int:
    """An upper bound on the bytes `text` takes once rendered by any payload: its UTF-8 size,
    with six bytes per control character (JSON `\\u00XX`) and two per `\\ " = | ]`."""
    return sum(map(_char_size, text))


def _fit(chars: Iterable[str], budget: int) -> int:
    """How many of `chars`, taken in order, fit `budget` rendered bytes."""
    count = 0
    for char in chars:
        budget -= _char_size(char)
        if budget < 0:
            break
        count += 1
    return count


def cut_rendered(text: str, max_bytes: int | None) -> str:
    """At most `max_bytes` rendered bytes (`rendered_size`), keeping both ends around
    `MARKER`; None = no limit.

    The tail gets the larger half. With `max_bytes` ≥ 16 (every shrink step), both ends keep
    at least one character, since no character takes more than 6 bytes.
    """
    # Every character takes at least one byte, so a text longer than the limit needs a cut.
    if max_bytes is None or (len(text) <= max_bytes and rendered_size(text) <= max_bytes):
        return text
    budget = max(max_bytes - rendered_size(MARKER), 2)
    head = text[: _fit(text, budget // 2)]
    rest = text[len(head) :]
    tail_len = _fit(reversed(rest), budget - rendered_size(head))
    return head + MARKER + rest[len(rest) - tail_len :]


def cut_middle(text: str, max_chars: int | None) -> str:
    """At most `max_chars` characters, keeping both ends around `MARKER`; None = no limit.

    The tail gets the extra character: the end of a command line is often the IOC.
    """
    if max_chars is None or len(text) <= max_chars:
        return text
    keep = max(max_chars - len(MARKER), 2)
    head = keep // 2
    return text[:head] + MARKER + text[len(text) - (keep - head) :]


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


def _count_events(doc: Mapping[str, Any]) -> dict[str, Any]:
    """`sequence.events` replaced by their number (`sequence.event_count`)."""
    out = dict(doc)
    sequence = out.get("sequence")
    if isinstance(sequence, Mapping) and isinstance(sequence.get("events"), list):
        rest = {k: v for k, v in sequence.items() if k != "events"}
        out["sequence"] = {**rest, "event_count": len(sequence["events"])}
    return out


def _drop_optional(value: Any) -> Any:
    """A copy without optional detail keys, at any depth (sequence events are stubs by now)."""
    if isinstance(value, Mapping):
        return {k: _drop_optional(v) for k, v in value.items() if k not in _OPTIONAL_KEYS}
    if isinstance(value, list):
        return [_drop_optional(v) for v in value]
    return value


def _without_detail(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Events as stubs, optional detail dropped; a Sigma rule's attribution stays."""
    doc: dict[str, Any] = _drop_optional(reduce_events(alert))
    rule = alert.get("rule")
    if isinstance(rule, Mapping) and rule.get("author"):
        kept = {k: rule[k] for k in _ATTRIBUTION if rule.get(k) is not None}
        doc["rule"] = {**doc.get("rule", {}), **kept}
    return doc


def _select(
    alert: Mapping[str, Any],
    keep: frozenset[str],
    prefixes: tuple[str, ...],
    protected: Callable[[str], bool],
) -> Any:
    """Only the kept (or protected) dotted keys and the attribution, nested again; events as
    stubs."""
    doc = _without_detail(alert)
    keep = keep | {f"rule.{k}" for k in _ATTRIBUTION if (doc.get("rule") or {}).get("author")}
    flat = flatten(doc)
    chosen = {
        key: value
        for key, value in flat.items()
        if key in keep or protected(key) or key.startswith(prefixes)
    }
    out = nest(chosen)
    sequence = doc.get("sequence")
    if isinstance(sequence, Mapping) and "events" in sequence:
        out.setdefault("sequence", {})["events"] = sequence["events"]
    return out


def essential(alert: Mapping[str, Any]) -> dict[str, Any]:
    """Only the ESSENTIAL and protected fields, nested again; events as stubs."""
    selected: dict[str, Any] = _select(alert, ESSENTIAL, (), _essential_protected)
    return selected


def compact(alert: Mapping[str, Any]) -> dict[str, Any]:
    """The compact syslog document: COMPACT and protected fields, events as stubs."""
    selected: dict[str, Any] = _select(alert, COMPACT, _COMPACT_PREFIXES, is_protected)
    return selected


def shorten_strings(
    value: Any, max_bytes: int | None, *, names: int | None = None, key: str = ""
) -> Any:
    """A copy with every unprotected string value cut from the middle to `max_bytes` rendered
    bytes (`cut_rendered`).

    Protected keys (`is_protected`) are never cut; names (host, user, rule name) only when
    `names` is set. Keys are never changed.
    """
    if isinstance(value, str):
        if is_protected(key):
            return value
        limit = names if key in _NAMES else max_bytes
        return cut_rendered(value, limit)
    if isinstance(value, Mapping):
        return {
            k: shorten_strings(v, max_bytes, names=names, key=f"{key}.{k}" if key else str(k))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [shorten_strings(v, max_bytes, names=names, key=key) for v in value]
    return value


def degrade(alert: Mapping[str, Any], step: Step | None) -> Mapping[str, Any]:
    """The alert as `step` degrades it (see the module table); None returns it unchanged."""
    if step is None:
        return alert
    if step.fields != "all":
        keep = ESSENTIAL if step.fields == "essential" else MINIMAL
        doc: Mapping[str, Any] = _select(alert, keep, (), _essential_protected)
    else:
        doc = _without_detail(alert)
    if step.events == "count":
        doc = _count_events(doc)
    if step.max_bytes is None and step.names is None:
        return doc
    return dict(shorten_strings(doc, step.max_bytes, names=step.names))
