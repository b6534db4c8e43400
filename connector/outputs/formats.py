"""CEF and LEEF renderers for the alert document, with their exact escaping rules.

Both are one line carried in a syslog MSG. Attacker-controlled text (command lines, file
names, host and user names) can never end a message early, add a field or fake a header:

| zone            | `\\`  | `|`        | `=`   | CR / LF        | TAB      | other control chars |
|-----------------|-------|------------|-------|----------------|----------|---------------------|
| CEF header      | `\\\\`| `\\|`      | as is | space          | space    | space               |
| CEF extension   | `\\\\`| as is      | `\\=` | `\\r` / `\\n`  | space    | space               |
| LEEF header     | as is | `_`        | as is | space          | space    | space               |
| LEEF value      | as is | as is      | as is | space          | space    | space               |

CEF values are trimmed of spaces at both ends (a parser drops the last pair's trailing spaces),
and empty values are omitted with their key (and label). LEEF has no escaping at all, hence the
replacements. Keys are fixed names below; none comes from data.

**Severity** (from `rule.severity`; an alert tagged `test` is `test`):

| label     | CEF | LEEF `sev` | syslog severity |
|-----------|-----|------------|-----------------|
| critical  | 10  | 10         | 2 crit          |
| high      | 8   | 8          | 3 err           |
| medium    | 5   | 5          | 4 warning       |
| low       | 3   | 3          | 5 notice        |
| test      | 1   | 1          | 6 info          |

An unknown label is treated as `medium`: neither hidden nor escalated.

**Field mapping** (alert document → CEF / LEEF). Process fields come from the first matched
event, network fields from the network event (see `connector.alerts`).

| alert field                           | CEF key                            | LEEF key           |
|---------------------------------------|------------------------------------|--------------------|
| `rule.id`                             | header Device Event Class ID       | header EventID     |
| `rule.name`                           | header Name                        | `ruleName`         |
| `rule.severity`                       | header Severity                    | `sev`              |
| `event.created`                       | `rt` (epoch ms)                    | `devTime` (1)      |
| `event.start`, `event.end`            | `start`, `end` (epoch ms)          | –                  |
| `event.id` (alert id, the dedup key)  | `externalId`                       | `alertId`          |
| number of matched events              | `cnt`                              | `eventCount`       |
| first ATT&CK tactic name, else alert  | `cat`                              | `cat`              |
| `message` (reason line)               | `msg`                              | `reason`           |
| `host.id` (agent UUID)                | `deviceExternalId`                 | `agentId`          |
| `host.name`                           | `shost`                            | `hostName`         |
| `source.ip`, `source.port`            | `src`, `spt`                       | `src`, `srcPort`   |
| `user.domain` + `\\` + `user.name`    | `suser`                            | `usrName`          |
| `process.name`                        | `sproc`                            | `processName`      |
| `process.pid`                         | `spid`                             | `processId`        |
| `process.executable`                  | `filePath`                         | –                  |
| `process.hash.sha256`                 | `fileHash`                         | `sha256`           |
| `destination.ip`, `destination.port`  | `dst`, `dpt`                       | `dst`, `dstPort`   |
| `destination.domain`                  | `dhost`                            | –                  |
| `network.transport` (else `.protocol`)| `proto` (upper case)               | `proto`            |
| `network.direction` egress / ingress  | `deviceDirection` 1 / 0            | –                  |
| `process.command_line`                | `cs1`, `cs1Label=commandLine`      | `commandLine`      |
| `process.parent.executable` (2)       | `cs2`, `cs2Label=parentProcess`    | `parentProcess`    |
| ATT&CK technique ids, comma-separated | `cs3`, `cs3Label=mitreTechnique`   | `mitreTechnique`   |
| `sentinel_one.site.id`                | `cs4`, `cs4Label=site`             | `site`             |
| `sentinel_one.storyline.id`           | `cs5`, `cs5Label=storylineId`      | `storylineId`      |
| `sentinel_one.console_url`            | `cs6`, `cs6Label=consoleUrl`       | `consoleUrl`       |
| `rule.author` (Sigma rules)           | `flexString1` (label `ruleAuthor`) | `ruleAuthor`       |
| `rule.license` (3)                    | `flexString2` (label `ruleSource`) | `ruleLicense`      |
| `rule.reference` (3)                  | `flexString2`, after the licence   | `ruleReference`    |
| `event.risk_score`                    | `cn1`, `cn1Label=riskScore`        | `riskScore`        |

(1) with `devTimeFormat=yyyy-MM-dd'T'HH:mm:ss.SSSX`. (2) else `process.parent.name`. (3) only for
rules that name an author (Sigma), as `DRL-1.1 https://…` in CEF.
A `csN`/`cnN` key is sent only with its label, and labels never change.

To fit a size cap, callers shorten the alert's strings (`connector.outputs.shrink.degrade`)
*before* rendering, so an escape sequence is never cut in half.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector import __version__
from connector.ecsutil import flatten
from connector.outputs.shrink import cut_middle
from connector.timeutil import format_utc, to_datetime, to_epoch_ms

__all__ = [
    "CEF_PRODUCT",
    "CEF_VENDOR",
    "Severity",
    "cef_escape_header",
    "cef_escape_value",
    "leef_clean_header",
    "leef_clean_value",
    "render_cef",
    "render_leef",
    "severity_of",
    "shorten",
]

CEF_VENDOR = "s1-dv-connector"
CEF_PRODUCT = "S1 Connector"
# Parsers (ArcSight, QRadar DSMs) key on vendor and product: never change these two.
_HEADER_CAPS = {"vendor": 63, "product": 63, "version": 31, "class": 1023, "name": 512}
_LEEF_DELIMITER = "\t"
_LEEF_TIME_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"


@dataclass(frozen=True)
class Severity:
    label: str
    cef: int
    leef: int
    syslog: int


_SEVERITIES = {
    s.label: s
    for s in (
        Severity("critical", 10, 10, 2),
        Severity("high", 8, 8, 3),
        Severity("medium", 5, 5, 4),
        Severity("low", 3, 3, 5),
        Severity("test", 1, 1, 6),
    )
}


def severity_of(alert: Mapping[str, Any]) -> Severity:
    """The severity row for an alert: `test` when tagged so, else by `rule.severity`."""
    if "test" in (alert.get("tags") or []):
        return _SEVERITIES["test"]
    label = str((alert.get("rule") or {}).get("severity", "")).strip().lower()
    return _SEVERITIES.get(label, _SEVERITIES["medium"])


# --- escaping -----------------------------------------------------------------------------

_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_CONTROLS_BUT_CRLF = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


def shorten(text: str, max_chars: int | None) -> str:
    """Cut to `max_chars` characters, the last being `…`; None means no limit."""
    if max_chars is None or len(text) <= max_chars:
        return text
    return text[: max(max_chars - 1, 0)] + "…"


def cef_escape_header(text: str) -> str:
    """CEF header field: backslash first, then pipe; line breaks and controls become spaces."""
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return _CONTROLS.sub(" ", text)


def cef_escape_value(text: str) -> str:
    """CEF extension value: trim, then escape backslash, `=`, CR and LF; other controls → space."""
    text = _CONTROLS_BUT_CRLF.sub(" ", text).strip(" ")
    text = text.replace("\\", "\\\\").replace("=", "\\=")
    return text.replace("\r", "\\r").replace("\n", "\\n")


def leef_clean_header(text: str) -> str:
    """LEEF header field: no escaping exists, so `|` becomes `_` and controls spaces."""
    return _CONTROLS.sub(" ", text).replace("|", "_")


def leef_clean_value(text: str) -> str:
    """LEEF value: the tab delimiter, CR, LF and other controls become spaces."""
    return _CONTROLS.sub(" ", text)


# --- field extraction ---------------------------------------------------------------------


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(_text(item) for item in value)
    return str(value)


def _epoch_ms(value: Any) -> str:
    moment = to_datetime(value)
    return str(to_epoch_ms(moment)) if moment is not None else ""


def _iso(value: Any) -> str:
    moment = to_datetime(value)
    return format_utc(moment) if moment is not None else ""


def _techniques(alert: Mapping[str, Any]) -> str:
    ids: list[str] = []
    for entry in alert.get("threat") or []:
        for technique in entry.get("technique") or []:
            ids.append(_text(technique.get("id")))
            ids.extend(_text(sub.get("id")) for sub in technique.get("subtechnique") or [])
    return ",".join(dict.fromkeys(i for i in ids if i))


def _category(alert: Mapping[str, Any]) -> str:
    for entry in alert.get("threat") or []:
        name = _text((entry.get("tactic") or {}).get("name"))
        if name:
            return name
    return "alert"


def _user(flat: Mapping[str, Any]) -> str:
    name, domain = _text(flat.get("user.name")), _text(flat.get("user.domain"))
    return f"{domain}\\{name}" if name and domain else name


def _direction(flat: Mapping[str, Any]) -> str:
    return {"egress": "1", "outbound": "1", "ingress": "0", "inbound": "0"}.get(
        _text(flat.get("network.direction")).lower(), ""
    )


@dataclass(frozen=True)
class _Fields:
    """The values both formats draw from, as plain text."""

    flat: Mapping[str, Any]
    alert: Mapping[str, Any]

    def get(self, key: str) -> str:
        return _text(self.flat.get(key))

    @property
    def event_count(self) -> str:
        sequence = self.alert.get("sequence") or {}
        events = sequence.get("events")
        if isinstance(events, list):
            return str(len(events))
        count = sequence.get("event_count")  # a shrunk alert keeps only the count
        return str(count) if isinstance(count, int) else ""

    @property
    def proto(self) -> str:
        return (self.get("network.transport") or self.get("network.protocol")).upper()

    @property
    def parent(self) -> str:
        return self.get("process.parent.executable") or self.get("process.parent.name")


def _fields(alert: Mapping[str, Any]) -> _Fields:
    return _Fields(flatten(alert), alert)


# --- CEF ----------------------------------------------------------------------------------


def _rule_source(f: _Fields) -> str:
    """Licence and source link of the rule (`DRL-1.1 https://…`), when the rule has them."""
    if not f.get("rule.author"):
        return ""
    return " ".join(part for part in (f.get("rule.license"), f.get("rule.reference")) if part)


_CEF_LABELLED: tuple[tuple[str, str, Callable[[_Fields], str]], ...] = (
    ("cs1", "commandLine", lambda f: f.get("process.command_line")),
    ("cs2", "parentProcess", lambda f: f.parent),
    ("cs3", "mitreTechnique", lambda f: _techniques(f.alert)),
    ("cs4", "site", lambda f: f.get("sentinel_one.site.id")),
    ("cs5", "storylineId", lambda f: f.get("sentinel_one.storyline.id")),
    ("cs6", "consoleUrl", lambda f: f.get("sentinel_one.console_url")),
    ("cn1", "riskScore", lambda f: f.get("event.risk_score")),
    # Sigma rules: DRL 1.1 asks every alert to name the rule's author and link its source.
    ("flexString1", "ruleAuthor", lambda f: f.get("rule.author")),
    ("flexString2", "ruleSource", _rule_source),
)


def _cef_pairs(f: _Fields) -> Iterable[tuple[str, str]]:
    yield "rt", _epoch_ms(f.flat.get("event.created"))
    yield "start", _epoch_ms(f.flat.get("event.start"))
    yield "end", _epoch_ms(f.flat.get("event.end"))
    yield "externalId", f.get("event.id")
    yield "cnt", f.event_count
    yield "cat", _category(f.alert)
    yield "msg", f.get("message")
    yield "deviceExternalId", f.get("host.id")
    yield "shost", f.get("host.name")
    yield "src", f.get("source.ip")
    yield "spt", f.get("source.port")
    yield "suser", _user(f.flat)
    yield "sproc", f.get("process.name")
    yield "spid", f.get("process.pid")
    yield "filePath", f.get("process.executable")
    yield "fileHash", f.get("process.hash.sha256")
    yield "dst", f.get("destination.ip")
    yield "dpt", f.get("destination.port")
    yield "dhost", f.get("destination.domain")
    yield "proto", f.proto
    yield "deviceDirection", _direction(f.flat)
    for key, label, getter in _CEF_LABELLED:
        value = getter(f)
        if cef_escape_value(value):
            yield f"{key}Label", label
            yield key, value


def render_cef(alert: Mapping[str, Any]) -> str:
    """One CEF:0 line for the alert (no syslog header). Deterministic."""
    f = _fields(alert)
    header = [
        shorten(CEF_VENDOR, _HEADER_CAPS["vendor"]),
        shorten(CEF_PRODUCT, _HEADER_CAPS["product"]),
        shorten(__version__, _HEADER_CAPS["version"]),
        f.get("rule.id")[: _HEADER_CAPS["class"]],
        cut_middle(f.get("rule.name"), _HEADER_CAPS["name"]),
    ]
    escaped = [cef_escape_header(part) for part in header]
    escaped.append(str(severity_of(alert).cef))
    extension = " ".join(
        f"{key}={value}" for key, raw in _cef_pairs(f) if (value := cef_escape_value(raw))
    )
    return "CEF:0|" + "|".join(escaped) + "|" + extension


# --- LEEF ---------------------------------------------------------------------------------


def _leef_pairs(f: _Fields, alert: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    yield "devTime", _iso(f.flat.get("event.created"))
    yield "devTimeFormat", _LEEF_TIME_FORMAT
    yield "sev", str(severity_of(alert).leef)
    yield "cat", _category(alert)
    yield "alertId", f.get("event.id")
    yield "ruleName", f.get("rule.name")
    yield "reason", f.get("message")
    yield "eventCount", f.event_count
    yield "hostName", f.get("host.name")
    yield "agentId", f.get("host.id")
    yield "usrName", _user(f.flat)
    yield "src", f.get("source.ip")
    yield "srcPort", f.get("source.port")
    yield "dst", f.get("destination.ip")
    yield "dstPort", f.get("destination.port")
    yield "proto", f.proto
    yield "processName", f.get("process.name")
    yield "processId", f.get("process.pid")
    yield "commandLine", f.get("process.command_line")
    yield "parentProcess", f.parent
    yield "sha256", f.get("process.hash.sha256")
    yield "mitreTechnique", _techniques(alert)
    yield "site", f.get("sentinel_one.site.id")
    yield "storylineId", f.get("sentinel_one.storyline.id")
    yield "consoleUrl", f.get("sentinel_one.console_url")
    yield "riskScore", f.get("event.risk_score")
    yield "ruleAuthor", f.get("rule.author")
    yield "ruleLicense", f.get("rule.license")
    if f.get("rule.author"):
        yield "ruleReference", f.get("rule.reference")


def render_leef(alert: Mapping[str, Any]) -> str:
    """One LEEF:2.0 line (tab-delimited, declared as `x09`) for the alert. Deterministic."""
    f = _fields(alert)
    header = [CEF_VENDOR, CEF_PRODUCT, __version__, f.get("rule.id")]
    cleaned = [leef_clean_header(part) for part in header]
    pairs = _LEEF_DELIMITER.join(
        f"{key}={value}" for key, raw in _leef_pairs(f, alert) if (value := leef_clean_value(raw))
    )
    return "LEEF:2.0|" + "|".join(cleaned) + "|x09|" + pairs
