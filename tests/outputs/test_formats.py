"""CEF, LEEF and RFC 5424 rendering: golden files, escaping rules, and injection properties.

The injection properties parse every rendered message back with the independent parsers in
`parsers.py` and check that hostile text in any alert field yields exactly one message with
exactly the expected fields and values (after the documented normalisation: control
characters that a format cannot carry become spaces; CEF trims values).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.ecsutil import nest
from connector.outputs.formats import (
    cef_escape_header,
    cef_escape_value,
    leef_clean_value,
    render_cef,
    render_leef,
    severity_of,
)
from connector.outputs.shrink import cut_middle
from connector.outputs.syslog_format import SyslogFormatter, frame_lf, frame_octet, sd_value
from tests.outputs.golden import RENDERERS, cases, expected_path, load_alert
from tests.outputs.parsers import parse_5424, parse_cef, parse_leef, split_octet_frames

BIG = 10_000_000

# --- golden files ---------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "renderer"), cases())
def test_golden(case: str, renderer: str) -> None:
    expected = expected_path(case, renderer).read_bytes()
    assert RENDERERS[renderer](load_alert(case)) == expected


def test_there_are_golden_cases_for_every_format() -> None:
    covered = {renderer for _, renderer in cases()}
    assert {
        "cef",
        "leef",
        "rfc5424-json",
        "rfc5424-cef",
        "rfc3164-leef",
        "slack",
        "teams",
    } <= covered
    assert {case for case, _ in cases()} >= {"seed", "hostile"}


# --- escaping tables ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("a|b", "a|b"),
        ("a=b", "a\\=b"),
        ("a\\b", "a\\\\b"),
        ("\\=", "\\\\\\="),
        ("l1\nl2\r", "l1\\nl2\\r"),
        ("tab\there", "tab here"),
        ("nul\x00x", "nul x"),
        ("  padded  ", "padded"),
        ("ünï 日本", "ünï 日本"),
    ],
)
def test_cef_extension_escaping(raw: str, escaped: str) -> None:
    assert cef_escape_value(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [("a|b", "a\\|b"), ("a\\b", "a\\\\b"), ("a=b", "a=b"), ("l1\nl2", "l1 l2"), ("\\|", "\\\\\\|")],
)
def test_cef_header_escaping(raw: str, escaped: str) -> None:
    assert cef_escape_header(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "clean"), [("a\tb", "a b"), ("a\r\nb", "a  b"), ("a|b=c\\", "a|b=c\\"), (" x ", " x ")]
)
def test_leef_values_have_no_escaping_only_replacements(raw: str, clean: str) -> None:
    assert leef_clean_value(raw) == clean


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ('a"b', 'a\\"b'),
        ("a]b", "a\\]b"),
        ("a\\b", "a\\\\b"),
        ("a\nb", "a b"),
        ("a" * 150 + "x" * 150, "a" * 127 + "…" + "x" * 128),
    ],
)
def test_sd_value_escaping(raw: str, escaped: str) -> None:
    assert sd_value(raw) == escaped


@pytest.mark.parametrize(
    ("severity", "tags", "cef", "leef", "syslog"),
    [
        ("critical", [], 10, 10, 2),
        ("high", [], 8, 8, 3),
        ("medium", [], 5, 5, 4),
        ("low", [], 3, 3, 5),
        ("LOW", [], 3, 3, 5),
        ("low", ["test"], 1, 1, 6),
        ("unheard-of", [], 5, 5, 4),
    ],
)
def test_severity_mapping(severity: str, tags: list[str], cef: int, leef: int, syslog: int) -> None:
    row = severity_of({"rule": {"severity": severity}, "tags": tags})
    assert (row.cef, row.leef, row.syslog) == (cef, leef, syslog)


def test_pri_combines_facility_and_severity(alert: dict[str, Any]) -> None:
    message = SyslogFormatter(hostname="h", facility=4, max_bytes=BIG).render(alert)
    assert parse_5424(message).pri == 4 * 8 + 5  # low → notice


def test_header_fields_are_sanitised() -> None:
    formatter = SyslogFormatter(
        hostname="bad host\nname", app_name="", sd_id='x y="]', max_bytes=BIG
    )
    parsed = parse_5424(formatter.render({"event": {"id": "1"}}))
    assert (parsed.hostname, parsed.app_name, parsed.sd_id) == ("bad_host_name", "-", "xy")
    assert parsed.timestamp == "-"


# --- injection properties -----------------------------------------------------------------

_HOSTILE = [
    "\n",
    "\r",
    "\r\n",
    "|",
    "=",
    "\\",
    "]",
    '"',
    "\x00",
    "\t",
    " ",
    "ü",
    "日本",
    "\\=",
    "<134>1 ",
    "CEF:0|",
    "key=",
    "\u2028",
    "\x7f",
    '[x@1 a="b"]',
]
hostile_text = st.lists(st.one_of(st.sampled_from(_HOSTILE), st.text(max_size=8)), max_size=12).map(
    "".join
)

_FIELDS = (
    "rule.id",
    "rule.name",
    "host.name",
    "host.id",
    "user.name",
    "user.domain",
    "process.name",
    "process.command_line",
    "process.executable",
    "process.parent.executable",
    "destination.domain",
    "message",
    "sentinel_one.site.id",
    "sentinel_one.storyline.id",
    "event.id",
)
hostile_alert = st.fixed_dictionaries(dict.fromkeys(_FIELDS, hostile_text))


def _alert(values: dict[str, str]) -> dict[str, Any]:
    flat = {
        "@timestamp": "2026-11-20T10:15:06.070Z",
        "event.kind": "alert",
        "event.created": "2026-11-20T10:15:02.125Z",
        "event.risk_score": 21,
        "rule.severity": "high",
        "destination.ip": "203.0.113.9",
        "destination.port": 443,
        **values,
    }
    return nest(flat)


def _cef_norm(text: str) -> str:
    return re.sub(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]", " ", text).strip(" ")


def _spaces(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


_CEF_FIELDS = {
    "shost": "host.name",
    "deviceExternalId": "host.id",
    "sproc": "process.name",
    "cs1": "process.command_line",
    "filePath": "process.executable",
    "cs2": "process.parent.executable",
    "dhost": "destination.domain",
    "msg": "message",
    "cs4": "sentinel_one.site.id",
    "cs5": "sentinel_one.storyline.id",
    "externalId": "event.id",
}
_CEF_KNOWN = set(_CEF_FIELDS) | {
    "rt",
    "cnt",
    "cat",
    "suser",
    "dst",
    "dpt",
    "cn1",
    "cn1Label",
    "cs1Label",
    "cs2Label",
    "cs4Label",
    "cs5Label",
}


def _check_cef(line: str, values: dict[str, str]) -> None:
    cef = parse_cef(line)
    assert cef.header[4] == _spaces(values["rule.id"])
    assert cef.header[5] == _spaces(values["rule.name"])
    assert cef.header[6] == "8"
    assert set(cef.extension) <= _CEF_KNOWN, set(cef.extension) - _CEF_KNOWN
    for key, field in _CEF_FIELDS.items():
        expected = _cef_norm(values[field])
        assert cef.extension.get(key, "") == expected, (key, field)
    user, domain = values["user.name"], values["user.domain"]
    assert cef.extension.get("suser", "") == _cef_norm(
        f"{domain}\\{user}" if user and domain else user
    )


_LEEF_FIELDS = {
    "hostName": "host.name",
    "agentId": "host.id",
    "processName": "process.name",
    "commandLine": "process.command_line",
    "parentProcess": "process.parent.executable",
    "reason": "message",
    "ruleName": "rule.name",
    "site": "sentinel_one.site.id",
    "storylineId": "sentinel_one.storyline.id",
    "alertId": "event.id",
}
_LEEF_KNOWN = set(_LEEF_FIELDS) | {
    "devTime",
    "devTimeFormat",
    "sev",
    "cat",
    "usrName",
    "dst",
    "dstPort",
    "riskScore",
}


def _check_leef(line: str, values: dict[str, str]) -> None:
    leef = parse_leef(line)
    assert leef.header[3] == _spaces(values["rule.id"]).replace("|", "_")
    assert set(leef.attributes) <= _LEEF_KNOWN, set(leef.attributes) - _LEEF_KNOWN
    for key, field in _LEEF_FIELDS.items():
        assert leef.attributes.get(key, "") == _spaces(values[field]), (key, field)


def _sd_expected(text: str) -> str:
    return cut_middle(_spaces(text), 256)


def _check_5424(message: bytes, alert: dict[str, Any], values: dict[str, str]) -> None:
    assert b"\n" not in message and b"\r" not in message
    parsed = parse_5424(message)
    assert parsed.msgid == "ALERT" and parsed.sd_id == "alert@32473"
    expected = {
        "id": _sd_expected(values["event.id"]),
        "rule": _sd_expected(values["rule.id"]),
        "severity": "high",
        "host": _sd_expected(values["host.name"]),
        "agentId": _sd_expected(values["host.id"]),
        "riskScore": "21",
    }
    assert parsed.sd == {k: v for k, v in expected.items() if v}
    assert json.loads(parsed.msg) == alert


@settings(max_examples=120, deadline=None)
@given(hostile_alert)
def test_cef_parses_back_to_the_same_fields(values: dict[str, str]) -> None:
    _check_cef(render_cef(_alert(values)), values)


@settings(max_examples=120, deadline=None)
@given(hostile_alert)
def test_leef_parses_back_to_the_same_fields(values: dict[str, str]) -> None:
    _check_leef(render_leef(_alert(values)), values)


@settings(max_examples=120, deadline=None)
@given(hostile_alert)
def test_rfc5424_parses_back_to_one_message_with_the_same_values(values: dict[str, str]) -> None:
    alert = _alert(values)
    _check_5424(SyslogFormatter(hostname="h", max_bytes=BIG).render(alert), alert, values)
    cef_message = SyslogFormatter(hostname="h", payload="cef", max_bytes=BIG).render(alert)
    _check_cef(parse_5424(cef_message).msg.decode("utf-8"), values)


@settings(max_examples=60, deadline=None)
@given(st.lists(hostile_alert, min_size=1, max_size=8), st.sampled_from(["json", "cef", "leef"]))
def test_a_stream_of_messages_splits_back_into_the_same_messages(
    batch: list[dict[str, str]], payload: str
) -> None:
    formatter = SyslogFormatter(hostname="h", payload=payload, max_bytes=BIG)  # type: ignore[arg-type]
    messages = [formatter.render(_alert(values)) for values in batch]
    assert split_octet_frames(b"".join(frame_octet(m) for m in messages)) == messages
    lf_stream = b"".join(frame_lf(m) for m in messages)
    assert lf_stream.split(b"\n")[:-1] == messages  # nothing to replace: no raw LF inside


_HUGE = ('A\n|=\\]"\x00ü\t' * 10_000)[:100_000]


@pytest.mark.parametrize("field", ["process.command_line", "host.name", "rule.name", "message"])
def test_100_kb_values_round_trip_in_every_format(field: str) -> None:
    values = {name: f"v-{name}" for name in _FIELDS} | {field: _HUGE}
    if field == "rule.name":
        values[field] = _HUGE[:500]  # CEF caps the header Name at 512 characters
    alert = _alert(values)
    _check_cef(render_cef(alert), values)
    _check_leef(render_leef(alert), values)
    _check_5424(SyslogFormatter(hostname="h", max_bytes=BIG).render(alert), alert, values)


def test_cef_header_name_is_capped(alert: dict[str, Any]) -> None:
    alert["rule"]["name"] = "N" * 2000
    assert parse_cef(render_cef(alert)).header[5] == "N" * 255 + "…" + "N" * 256
