"""Independent receivers' parsers, written from the specs (not from our renderers).

They read what a SIEM would read: RFC 6587 octet-counted frames, RFC 5424 headers and
structured data, CEF (ArcSight implementation standard) and LEEF 2.0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADER_5424 = re.compile(rb"<(\d{1,3})>1 (\S+) (\S+) (\S+) (\S+) (\S+) ")
_SD_ESCAPES = {'"', "\\", "]"}
_CEF_ESCAPES = {"\\": "\\", "=": "=", "n": "\n", "r": "\r"}


def split_octet_frames(stream: bytes) -> list[bytes]:
    """Split an RFC 6587 octet-counting stream (`LEN SP MSG`...) into messages."""
    out: list[bytes] = []
    pos = 0
    while pos < len(stream):
        space = stream.index(b" ", pos)
        length = int(stream[pos:space])
        assert length > 0, f"bad frame length at {pos}"
        out.append(stream[space + 1 : space + 1 + length])
        assert len(out[-1]) == length, "truncated frame"
        pos = space + 1 + length
    return out


@dataclass
class Syslog5424:
    pri: int
    timestamp: str
    hostname: str
    app_name: str
    procid: str
    msgid: str
    sd_id: str
    sd: dict[str, str] = field(default_factory=dict)
    msg: bytes = b""


def parse_5424(message: bytes) -> Syslog5424:
    """Parse one RFC 5424 message with exactly one SD element (or `-`)."""
    match = _HEADER_5424.match(message)
    assert match, f"not RFC 5424: {message[:80]!r}"
    pri, stamp, host, app, procid, msgid = (g.decode("ascii") for g in match.groups())
    rest = message[match.end() :].decode("utf-8")
    sd_id, sd, rest = _parse_sd(rest)
    assert not rest or rest.startswith(" "), "garbage after structured data"
    msg = rest[1:].encode("utf-8")
    return Syslog5424(int(pri), stamp, host, app, procid, msgid, sd_id, sd, msg)


def _parse_sd(text: str) -> tuple[str, dict[str, str], str]:
    if text.startswith("-"):
        return "", {}, text[1:]
    assert text.startswith("["), "structured data must start with ["
    pos = 1
    end_id = min(i for i in (text.find(" ", pos), text.find("]", pos)) if i >= 0)
    sd_id, pos = text[pos:end_id], end_id
    params: dict[str, str] = {}
    while text[pos] == " ":
        eq = text.index("=", pos)
        name = text[pos + 1 : eq]
        assert text[eq + 1] == '"', "value must be quoted"
        value, pos = _sd_value(text, eq + 2)
        params[name] = value
    assert text[pos] == "]", f"unterminated SD element at {pos}"
    return sd_id, params, text[pos + 1 :]


def _sd_value(text: str, pos: int) -> tuple[str, int]:
    out: list[str] = []
    while True:
        char = text[pos]
        if char == "\\" and text[pos + 1] in _SD_ESCAPES:
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            assert char != "]", "unescaped ] inside a value"
            out.append(char)
            pos += 1


@dataclass
class Cef:
    header: list[str]
    extension: dict[str, str]


def parse_cef(line: str) -> Cef:
    """Parse a CEF line: 7 pipe-separated header fields, then `key=value` pairs."""
    assert line.startswith("CEF:"), line[:40]
    assert "\n" not in line and "\r" not in line, "raw line break in a CEF line"
    header: list[str] = []
    buf: list[str] = []
    pos = 4
    while len(header) < 7:
        char = line[pos]
        if char == "\\":
            assert line[pos + 1] in "\\|", f"bad header escape at {pos}"
            buf.append(line[pos + 1])
            pos += 2
        elif char == "|":
            header.append("".join(buf))
            buf, pos = [], pos + 1
        else:
            buf.append(char)
            pos += 1
    return Cef(header, _cef_extension(line[pos:]))


def _cef_extension(text: str) -> dict[str, str]:
    equals = _unescaped_equals(text)
    starts = [text.rfind(" ", 0, eq) + 1 for eq in equals]
    pairs: dict[str, str] = {}
    for index, eq in enumerate(equals):
        key = text[starts[index] : eq]
        assert re.fullmatch(r"[A-Za-z0-9_]+", key), f"bad key {key!r}"
        end = starts[index + 1] - 1 if index + 1 < len(equals) else len(text)
        assert key not in pairs, f"duplicate key {key}"
        pairs[key] = _cef_unescape(text[eq + 1 : end])
    return pairs


def _unescaped_equals(text: str) -> list[int]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos] == "\\":
            pos += 2
            continue
        if text[pos] == "=":
            out.append(pos)
        pos += 1
    return out


def _cef_unescape(raw: str) -> str:
    out, pos = [], 0
    while pos < len(raw):
        if raw[pos] == "\\":
            out.append(_CEF_ESCAPES[raw[pos + 1]])
            pos += 2
        else:
            out.append(raw[pos])
            pos += 1
    return "".join(out)


@dataclass
class Leef:
    header: list[str]
    attributes: dict[str, str]


def parse_leef(line: str) -> Leef:
    """Parse LEEF 2.0 with a tab delimiter declared as `x09`."""
    assert "\n" not in line and "\r" not in line, "raw line break in a LEEF line"
    parts = line.split("|", 6)
    assert parts[0] == "LEEF:2.0" and parts[5] == "x09", parts[:6]
    attributes: dict[str, str] = {}
    for pair in parts[6].split("\t"):
        key, value = pair.split("=", 1)
        assert key not in attributes, f"duplicate key {key}"
        attributes[key] = value
    return Leef(parts[1:5], attributes)
