"""The named converters of `tables.py`: each turns one present S1 value into ECS fields.

A writer is built once per table row by `make_writer(name, field)` and then called per record
as `writer(event, value) -> bool`. `value` is never absent (`None`, `""`, `"null"` are filtered
before); the writer stores nothing for a value that converts to nothing (an empty string after
trimming, an unknown OS name) and returns False only for a **malformed** value, which the
caller counts as `bad_field:<field>`.

| converter          | writes                                                        |
|--------------------|---------------------------------------------------------------|
| `text`             | the string (numbers as decimal text)                          |
| `uint`, `port`     | an int (pid, size, count; port 0–65535)                       |
| `time`             | `YYYY-MM-DDTHH:MM:SS.mmmZ`                                    |
| `ip`               | canonical IP text in `*.ip` and `*.address`; a non-IP string is |
|                    | kept as is (it never matches `cidrmatch`) but reported as bad  |
| `cmdline`          | `*.command_line`, `*.args`, `*.args_count` (args from the raw value) |
| `cmdline_trim`     | as `cmdline`, with Elastic's surrounding-quote trim on the text |
| `hostname`         | `host.name` and `host.hostname`                               |
| `os`               | `host.os.type` (normalised, may be absent) and `host.os.platform` (raw) |
| `user`             | `user.domain` / `user.name` split at the first backslash      |
| `signed`, `verified` | `code_signature.exists` / `.trusted` booleans               |
| `lower`            | the string lower-cased                                         |
| `outcome`          | `success` / `failure` / `unknown` (BLOCKED); others absent     |
| `direction`        | `network.direction` ingress / egress; others absent            |
| `direction_action` | as `direction`, plus `event.action` connection_accepted / _attempted |
| `file_path`        | `file.path`, `file.name`, `file.directory`, `file.extension`   |
| `registry_path`    | `registry.path`, `registry.key`, `registry.value` (split at the last `\\`) |
| `strings`          | a one-element list                                             |
| `dns_question`     | `dns.question.name` (from `"type: 1 example.com"` or a bare name) |
| `dns_answers`      | `dns.resolved_ip`: the IPs among the `;`-separated answers     |
| `dll_path`         | `dll.path` and `dll.name`                                      |
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from connector.mapping.argv import split_command_line
from connector.mapping.values import (
    os_type,
    split_user,
    to_ip,
    to_port,
    to_text,
    to_timestamp,
    to_uint,
    trim_quotes,
)

__all__ = ["WRITERS", "Writer", "make_writer", "written_fields"]

Event = dict[str, Any]
Writer = Callable[[Event, object], bool]

_OUTCOMES: Final = {"success": "success", "failure": "failure", "blocked": "unknown"}
_DIRECTIONS: Final = {"outgoing": "egress", "incoming": "ingress"}
_ACTIONS: Final = {"outgoing": "connection_attempted", "incoming": "connection_accepted"}


def _converted(convert: Callable[[object], object]) -> Callable[[str], Writer]:
    def factory(field: str) -> Writer:
        def write(event: Event, value: object) -> bool:
            result = convert(value)
            if result is None:
                return False
            event[field] = result
            return True

        return write

    return factory


def _seconds_to_ms(value: object) -> object:
    """Epoch seconds (an int, or a string of digits) as epoch ms; anything else as it is."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1000
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value) * 1000
    return None


def _ip(field: str) -> Writer:
    address = field.rpartition(".")[0] + ".address"

    def write(event: Event, value: object) -> bool:
        canonical = to_ip(value)
        if canonical is None:
            if not isinstance(value, str):
                return False
            event[field] = event[address] = value  # kept: it simply never matches cidrmatch
            return False
        event[field] = event[address] = canonical
        return True

    return write


def _cmdline(field: str, trim: bool) -> Writer:
    prefix = field.rpartition(".")[0] + "."
    args_key, count_key = prefix + "args", prefix + "args_count"

    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        text = trim_quotes(value) if trim else value
        if text:
            event[field] = text
        args = split_command_line(value)
        if args:
            event[args_key] = args
            event[count_key] = len(args)
        return True

    return write


def _text_fn(transform: Callable[[str], str | None]) -> Callable[[str], Writer]:
    """A writer for string-only values: `transform` returns the value to store or None."""

    def factory(field: str) -> Writer:
        def write(event: Event, value: object) -> bool:
            if not isinstance(value, str):
                return False
            result = transform(value)
            if result:
                event[field] = result
            return True

        return write

    return factory


def _hostname(field: str) -> Writer:
    del field  # always both host.name and host.hostname

    def write(event: Event, value: object) -> bool:
        text = to_text(value)
        if text is None:
            return False
        event["host.name"] = event["host.hostname"] = text
        return True

    return write


def _os(field: str) -> Writer:
    platform = field.rpartition(".")[0] + ".platform"

    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        event[platform] = value
        normalised = os_type(value)
        if normalised is not None:
            event[field] = normalised
        return True

    return write


def _user(field: str) -> Writer:
    domain_key = field.rpartition(".")[0] + ".domain"

    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        domain, name = split_user(value)
        if name:
            event[field] = name
        if domain:
            event[domain_key] = domain
        return True

    return write


def _flag(expected: str) -> Callable[[str], Writer]:
    def factory(field: str) -> Writer:
        def write(event: Event, value: object) -> bool:
            if not isinstance(value, str):
                return False
            event[field] = value.strip().lower() == expected
            return True

        return write

    return factory


