"""How an ECS line writes the values some needles look for, and the lines that write them
otherwise (which then always pass the prefilter).

Two kinds of needles say more than "this text is somewhere in the line":

- **number needles** (`number_needles`): a field must equal the integer 88. JSON writes it
  `88`, between a `:`, `[` or `,` (and at most one space) and a `,`, `]` or `}`: the needles
  are those delimited forms (`:88,`, `, 88]` …). Lines holding a number written otherwise
  (`88.0`, `8.8e1`, `87.99999999999999999` all read as 88; odd spaces) always pass
  (`ODD_NUMBER_PATTERNS`).
- **keyed needles** (`keyed_needles`): a field must hold a string value that starts with a
  text (`process.name : "explorer.exe"`, `process.executable : "C:\\Windows\\*"`). An ECS
  line holds the field under its full name (`"process.name"`) or, nested, under a part of
  it (`{"process": {"name": …}}`): the needles are `"process.name":"explorer.exe` and
  `"name":"explorer.exe` (with no space or one after the colon), so `"process.parent.name":
  "explorer.exe"` no longer passes. Lines where such a key stands otherwise (space before
  the colon, other space after it, a list value) always pass (`forcing_texts`).

The patterns are regexes (Python `re` and Hyperscan syntax), matched ignoring ASCII case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "ODD_NUMBER_PATTERNS",
    "forcing_patterns",
    "forcing_texts",
    "is_number_needle",
    "keyed_needles",
    "number_needles",
]

Group = tuple[bytes, ...]

_NUMBER_PREFIXES = (b":", b": ", b"[", b"[ ", b",", b", ")
_NUMBER_SUFFIXES = (b",", b"]", b"}")
ODD_NUMBER_PATTERNS = (
    rb"\.[0-9]+(?:[eE][+-]?[0-9]+)?[ \t\r]*[,\]}]",
    rb"[0-9][eE][+-]?[0-9]+[ \t\r]*[,\]}]",
    rb"[0-9][ \t\r]+[,\]}]",
    rb"[:\[,](?:[ \t\r]{2,}|[\t\r])-?[0-9]",
)
"""What a JSON number the number needles may not show ends with: a fraction or an exponent,
space after it, or space before it other than one space after `:`, `[` or `,`. Each pattern
asks only for the number's end and what follows it (or, the last, what precedes it), not for
the `:`, `[` or `,` before the whole number: a string may look like one too (such a line
passes when it need not), but a pattern starting with that separator and digits made
Hyperscan test nearly every byte of a JSON line (0.13 s each over the 86 MB workload; these
take 0.02-0.03 s each, when scanned one by one: together they cost as much as the old ones)."""
_NUMBER_NEEDLE = re.compile(rb"[:\[,] ?-?[0-9]+[,\]}]")
_KEYED_NEEDLE = re.compile(rb'"([^"\\]+)": ?"')


def number_needles(value: int) -> Group:
    """The texts one of which a line holds when some value in it is the JSON number `value`
    written without `ODD_NUMBER_PATTERNS`' forms. JSON has no other way to write an integer
    (`-0` is 0)."""
    texts = [str(value).encode("ascii")] + ([b"-0"] if value == 0 else [])
    return tuple(p + t + s for t in texts for p in _NUMBER_PREFIXES for s in _NUMBER_SUFFIXES)


def is_number_needle(needle: bytes) -> bool:
    """Whether `needle` has the shape of one of `number_needles`."""
    return _NUMBER_NEEDLE.fullmatch(needle) is not None


def keyed_needles(field: str, value: bytes) -> Group:
    """The texts one of which a line holds when `field` is a string starting with `value`
    (a needle as JSON writes it, beginning with the value's opening quote), unless the key
    stands as `forcing_patterns` says: the key under each name it may have, flat or nested
    (`process.name`, `name`), then `:` and no space or one."""
    parts = field.lower().split(".")
    names = [".".join(parts[i:]).encode("ascii") for i in range(len(parts))]
    return tuple(b'"' + name + b'":' + space + value for name in names for space in (b"", b" "))


def forcing_patterns(needles: Iterable[bytes]) -> tuple[bytes, ...]:
    """The regexes of the lines that pass whatever their needles, for a prefilter holding
    `needles`: odd numbers, when it has number needles."""
    return ODD_NUMBER_PATTERNS if any(map(is_number_needle, needles)) else ()


def forcing_texts(needles: Iterable[bytes]) -> tuple[bytes, ...]:
    """The texts of the lines that pass whatever their needles, for a prefilter holding
    `needles`: for each key of its keyed needles, the key followed by a space, tab or CR
    (before the colon), or by the colon and a `[`, a tab or CR, or a space and a `[`, a
    space, tab or CR (a list value, other space). Literal texts: the block scan finds them
    with the key needles."""
    keys = sorted({keyed.group(1) for n in needles if (keyed := _KEYED_NEEDLE.match(n))})
    return tuple(b'"' + key + b'"' + tail for key in keys for tail in _ODD_KEY_TAILS)


_ODD_KEY_TAILS = (b" ", b"\t", b"\r", b":[", b":\t", b":\r", b": [", b":  ", b": \t", b": \r")
