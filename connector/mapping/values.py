"""Value converters of the mapper: raw S1 values in, ECS values (or `None` = unusable) out.

Every converter takes any JSON value that is already known to be present (not `None`, `""`
or `"null"`) and returns the converted value, or `None` when the value is malformed. None of
them raises. They are hot: each keeps a small bounded cache where values repeat (IPs,
seconds of timestamps) and avoids `datetime` on the common paths.

| converter      | accepts                                          | example result        |
|----------------|--------------------------------------------------|-----------------------|
| `to_timestamp` | epoch-ms int or digit string; ISO 8601           | `"2022-10-03T15:32:29.470Z"` |
| `to_uint`      | non-negative int, digit string, integral float   | `1188`                |
| `to_port`      | as `to_uint`, at most 65535                      | `3389`                |
| `to_ip`        | IPv4 / IPv6 text (IPv4-mapped IPv6 becomes IPv4) | `"2001:db8::1"`       |
| `to_text`      | string; int/float (not bool) as decimal text     | `"649568400931684352"` |
| `os_type`      | `windows(_legacy)`, `osx`, `macos`, `linux`      | `"windows"`           |
| `split_user`   | `DOMAIN\\name` or `name`                         | `("DOMAIN", "name")`  |
"""

from __future__ import annotations

import ipaddress
import time
from datetime import UTC, datetime
from typing import Final

__all__ = [
    "INLINE_TIME",
    "IP_CACHE",
    "OS_TYPES",
    "os_type",
    "split_user",
    "to_ip",
    "to_port",
    "to_text",
    "to_timestamp",
    "to_uint",
    "trim_quotes",
]

_CACHE_LIMIT: Final = 65_536
_SECOND_PREFIX: dict[int, str] = {}  # epoch second -> "YYYY-MM-DDTHH:MM:SS."
_ISO_PREFIX_OK: set[str] = set()  # validated "YYYY-MM-DDTHH:MM:SS" prefixes
IP_CACHE: Final[dict[str, str | None]] = {}
"""Raw IP text -> canonical text (None: not an IP). Shared with the compiled plans."""
_MAX_EPOCH_MS: Final = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z
_IP_TEXT_LIMIT: Final = 64  # the longest IPv6 text with a zone id is shorter
_MAX_LONG: Final = 2**63 - 1  # Elasticsearch `long`

OS_TYPES: Final[dict[str, str]] = {
    # Lower-case S1 OS name -> ECS host.os.type.
    "windows": "windows",
    "windows_legacy": "windows",
    "osx": "macos",
    "macos": "macos",
    "linux": "linux",
}


