"""Durations, UTC timestamps and time windows.

| input                       | function          | result                               |
|-----------------------------|-------------------|--------------------------------------|
| `"30s"`, `"5m"`, `"1.5h"`   | `parse_duration`  | `timedelta`                          |
| `"now"`, `"-24h"`, ISO 8601 | `parse_time`      | aware UTC `datetime`                 |
| aware `datetime`            | `format_utc`      | `"2026-11-20T10:15:01.870Z"`         |
| ISO/epoch-ms/epoch-s value  | `to_datetime`     | aware UTC `datetime` or `None`       |

Everything here works in timezone-aware UTC; a naive input is taken to be UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

__all__ = [
    "Window",
    "format_utc",
    "parse_duration",
    "parse_time",
    "split_windows",
    "to_datetime",
    "to_epoch_ms",
    "utcnow",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_RELATIVE = re.compile(r"^\s*-\s*(\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|w))\s*$")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    """The current time, aware UTC."""
    return datetime.now(UTC)


def parse_duration(text: str) -> timedelta:
    """Parse `"30s"`, `"5m"`, `"2h"`, `"1d"`, `"250ms"`; raise ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use e.g. '30s', '5m', '2h', '1d')")
    return timedelta(seconds=float(match.group(1)) * _UNIT_SECONDS[match.group(2)])


def parse_time(text: str, now: datetime | None = None) -> datetime:
    """Parse `now`, a relative time (`-24h`) or ISO 8601 (naive = UTC); raise ValueError."""
    now = now or utcnow()
    stripped = text.strip()
    if stripped.lower() == "now":
        return now
    rel = _RELATIVE.match(stripped)
    if rel:
        return now - parse_duration(rel.group(1))
    parsed = _parse_iso(stripped)
    if parsed is None:
        raise ValueError(f"not a time: {text!r} (use ISO 8601, 'now' or e.g. '-24h')")
    return parsed


def _parse_iso(text: str) -> datetime | None:
    candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
    try:
        parsed = datetime.fromisoformat(candidate)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def to_datetime(value: object) -> datetime | None:
    """Read a timestamp from ISO text, epoch milliseconds or epoch seconds; None if unusable.

    Numbers above 1e11 are taken as milliseconds (1e11 s is the year 5138), below as seconds.
    Numeric strings are accepted the same way. Booleans are not numbers here.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return _from_number(float(value))
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.lstrip("-").replace(".", "", 1).isdigit():
            try:
                number = float(text)
            except ValueError:  # digits `float` does not read (superscripts): unusable
                return None
            return _from_number(number)
        return _parse_iso(text)
    return None


def _from_number(number: float) -> datetime | None:
    seconds = number / 1000.0 if abs(number) >= 1e11 else number
    try:
        return EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None


def format_utc(moment: datetime) -> str:
    """ISO 8601 UTC with millisecond precision and a `Z` (milliseconds truncated).

    Years before 1000 keep the platform's `strftime` form (glibc: no zero padding)."""
    moment = moment.astimezone(UTC)
    if moment.year >= 1000:  # isoformat pads the year to 4 digits; strftime's %Y agrees here
        return moment.isoformat(timespec="milliseconds")[:-6] + "Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def to_epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch."""
    return int((moment.astimezone(UTC) - EPOCH) / timedelta(milliseconds=1))


@dataclass(frozen=True, slots=True)
class Window:
    """A half-open time range `[start, end)` in aware UTC."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"window ends before it starts: {self}")

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def halves(self) -> tuple[Window, Window]:
        """Split in two at the midpoint, rounded to the millisecond (for bisection)."""
        mid_ms = (to_epoch_ms(self.start) + to_epoch_ms(self.end)) // 2
        mid = EPOCH + timedelta(milliseconds=mid_ms)
        return Window(self.start, mid), Window(mid, self.end)

    def __str__(self) -> str:
        return f"[{format_utc(self.start)}, {format_utc(self.end)})"


def split_windows(start: datetime, end: datetime, max_span: timedelta) -> Iterator[Window]:
    """Cut `[start, end)` into consecutive windows of at most `max_span`, in time order."""
    if max_span <= timedelta(0):
        raise ValueError("max_span must be positive")
    cursor = start
    while cursor < end:
        nxt = min(cursor + max_span, end)
        yield Window(cursor, nxt)
        cursor = nxt
