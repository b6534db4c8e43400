"""Syslog message text: RFC 5424 and RFC 3164 headers, structured data, framing. No I/O.

RFC 5424 (default):

    <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD-ID id=".." rule=".." ...] MSG

| field     | value                                                                          |
|-----------|--------------------------------------------------------------------------------|
| PRI       | facility × 8 + severity (`formats.severity_of`)                                |
| TIMESTAMP | the alert's `event.created` (UTC, ms, `Z`), so re-rendering gives the same bytes |
| HOSTNAME  | the connector's host name (the endpoint goes in SD `host` and the payload)     |
| APP-NAME  | `app_name` (`s1-connector`)                                                    |
| PROCID    | `-`: a run PID would make a re-render differ, and the outbox re-sends bytes    |
| MSGID     | `ALERT`, or `TEST` for the `check --send-test` alert                           |
| SD        | `id`, `rule`, `severity`, `host`, `agentId`, `riskScore` (+ `truncated`, `origLen`) |
| MSG       | the payload: JSON, CEF or LEEF (optionally after a UTF-8 BOM); JSON is the     |
|           | compact document (`shrink.compact`) unless `document="full"`                   |

Header fields keep only ASCII 33–126 (others become `_`), are cut to their RFC caps, and are
`-` when empty. SD values turn control characters into spaces, are capped at 256 characters and
escape `\\`, `"` and `]` (RFC 5424 §6.3.3). RFC 3164 is `<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`
in UTC with the short host name; it has no structured data, so a shrunk message is only logged.

Size: a message over `max_bytes` is shrunk (see `connector.outputs.shrink`) and marked
`truncated="1" origLen="<bytes>"` in the SD; with `shrink=False` it is returned whole and the
sender rejects it. A message is never split.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from connector.logsetup import once
from connector.outputs.formats import render_cef, render_leef, severity_of
from connector.outputs.shrink import (
    STEPS,
    Step,
    compact,
    cut_middle,
    cut_rendered,
    degrade,
    json_bytes,
    utf8,
)
from connector.timeutil import format_utc, to_datetime

__all__ = [
    "SyslogFormatter",
    "frame_lf",
    "frame_octet",
    "header_field",
    "sd_name",
    "sd_value",
]

log = logging.getLogger(__name__)

_BOM = b"\xef\xbb\xbf"
_NOT_PRINTUSASCII = re.compile(r"[^\x21-\x7e]")
_NOT_SD_NAME = re.compile(r'[^\x21-\x7e]|[= \]"]')
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
_NOT_TAG = re.compile(r"[^A-Za-z0-9_.-]")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_SD_VALUE_CHARS = 256
_SD_IDS = frozenset({"id", "rule"})

Payload = Literal["json", "cef", "leef"]
_PAYLOADS: dict[str, Callable[[Mapping[str, Any]], bytes]] = {
    "json": json_bytes,
    "cef": lambda alert: utf8(render_cef(alert)),
    "leef": lambda alert: utf8(render_leef(alert)),
}


def header_field(text: str, cap: int) -> str:
    """An RFC 5424 header field: ASCII 33–126 only, at most `cap` characters, never empty."""
    return _NOT_PRINTUSASCII.sub("_", text)[:cap] or "-"


def sd_name(text: str, cap: int = 32) -> str:
    """An SD-ID or PARAM-NAME: names cannot be escaped, so forbidden characters are dropped."""
    return _NOT_SD_NAME.sub("", text)[:cap]


def sd_value(text: str, cap: int = _SD_VALUE_CHARS) -> str:
    """An SD PARAM-VALUE: controls → space, capped (from the middle), then `\\`, `"` and `]`
    escaped."""
    text = cut_middle(_CONTROLS.sub(" ", text), cap)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def frame_octet(message: bytes) -> bytes:
    """RFC 6587 octet counting: `LEN SP MSG`; survives any byte inside the message."""
    return str(len(message)).encode("ascii") + b" " + message


def frame_lf(message: bytes) -> bytes:
    """LF framing: CR and LF inside the message become spaces, then one LF ends it."""
    return message.replace(b"\r", b" ").replace(b"\n", b" ") + b"\n"


def _created(alert: Mapping[str, Any]) -> datetime | None:
    event = alert.get("event") or {}
    return to_datetime(event.get("created")) or to_datetime(alert.get("@timestamp"))


def _is_test(alert: Mapping[str, Any]) -> bool:
    return "test" in (alert.get("tags") or [])


@dataclass(frozen=True)
class SyslogFormatter:
    """Renders an alert into one syslog message (bytes, unframed). Deterministic."""

    hostname: str
    payload: Payload = "json"
    format: Literal["rfc5424", "rfc3164"] = "rfc5424"
    facility: int = 16
    app_name: str = "s1-connector"
    sd_id: str = "alert@32473"
    bom: bool = False
    max_bytes: int = 8192
    shrink: bool = True
    document: Literal["compact", "full"] = "compact"

    def render(self, alert: Mapping[str, Any]) -> bytes:
        """The message; shrunk and marked when over `max_bytes` (see the module docstring)."""
        if self.payload == "json" and self.document == "compact":
            alert = compact(alert)
        full = self._build(alert, None, None)
        if len(full) <= self.max_bytes or not self.shrink:
            return full
        candidate = full
        for step in STEPS:
            candidate = self._build(alert, step, len(full))
            if len(candidate) <= self.max_bytes:
                log.warning(
                    "alert %s: syslog message of %d bytes shrunk to %d (max_message_bytes %d)",
                    _alert_id(alert),
                    len(full),
                    len(candidate),
                    self.max_bytes,
                    extra=once(f"syslog-shrunk-{self.max_bytes}-{self.payload}"),
                )
                return candidate
        log.warning(
            "alert %s: syslog message does not fit %d bytes even shrunk (%d bytes)",
            _alert_id(alert),
            self.max_bytes,
            len(candidate),
        )
        return candidate

    def _build(self, alert: Mapping[str, Any], step: Step | None, orig: int | None) -> bytes:
        body = _PAYLOADS[self.payload](degrade(alert, step))
        if self.format == "rfc3164":
            return self._header_3164(alert) + body
        bom = _BOM if self.bom else b""
        return self._header_5424(alert, step, orig) + b" " + bom + body

    def _pri(self, alert: Mapping[str, Any]) -> str:
        return f"<{self.facility * 8 + severity_of(alert).syslog}>"

    def _header_5424(self, alert: Mapping[str, Any], step: Step | None, orig: int | None) -> bytes:
        created = _created(alert)
        fields = [
            self._pri(alert) + "1",
            format_utc(created) if created else "-",
            header_field(self.hostname, 255),
            header_field(self.app_name, 48),
            "-",
            "TEST" if _is_test(alert) else "ALERT",
            self._structured_data(alert, step, orig),
        ]
        return utf8(" ".join(fields))

    def _structured_data(
        self, alert: Mapping[str, Any], step: Step | None, orig: int | None
    ) -> str:
        params = _sd_params(alert)
        if orig is not None:
            params += [("truncated", "1"), ("origLen", str(orig))]
        # A shrunk message caps SD host names too, in rendered bytes like the payload's
        # strings (the ids are never cut).
        cap = None if step is None else (step.names or 64)
        body = "".join(
            f' {name}="{sd_value(value if name in _SD_IDS else cut_rendered(value, cap))}"'
            for name, value in params
            if value
        )
        return f"[{sd_name(self.sd_id) or 'alert'}{body}]"

    def _header_3164(self, alert: Mapping[str, Any]) -> bytes:
        created = _created(alert)
        stamp = (
            f"{_MONTHS[created.month - 1]} {created.day:2d} {created:%H:%M:%S}"
            if created
            else "Jan  1 00:00:00"
        )
        host = header_field(self.hostname.split(".")[0], 255)
        tag = _NOT_TAG.sub("", self.app_name)[:32] or "s1-connector"
        return utf8(f"{self._pri(alert)}{stamp} {host} {tag}: ")


def _alert_id(alert: Mapping[str, Any]) -> str:
    return _str((alert.get("event") or {}).get("id")) or "?"


def _sd_params(alert: Mapping[str, Any]) -> list[tuple[str, str]]:
    host = alert.get("host") or {}
    rule = alert.get("rule") or {}
    event = alert.get("event") or {}
    return [
        ("id", _str(event.get("id"))),
        ("rule", _str(rule.get("id"))),
        ("severity", severity_of(alert).label),
        ("host", _str(host.get("name"))),
        ("agentId", _str(host.get("id"))),
        ("riskScore", _str(event.get("risk_score"))),
    ]


def _str(value: Any) -> str:
    return "" if value is None else str(value)
