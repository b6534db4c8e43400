"""Reading event timestamps and tiebreakers into sortable numbers.

The engine works in *ticks* of the configured numeric unit, so ordering keeps the full
precision of the source (FILETIME has 100 ns ticks) and `maxspan` is converted once.

| unit         | numeric value means                       | ticks per ms |
|--------------|-------------------------------------------|--------------|
| `ms`         | milliseconds since 1970 (default)         | 1            |
| `s`          | seconds since 1970                        | 0.001        |
| `us` / `ns`  | micro- / nanoseconds since 1970           | 1e3 / 1e6    |
| `filetime`   | 100 ns ticks since 1601 (Windows, Endgame) | 1e4         |

Strings holding ISO 8601 (`"2026-11-20T10:15:01.870Z"`) are always accepted; a string of
digits is read as a number in the unit.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

__all__ = ["TimeReader", "position_tiebreak"]

_TICKS_PER_MS = {"ms": 1.0, "s": 0.001, "us": 1_000.0, "ns": 1_000_000.0, "filetime": 10_000.0}
# FILETIME counts from 1601-01-01; this many 100 ns ticks separate it from 1970-01-01.
_FILETIME_EPOCH = 116_444_736_000_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class TimeReader:
    """Converts timestamp values into ticks of `unit`; None when a value is unusable."""

    def __init__(self, unit: str = "ms") -> None:
        if unit not in _TICKS_PER_MS:
            raise ValueError(f"unknown timestamp unit {unit!r} (use {', '.join(_TICKS_PER_MS)})")
        self.unit = unit
        self.ticks_per_ms = _TICKS_PER_MS[unit]

    def ticks(self, value: Any) -> Any:
        """The value as ticks; None for missing, boolean or unparsable values."""
        if value.__class__ is int or value.__class__ is float:
            return value
        if isinstance(value, str):
            text = value.strip()
            if text.isdigit():
                return int(text)
            return self._iso(text)
        if value.__class__ is list and len(value) == 1:
            return self.ticks(value[0])
        return None

    def from_ms(self, epoch_ms: float) -> float:
        """Epoch milliseconds as ticks (for ISO text and watermarks)."""
        ticks = epoch_ms * self.ticks_per_ms
        return ticks + _FILETIME_EPOCH if self.unit == "filetime" else ticks

    def _iso(self, text: str) -> float | None:
        candidate = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            return None  # unusable: the engine counts the event under `no_timestamp`
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        delta = parsed - _EPOCH
        epoch_ms = (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds / 1000
        return self.from_ms(epoch_ms)


def position_tiebreak(value: Any) -> tuple[int, Any]:
    """A sortable form of a tiebreaker: numbers, then strings, then missing values."""
    if value is None:
        return (2, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, value)
    return (1, str(value))