def to_text(value: object) -> str | None:
    """A string as is; an int or float as decimal text; anything else is malformed."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def to_uint(value: object) -> int | None:
    """An integer 0 ≤ n < 2**63 from an int, an ASCII digit string or an integral float."""
    if type(value) is int:
        number = value
    elif isinstance(value, str):
        text = value.strip()
        # The length check also keeps int() clear of its 4300-digit limit (ValueError).
        if not (text.isascii() and text.isdigit() and len(text) <= 19):
            return None
        number = int(text)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    else:
        return None
    return number if 0 <= number <= _MAX_LONG else None


def to_port(value: object) -> int | None:
    """A port number 0–65535 (int or digit string)."""
    number = to_uint(value)
    return number if number is not None and number <= 65_535 else None


def to_ip(value: object) -> str | None:
    """The canonical text of an IPv4 or IPv6 address, or `None` if `value` is not one."""
    if not isinstance(value, str):
        return None
    try:
        return IP_CACHE[value]
    except KeyError:
        pass
    canonical = _canonical_ip(value)
    if len(value) > _IP_TEXT_LIMIT:
        return canonical  # not cached: no address is this long, and memory stays bounded
    if len(IP_CACHE) >= _CACHE_LIMIT:
        IP_CACHE.clear()
    IP_CACHE[value] = canonical
    return canonical


def _canonical_ip(text: str) -> str | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        # Elasticsearch stores IPv4-mapped IPv6 as IPv4; cidrmatch on 10.0.0.0/8 must match.
        return str(address.ipv4_mapped)
    return str(address)


def to_timestamp(value: object) -> str | None:
    """`YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC, truncated to ms) from epoch ms or ISO 8601 text.

    Epoch seconds are never guessed: every number is milliseconds. Booleans, negative numbers,
    floats and anything outside years 1970–9999 (numbers) or 1–9999 (text) give `None`.
    """
    # Hot paths first: epoch ms as an int (Cloud Funnel) and text already in the output form
    # (DV), both answered from per-second caches without touching datetime.
    if value.__class__ is int:
        if 0 <= value <= _MAX_EPOCH_MS:
            seconds, millis = divmod(value, 1000)
            prefix = _SECOND_PREFIX.get(seconds) or _second_prefix(seconds)
            return prefix + _MILLIS[millis]
        return None
    if not isinstance(value, str):
        return None
    if len(value) == 24 and value[:19] in _ISO_PREFIX_OK and value[19:] in _ISO_SUFFIXES:
        return value  # both parts come from ASCII sets: no other check is needed
    if value.isascii() and value.isdigit():
        return to_timestamp(int(value)) if len(value) <= 16 else None
    return _from_iso(value)


_MILLIS: Final = tuple(f"{millis:03d}Z" for millis in range(1000))
_ISO_SUFFIXES: Final = frozenset(f".{millis}" for millis in _MILLIS)  # ".mmmZ"


_DAY_PREFIX: dict[int, str] = {}  # epoch day -> "YYYY-MM-DDT"
_TWO_DIGITS: Final = tuple(f"{n:02d}" for n in range(60))


def _second_prefix(seconds: int) -> str:
    """The cached `YYYY-MM-DDTHH:MM:SS.` of an epoch second (computed on a miss).

    On a miss only the date comes from `time.gmtime` (cached per day): UTC has no leap
    seconds in epoch time, so the clock is the second of the day (a third of the cost,
    and nearly every event of a Cloud Funnel export starts a new second)."""
    day, second_of_day = divmod(seconds, 86_400)
    date = _DAY_PREFIX.get(day)
    if date is None:
        parts = time.gmtime(day * 86_400)
        date = f"{parts.tm_year:04d}-{parts.tm_mon:02d}-{parts.tm_mday:02d}T"
        if len(_DAY_PREFIX) >= _CACHE_LIMIT:
            _DAY_PREFIX.clear()
        _DAY_PREFIX[day] = date
    hours, rest = divmod(second_of_day, 3600)
    minutes, secs = divmod(rest, 60)
    two = _TWO_DIGITS
    prefix = f"{date}{two[hours]}:{two[minutes]}:{two[secs]}."
    if len(_SECOND_PREFIX) >= _CACHE_LIMIT:
        _SECOND_PREFIX.clear()
    _SECOND_PREFIX[seconds] = prefix
    return prefix


def _from_iso(text: str) -> str | None:
    text = text.strip()
    if text.endswith("z"):
        text = text[:-1] + "Z"  # fromisoformat takes only the upper-case zone letter
    try:
        moment = datetime.fromisoformat(text)
        moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except (ValueError, OverflowError):
        return None
    prefix = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if len(_ISO_PREFIX_OK) >= _CACHE_LIMIT:
        _ISO_PREFIX_OK.clear()
    _ISO_PREFIX_OK.add(prefix)  # a valid second: its canonical form takes the fast path later
    return f"{prefix}.{_MILLIS[moment.microsecond // 1000]}"


def os_type(value: str) -> str | None:
    """ECS `host.os.type` for an S1 OS name (trimmed, case-insensitive); `None` if unknown."""
    return OS_TYPES.get(value.strip().lower())


def split_user(value: str) -> tuple[str | None, str]:
    """`DOMAIN\\name` → `("DOMAIN", "name")`; a value without a backslash → `(None, value)`.

    The split is at the first backslash; an empty domain part counts as no domain.
    """
    domain, sep, name = value.partition("\\")
    if not sep:
        return None, value
    return (domain or None), name


def trim_quotes(value: str) -> str:
    """Drop one leading and one trailing `"` when both are there (Elastic's quirk, §7.2)."""
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return value[1:-1]
    return value


INLINE_TIME: Final[dict[str, object]] = {
    # The names compiled builders (`compiler.compile_builder`) use to inline the two hot
    # paths of `to_timestamp` (epoch ms as an int, canonical text) and call it otherwise.
    "TS": to_timestamp,
    "MAXMS": _MAX_EPOCH_MS,
    "SEC": _SECOND_PREFIX,
    "SECP": _second_prefix,
    "MS": _MILLIS,
    "ISOK": _ISO_PREFIX_OK,
    "ISOS": _ISO_SUFFIXES,
}