def _direction(field: str, with_action: bool) -> Writer:
    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        key = value.strip().lower()
        direction = _DIRECTIONS.get(key)
        if direction is not None:
            event[field] = direction
            if with_action:
                event["event.action"] = _ACTIONS[key]
        return True

    return write


def _path_parts(path: str) -> tuple[str, str]:
    """(directory, last component), split at the last backslash, else the last slash."""
    cut = path.rfind("\\")
    if cut < 0:
        cut = path.rfind("/")
    return (path[:cut], path[cut + 1 :]) if cut >= 0 else ("", path)


def _file_path(field: str) -> Writer:
    del field

    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        event["file.path"] = value
        directory, name = _path_parts(value)
        if directory:
            event["file.directory"] = directory
        if name:
            event["file.name"] = name
            stem, dot, extension = name.rpartition(".")
            if dot and stem and extension:
                # An explicit tgt.file.extension (a text row, applied first) wins.
                event.setdefault("file.extension", extension)
        return True

    return write


def _registry_path(field: str) -> Writer:
    del field

    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        event["registry.path"] = value
        cut = value.rfind("\\")
        if cut >= 0:
            # Elastic's split: the key is everything before the last backslash.
            if cut > 0:
                event["registry.key"] = value[:cut]
            if cut + 1 < len(value):
                event["registry.value"] = value[cut + 1 :]
        return True

    return write


def _strings(field: str) -> Writer:
    def write(event: Event, value: object) -> bool:
        text = to_text(value)
        if text is None:
            return False
        event[field] = [text]
        return True

    return write


def _dns_question(text: str) -> str | None:
    # S1 writes questions as "type: 1 example.com"; older records carry the bare name.
    parts = text.split()
    if len(parts) == 3 and parts[0] == "type:":
        return parts[2]
    return text.strip() or None


def _dns_answers(field: str) -> Writer:
    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        ips = [ip for ip in map(to_ip, value.split(";")) if ip is not None]
        if ips:
            event[field] = ips
        return True

    return write


def _dll_path(field: str) -> Writer:
    del field

    def write(event: Event, value: object) -> bool:
        if not isinstance(value, str):
            return False
        event["dll.path"] = value
        name = _path_parts(value)[1]
        if name:
            event["dll.name"] = name
        return True

    return write


WRITERS: Final[dict[str, Callable[[str], Writer]]] = {
    "text": _converted(to_text),
    "uint": _converted(to_uint),
    "port": _converted(to_port),
    "time": _converted(to_timestamp),
    "time_s": _converted(lambda value: to_timestamp(_seconds_to_ms(value))),
    "ip": _ip,
    "cmdline": lambda field: _cmdline(field, trim=False),
    "cmdline_trim": lambda field: _cmdline(field, trim=True),
    "hostname": _hostname,
    "os": _os,
    "user": _user,
    "signed": _flag("signed"),
    "verified": _flag("verified"),
    "lower": _text_fn(str.lower),
    "outcome": _text_fn(lambda text: _OUTCOMES.get(text.strip().lower())),
    "direction": lambda field: _direction(field, with_action=False),
    "direction_action": lambda field: _direction(field, with_action=True),
    "file_path": _file_path,
    "registry_path": _registry_path,
    "strings": _strings,
    "dns_question": _text_fn(_dns_question),
    "dns_answers": _dns_answers,
    "dll_path": _dll_path,
}


def make_writer(converter: str, field: str) -> Writer:
    """The writer of `converter` for ECS `field`; KeyError for an unknown converter name."""
    return WRITERS[converter](field)


def _sibling(name: str) -> Callable[[str], tuple[str, ...]]:
    """`name` next to the row's field: `source.ip` → `source.address` for `address`."""
    return lambda field: (field, field.rpartition(".")[0] + "." + name)


_FIXED_OUTPUTS: Final[dict[str, tuple[str, ...]]] = {
    "hostname": ("host.name", "host.hostname"),
    "file_path": ("file.path", "file.name", "file.directory", "file.extension"),
    "registry_path": ("registry.path", "registry.key", "registry.value"),
    "dll_path": ("dll.path", "dll.name"),
}

_OUTPUTS: Final[dict[str, Callable[[str], tuple[str, ...]]]] = {
    "ip": _sibling("address"),
    "os": _sibling("platform"),
    "user": _sibling("domain"),
    "cmdline": lambda field: (field, *_args_fields(field)),
    "cmdline_trim": lambda field: (field, *_args_fields(field)),
    "direction_action": lambda field: (field, "event.action"),
}


def _args_fields(field: str) -> tuple[str, str]:
    prefix = field.rpartition(".")[0] + "."
    return prefix + "args", prefix + "args_count"


def written_fields(converter: str, field: str) -> frozenset[str]:
    """Every ECS field the writer of `converter` for `field` may write (the field projection
    keeps a row when any of them is wanted); KeyError for an unknown converter name."""
    if converter not in WRITERS:
        raise KeyError(converter)
    fixed = _FIXED_OUTPUTS.get(converter)
    if fixed is not None:
        return frozenset(fixed)
    outputs = _OUTPUTS.get(converter)
    return frozenset(outputs(field) if outputs is not None else (field,))
