"""Shrinking keeps identity and evidence: properties over hostile alerts of any size.

For every syslog format × payload × transport at its **default** size cap (and the webhook
ECS body at its 20 kB cap), a hostile alert — attacker text of any length in command lines,
paths, host and user names, descriptions, and any number of matched events — renders to a
message that fits, parses back with the independent parsers of `parsers.py`, and keeps:

* the full alert id, rule id, SHA-256 hashes, IP addresses and ports;
* every string either whole or cut from the middle, so both of its ends survive.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.config import SyslogOutputConfig
from connector.ecsutil import flatten, nest
from connector.outputs.formats import (
    cef_escape_header,
    cef_escape_value,
    leef_clean_header,
    leef_clean_value,
)
from connector.outputs.shrink import (
    MARKER,
    STEPS,
    compact,
    cut_middle,
    cut_rendered,
    degrade,
    rendered_size,
)
from connector.outputs.syslog import SyslogOutput
from connector.outputs.syslog_format import sd_value
from connector.outputs.templates import TEMPLATE_CAPS, render_body
from tests.outputs.parsers import parse_5424, parse_cef, parse_leef

HOST = "conn01.example.net"
# Every limit a string may be cut to: the shrink steps (rendered bytes), SD values (256
# characters), CEF Name (512 characters).
_LIMITS = (16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_CUTS = (cut_middle, cut_rendered)

_hostile_chars = st.characters(codec="utf-8", exclude_categories=["Cs"])
_hostile_base = st.text(_hostile_chars, max_size=60) | st.sampled_from(
    ['cmd.exe /c "echo | fake=1 \\ ] \n', "\t\r\n\x00", "ü…ß€", "= \\= |", '"]\\']
)


@st.composite
def hostile_text(draw: st.DrawFn, max_repeat: int = 500) -> str:
    """Attacker text: short, or repeated up to tens of kB, usually ending in an 'IOC'."""
    base = draw(_hostile_base)
    repeat = draw(st.integers(0, max_repeat) | st.just(1))
    tail = draw(st.sampled_from(["", " https://203.0.113.9/payload.ps1", " key=1 | iex"]))
    return base * repeat + tail


def _hex_string(length: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789abcdef", min_size=length, max_size=length)


_ips = st.ip_addresses().map(str)
_ports = st.integers(0, 65535)
_rule_ids = st.uuids().map(str) | st.from_regex(r"[a-z][a-z0-9_-]{2,40}", fullmatch=True)


@st.composite
def hostile_alerts(draw: st.DrawFn) -> dict[str, Any]:
    """A nested alert document with hostile text everywhere an attacker reaches."""
    flat: dict[str, Any] = {
        "@timestamp": "2026-11-20T10:15:06.070Z",
        "message": draw(hostile_text()),
        "tags": draw(st.lists(hostile_text(max_repeat=20), max_size=5)),
        "event.kind": "alert",
        "event.id": draw(_hex_string(64)),
        "event.created": "2026-11-20T10:15:02.125Z",
        "event.start": "2026-11-20T10:15:01.870Z",
        "event.end": "2026-11-20T10:15:06.070Z",
        "event.risk_score": 73,
        "rule.id": draw(_rule_ids),
        "rule.name": draw(st.text(_hostile_chars, min_size=1, max_size=200)),
        "rule.severity": draw(st.sampled_from(["low", "medium", "high", "critical"])),
        "rule.description": draw(hostile_text()),
        "rule.reference": draw(hostile_text(max_repeat=50)),
        "host.name": draw(st.text(_hostile_chars, min_size=1, max_size=255)),
        "host.id": draw(_hex_string(32)),
        "user.name": draw(st.text(_hostile_chars, max_size=64)),
        "user.domain": draw(st.text(_hostile_chars, max_size=32)),
        "process.pid": draw(st.integers(0, 2**31)),
        "process.name": draw(hostile_text(max_repeat=30)),
        "process.executable": draw(hostile_text(max_repeat=100)),
        "process.command_line": draw(hostile_text()),
        "process.args": draw(st.lists(hostile_text(max_repeat=50), max_size=20)),
        "process.hash.sha256": draw(_hex_string(64)),
        "process.hash.sha1": draw(_hex_string(40)),
        "process.hash.md5": draw(_hex_string(32)),
        "process.parent.executable": draw(hostile_text(max_repeat=100)),
        "process.parent.hash.sha256": draw(_hex_string(64)),
        "source.ip": draw(_ips),
        "source.port": draw(_ports),
        "destination.ip": draw(_ips),
        "destination.port": draw(_ports),
        "destination.domain": draw(hostile_text(max_repeat=50)),
        "sentinel_one.storyline.id": draw(_hex_string(16)),
    }
    alert = nest(flat)
    events = draw(st.integers(0, 300))
    alert["sequence"] = {
        "join_key": [draw(_hex_string(16))],
        "events": [
            {
                "@timestamp": "2026-11-20T10:15:01.870Z",
                "event": {"id": f"6495684009316{i:05d}"},
                "process": {"command_line": flat["process.command_line"]},
            }
            for i in range(events)
        ],
    }
    return alert


# --- what "kept" means ----------------------------------------------------------------------


def _spaces(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", " ", text)


def _cef_norm(text: str) -> str:
    return re.sub(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]", " ", text).strip(" ")


def _same_or_cut(value: str, original: str, norm: Callable[[str], str]) -> bool:
    """`value` is the original (normalised as the format does) or a middle cut of it."""
    if value == norm(original):
        return True
    return any(
        MARKER in value and value == norm(cut(original, n)) for n in _LIMITS for cut in _CUTS
    )


def _check_json(doc: dict[str, Any], alert: dict[str, Any]) -> None:
    flat, original = flatten(doc), flatten(alert)
    for key in ("event.id", "rule.id", "process.hash.sha256", "source.ip", "destination.ip"):
        assert flat[key] == original[key], key
    for key in ("source.port", "destination.port", "@timestamp", "event.created"):
        assert flat[key] == original[key], key
    for key, value in flat.items():
        if isinstance(value, str) and isinstance(original.get(key), str):
            assert _same_or_cut(value, original[key], lambda t: t), key


def _check_cef(line: str, alert: dict[str, Any]) -> None:
    cef, flat = parse_cef(line), flatten(alert)
    assert cef.header[4] == flat["rule.id"]
    ext = cef.extension
    assert ext["externalId"] == flat["event.id"]
    assert ext["fileHash"] == flat["process.hash.sha256"]
    assert (ext["src"], ext["dst"]) == (flat["source.ip"], flat["destination.ip"])
    assert (ext["spt"], ext["dpt"]) == (str(flat["source.port"]), str(flat["destination.port"]))
    pairs = {"cs1": "process.command_line", "filePath": "process.executable", "shost": "host.name"}
    for key, field in pairs.items():
        if key in ext:
            assert _same_or_cut(ext[key], flat[field], _cef_norm), key
    assert _same_or_cut(cef.header[5], flat["rule.name"], _spaces)


def _check_leef(line: str, alert: dict[str, Any]) -> None:
    leef, flat = parse_leef(line), flatten(alert)
    attrs = leef.attributes
    assert leef.header[3] == flat["rule.id"]
    assert attrs["alertId"] == flat["event.id"]
    assert attrs["sha256"] == flat["process.hash.sha256"]
    assert (attrs["src"], attrs["dst"]) == (flat["source.ip"], flat["destination.ip"])
    ports = (attrs["srcPort"], attrs["dstPort"])
    assert ports == (str(flat["source.port"]), str(flat["destination.port"]))
    pairs = {"commandLine": "process.command_line", "hostName": "host.name"}
    for key, field in pairs.items():
        if key in attrs:
            assert _same_or_cut(attrs[key], flat[field], _spaces), key


def _payload(message: bytes, fmt: str) -> bytes:
    if fmt == "rfc3164":
        return message.split(b" s1-connector: ", 1)[1]
    parsed = parse_5424(message)
    return parsed.msg


_COMBOS = [
    (fmt, payload, transport)
    for fmt in ("rfc5424", "rfc3164")
    for payload in ("json", "cef", "leef")
    for transport in ("udp", "tcp", "tls")
]


@pytest.mark.parametrize(("fmt", "payload", "transport"), _COMBOS)
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert=hostile_alerts())
def test_every_syslog_default_keeps_ids_hashes_ips_and_both_ends(
    alert: dict[str, Any], fmt: str, payload: str, transport: str
) -> None:
    config = SyslogOutputConfig.model_validate(
        {"type": "syslog", "name": "s", "host": "h", "transport": transport}
        | {"format": fmt, "payload": payload}
    )
    message = SyslogOutput(config, hostname=HOST).render(alert)
    assert len(message) <= config.effective_max_bytes
    body = _payload(message, fmt)
    if fmt == "rfc5424":
        sd = parse_5424(message).sd
        assert (sd["id"], sd["rule"]) == (alert["event"]["id"], alert["rule"]["id"])
    if payload == "json":
        _check_json(json.loads(body), alert)
    elif payload == "cef":
        _check_cef(body.decode("utf-8"), alert)
    else:
        _check_leef(body.decode("utf-8"), alert)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alert=hostile_alerts())
def test_webhook_ecs_body_keeps_ids_hashes_ips_and_both_ends(alert: dict[str, Any]) -> None:
    body = render_body("ecs", alert)
    assert len(body) <= TEMPLATE_CAPS["ecs"]
    _check_json(json.loads(body)["data"], alert)


@given(text=st.text(min_size=0, max_size=500), limit=st.integers(32, 600))
def test_cut_middle_keeps_both_ends(text: str, limit: int) -> None:
    out = cut_middle(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
    else:
        cut = (limit - len(MARKER)) // 2
        head, marker, tail = out[:cut], out[cut], out[cut + 1 :]
        assert marker == MARKER and len(head) >= 15 and len(tail) >= 16
        assert text.startswith(head) and text.endswith(tail)


def test_the_demo_alert_is_not_shrunk_on_tcp_or_tls(alert: dict[str, Any]) -> None:
    """The compact JSON of a typical alert fits the 8 kB default with room to spare."""
    for transport in ("tcp", "tls"):
        config = SyslogOutputConfig(type="syslog", name="s", host="h", transport=transport)
        message = SyslogOutput(config, hostname=HOST).render(alert)
        assert b'truncated="1"' not in message
        assert len(message) < config.effective_max_bytes // 2
        doc = json.loads(parse_5424(message).msg)
        assert [e["event"]["id"] for e in doc["sequence"]["events"]] == [
            e["event"]["id"] for e in alert["sequence"]["events"]
        ]


def test_optional_detail_goes_before_any_string_is_cut(alert: dict[str, Any]) -> None:
    alert["rule"]["description"] = "d" * 5000
    first = degrade(alert, STEPS[0])
    assert "description" not in first["rule"]
    assert first["process"]["command_line"] == alert["process"]["command_line"]
    assert all(set(e) <= {"@timestamp", "event"} for e in first["sequence"]["events"])


def test_full_document_is_available_on_request(alert: dict[str, Any]) -> None:
    config = SyslogOutputConfig(type="syslog", name="s", host="h", transport="tcp", document="full")
    doc = json.loads(parse_5424(SyslogOutput(config, hostname=HOST).render(alert)).msg)
    assert doc["sequence"]["events"] == alert["sequence"]["events"]
    assert compact(alert)["sequence"]["events"] != alert["sequence"]["events"]


def test_a_sigma_rules_attribution_survives_every_step(alert: dict[str, Any]) -> None:
    """DRL 1.1: author, licence and source link stay, however small the message gets."""
    attribution = {
        "author": "Florian Roth (Nextron Systems)",
        "license": "DRL-1.1",
        "reference": "https://github.com/SigmaHQ/sigma/blob/master/rules/x.yml",
    }
    alert["rule"].update(attribution)
    alert["process"]["command_line"] = "x" * 20_000
    for step in STEPS[:-1]:  # all but the last resort, which may cut names too
        rule = degrade(alert, step)["rule"]
        assert {k: rule[k] for k in attribution} == attribution, step
    config = SyslogOutputConfig(type="syslog", name="s", host="h", transport="udp")
    doc = json.loads(parse_5424(SyslogOutput(config, hostname=HOST).render(alert)).msg)
    assert {k: doc["rule"][k] for k in attribution} == attribution
    plain = dict(alert, rule={k: v for k, v in alert["rule"].items() if k != "author"})
    assert "reference" not in degrade(plain, STEPS[0])["rule"]


# --- limits are rendered bytes, not characters ------------------------------------------------

# The alert a random seed found (rfc3164 + JSON over UDP came out at 1025 of 1024 bytes after
# the last step): names full of control characters (six bytes each as JSON `\u001f`) and
# characters outside the BMP (four UTF-8 bytes), while the steps cut by characters.
_SEED_ALERT: dict[str, Any] = {
    "@timestamp": "2026-11-20T10:15:06.070Z",
    "message": "",
    "tags": [],
    "event": {
        "kind": "alert",
        "id": "0" * 64,
        "created": "2026-11-20T10:15:02.125Z",
        "start": "2026-11-20T10:15:01.870Z",
        "end": "2026-11-20T10:15:06.070Z",
        "risk_score": 73,
    },
    "rule": {
        "id": "e3e70682-c209-4cac-629f-6fbed82c07cd",
        "name": "00000\x1f\x1f\x1f\x07\U00010000",
        "severity": "low",
        "description": "",
        "reference": "",
    },
    "host": {
        "name": '0000000000000000000"' + "\x1f" * 6 + "\u0800" * 2 + "\U00010000" * 3,
        "id": "0" * 32,
    },
    "user": {"name": "00000\x1f\x1f", "domain": "0" * 31},
    "process": {
        "pid": 0,
        "name": "0000\x1f\x070000\x1f\x07",
        "executable": "",
        "command_line": "000000000\x1f\x1f\x07\x07\u0800\U00010000\U00010000",
        "args": [],
        "hash": {"sha256": "0" * 64, "sha1": "0" * 40, "md5": "0" * 32},
        "parent": {"executable": "", "hash": {"sha256": "0" * 64}},
    },
    "source": {"ip": "0.0.0.0", "port": 0},
    "destination": {"ip": "10.10.100.100", "port": 0, "domain": "00"},
    "sentinel_one": {"storyline": {"id": "0" * 16}},
    "sequence": {"join_key": ["0" * 16], "events": []},
}


@pytest.mark.parametrize(("fmt", "payload", "transport"), _COMBOS)
def test_the_seed_alert_with_escaped_names_fits_every_default(
    fmt: str, payload: str, transport: str
) -> None:
    test_every_syslog_default_keeps_ids_hashes_ips_and_both_ends.hypothesis.inner_test(
        alert=json.loads(json.dumps(_SEED_ALERT)), fmt=fmt, payload=payload, transport=transport
    )


def _renders(text: str) -> dict[str, bytes]:
    """`text` as each payload renders a string value (without quotes or keys)."""
    return {
        "json": json.dumps(text, ensure_ascii=False).encode("utf-8")[1:-1],
        "cef header": cef_escape_header(text).encode("utf-8"),
        "cef value": cef_escape_value(text).encode("utf-8"),
        "leef header": leef_clean_header(text).encode("utf-8"),
        "leef value": leef_clean_value(text).encode("utf-8"),
        "sd value": sd_value(text, cap=len(text) + 1).encode("utf-8"),
    }


_any_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=300)


@given(text=_any_text)
def test_rendered_size_bounds_every_payloads_bytes(text: str) -> None:
    for name, rendered in _renders(text).items():
        assert len(rendered) <= rendered_size(text), name


@given(text=_any_text, limit=st.integers(16, 400))
def test_cut_rendered_fits_its_byte_limit_in_every_payload_and_keeps_both_ends(
    text: str, limit: int
) -> None:
    out = cut_rendered(text, limit)
    for name, rendered in _renders(out).items():
        assert len(rendered) <= limit, name
    if rendered_size(text) <= limit:
        assert out == text
    else:
        # Both ends are kept: some MARKER in `out` splits it into a prefix and a suffix.
        splits = [i for i in range(len(out)) if out[i] == MARKER]
        assert any(
            0 < i < len(out) - 1 and text.startswith(out[:i]) and text.endswith(out[i + 1 :])
            for i in splits
        )
        assert len(out) <= len(text)
