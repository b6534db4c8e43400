"""Literal text of EQL: string escapes and durations, as Elasticsearch reads them.

| written                 | value                  |
|-------------------------|------------------------|
| `"C:\\\\Windows"`       | `C:\\Windows`          |
| `"tab\\there"`          | tab character          |
| `"\\u{1F600}"`          | the code point U+1F600 |
| `15s`, `500ms`, `2h`    | 15000, 500, 7200000 ms |
"""

from __future__ import annotations

import re

__all__ = ["parse_duration_ms", "unescape"]

_SIMPLE_ESCAPES = {
    "b": "\b",
    "t": "\t",
    "n": "\n",
    "f": "\f",
    "r": "\r",
    '"': '"',
    "'": "'",
    "\\": "\\",
}
_ESCAPE = re.compile(r"\\(u\{([0-9A-Fa-f]{2,8})\}|.)", re.DOTALL)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def unescape(body: str) -> str:
    """Apply EQL escapes to the inside of a `"..."` string; raise ValueError on a bad escape."""
    if "\\" not in body:
        return body

    def replace(match: re.Match[str]) -> str:
        if match.group(2) is not None:
            code = int(match.group(2), 16)
            if code > 0x10FFFF:
                raise ValueError(f"invalid unicode escape \\u{{{match.group(2)}}}")
            return chr(code)
        char = match.group(1)
        if char in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[char]
        raise ValueError(f"invalid escape sequence \\{char} (write \\\\ for a backslash)")

    return _ESCAPE.sub(replace, body)


def parse_duration_ms(number: str, unit: str) -> int:
    """`("15", "s")` -> 15000; raise ValueError for an unknown unit or a fractional result."""
    factor = _UNIT_MS.get(unit.lower())
    if factor is None:
        raise ValueError(f"unknown time unit {unit!r} (use ms, s, m, h or d)")
    value = float(number) * factor
    if value != int(value) or value <= 0:
        raise ValueError(f"invalid duration {number}{unit}")
    return int(value)
