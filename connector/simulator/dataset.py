"""The simulator's records: Cloud Funnel dicts kept in event-time order, with their DV form.

Both APIs read the same records: the SDL API serves the Cloud Funnel dicts as they are, Deep
Visibility serves their DV rendering (`convert.cf_to_dv`), made once when a record is added.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connector.simulator.convert import cf_to_dv
from connector.timeutil import to_datetime, to_epoch_ms

__all__ = ["Dataset", "Entry", "event_time_ms"]


def event_time_ms(record: Mapping[str, Any]) -> int | None:
    """A Cloud Funnel record's `event.time` in epoch ms, or None when absent or unreadable."""
    moment = to_datetime(record.get("event.time"))
    return None if moment is None else to_epoch_ms(moment)


@dataclass(frozen=True)
class Entry:
    """One record in both shapes."""

    time_ms: int
    cf: Mapping[str, Any]
    dv: Mapping[str, Any]


class Dataset:
    """Records in event-time order; thread-safe appends; time-range selection by bisection.

    Records without a readable `event.time` are refused with ValueError naming their position,
    because neither API could ever return them.
    """

    def __init__(self, records: Iterable[Mapping[str, Any]] = ()) -> None:
        self._lock = threading.Lock()
        self._entries: list[Entry] = []
        self._times: list[int] = []
        self._names: frozenset[str] = frozenset()
        self.add(records)

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Add records (kept in time order); return how many were added."""
        fresh = [_entry(i, record) for i, record in enumerate(records)]
        names = {key for entry in fresh for key in entry.dv}
        with self._lock:
            self._names = self._names | names
            entries = sorted([*self._entries, *fresh], key=lambda e: e.time_ms)
            self._entries = entries
            self._times = [e.time_ms for e in entries]
        return len(fresh)

    def between(self, start_ms: int, end_ms: int, *, include_start: bool) -> list[Entry]:
        """Entries with `start < t <= end` (DV) or, with `include_start`, `start <= t < end`."""
        with self._lock:
            entries, times = self._entries, self._times
        if include_start:
            low, high = bisect.bisect_left(times, start_ms), bisect.bisect_left(times, end_ms)
        else:
            low, high = bisect.bisect_right(times, start_ms), bisect.bisect_right(times, end_ms)
        return entries[low:high]

    def field_names(self) -> set[str]:
        """Every DV key any record has (what S1QL may name, besides the standard ones)."""
        return set(self._names)


def _entry(position: int, record: Mapping[str, Any]) -> Entry:
    if not isinstance(record, Mapping):
        raise ValueError(f"record {position}: not an object")
    time_ms = event_time_ms(record)
    if time_ms is None:
        raise ValueError(f"record {position}: no readable event.time")
    return Entry(time_ms, dict(record), cf_to_dv(record))
