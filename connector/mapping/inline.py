"""Inline forms of the hot converters, for `compiler.py`.

Each entry turns one ECS field into the statements that handle a **string** value `v` (already
known to be present: not `""`, not `"null"`) the way the converter's writer in `writers.py`
does; values of other types still go through the writer. `W{n}` / `L{n}` name the row's writer
and `bad_field:` label. The compiled-versus-interpreted test in `tests/mapping/test_plan.py`
holds each form to its writer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from connector.mapping.argv import CACHED_LENGTH, split_cached, split_tuple
from connector.mapping.values import IP_CACHE, OS_TYPES, os_type

__all__ = ["INLINE", "NAMESPACE"]

NAMESPACE: Final[dict[str, Any]] = {
    "IPC": IP_CACHE,
    "OSN": OS_TYPES,
    "OST": os_type,
    "SPLIT": split_tuple,
    "SPLITC": split_cached,
    "SPLITN": CACHED_LENGTH,
    # Exact spellings S1 sends; any other spelling falls back to the writer.
    "OUTX": {"SUCCESS": "success", "FAILURE": "failure", "BLOCKED": "unknown"},
    "DIRX": {
        "OUTGOING": ("egress", "connection_attempted"),
        "INCOMING": ("ingress", "connection_accepted"),
    },
}


def _parent(field: str) -> str:
    return field.rpartition(".")[0]


def _hostname(field: str) -> list[str]:
    del field
    return ["e['host.name'] = e['host.hostname'] = v"]


def _os(field: str) -> list[str]:
    return [
        f"e[{_parent(field) + '.platform'!r}] = v",
        "x = OSN.get(v)",
        "if x is None:",
        "    x = OST(v)",
        "if x is not None:",
        f"    e[{field!r}] = x",
    ]


def _ip(field: str) -> list[str]:
    return [
        "x = IPC.get(v)",
        "if x is not None:",
        f"    e[{field!r}] = e[{_parent(field) + '.address'!r}] = x",
        "elif not W{n}(e, v) and bad is not None:",
        "    bad[L{n}] += 1",
    ]


def _user(field: str) -> list[str]:
    return [
        "x, s, u = v.partition('\\\\')",
        "if s:",
        "    if u:",
        f"        e[{field!r}] = u",
        "    if x:",
        f"        e[{_parent(field) + '.domain'!r}] = x",
        "else:",
        f"    e[{field!r}] = v",
    ]


def _cmdline(trim: bool) -> Callable[[str], list[str]]:
    def lines(field: str) -> list[str]:
        prefix = _parent(field) + "."
        text = (
            [
                "x = v[1:-1] if len(v) >= 2 and v[0] == '\"' and v[-1] == '\"' else v",
                "if x:",
                f"    e[{field!r}] = x",
            ]
            if trim
            else [f"e[{field!r}] = v"]
        )
        return [
            *text,
            "x = SPLITC(v) if len(v) <= SPLITN else SPLIT(v)",  # split_tuple, one call less
            "if x:",
            f"    e[{prefix + 'args'!r}] = list(x)",
            f"    e[{prefix + 'args_count'!r}] = len(x)",
        ]

    return lines


def _flag(expected: str) -> Callable[[str], list[str]]:
    def lines(field: str) -> list[str]:
        return [f"e[{field!r}] = v == {expected!r} or v.strip().lower() == {expected!r}"]

    return lines


def _outcome(field: str) -> list[str]:
    return [
        "x = OUTX.get(v)",
        "if x is not None:",
        f"    e[{field!r}] = x",
        "else:",
        "    W{n}(e, v)",
    ]


def _direction(with_action: bool) -> Callable[[str], list[str]]:
    def lines(field: str) -> list[str]:
        action = ["    e['event.action'] = x[1]"] if with_action else []
        return [
            "x = DIRX.get(v)",
            "if x is not None:",
            f"    e[{field!r}] = x[0]",
            *action,
            "else:",
            "    W{n}(e, v)",
        ]

    return lines


INLINE: Final[dict[str, Callable[[str], list[str]]]] = {
    "hostname": _hostname,
    "os": _os,
    "ip": _ip,
    "user": _user,
    "cmdline": _cmdline(trim=False),
    "cmdline_trim": _cmdline(trim=True),
    "signed": _flag("signed"),
    "verified": _flag("verified"),
    "lower": lambda field: [f"e[{field!r}] = v.lower()"],
    "outcome": _outcome,
    "direction": _direction(with_action=False),
    "direction_action": _direction(with_action=True),
}
"""Converter name → the inline statements for a string value."""
