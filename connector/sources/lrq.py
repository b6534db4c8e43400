"""How to read SDL long-running query (LRQ) answers as real consoles send them. No I/O here.

Facts from sentinelone-api-evidence.md ("Differences" 2-5) and what this module does with them:

| what the console may do                                | how it is read                      |
|--------------------------------------------------------|-------------------------------------|
| progress in `totalSteps` (SentinelOne's own client,    | `progress(doc)`: `totalSteps`, else |
| Scalyr clients, Tracecat), `stepsTotal` (OpenAEV), both| `stepsTotal`; never waits on absent |
| results only in the final `data` (swagger, Scalyr) or  | `Pieces`: rows of every `data`,     |
| a piece per poll, to be appended (purple-mcp)          | each row once                       |
| PowerQuery flags a partial result                      | `partial_reason(doc, data)`: the    |
| (`partialResultsDueToTimeLimit`, `omittedEvents`,      | flag, or None; the source narrows   |
| `discardedArrayItems`; `truncatedAtLimit` in purple-mcp)| the window or reports DATA LOSS    |
| times in s, ms, µs or ns (purple-mcp reads all four)   | `epoch_ms(value)` by magnitude      |

Rows seen twice: a console that re-sends everything so far on every poll and one that sends
only the new piece both end up with each row once (a row is identified by its whole content,
which includes `event.id`); repeats inside one answer are left to the source's duplicate
count.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PARTIAL_FLAGS",
    "TIME_KEYS",
    "Pieces",
    "epoch_ms",
    "is_done",
    "normalise_times",
    "partial_reason",
    "progress",
]

PARTIAL_FLAGS = (
    "partialResultsDueToTimeLimit",
    "omittedEvents",
    "discardedArrayItems",
    "truncatedAtLimit",
)
TIME_KEYS = (
    "event.time",
    "src.process.startTime",
    "src.process.parent.startTime",
    "tgt.process.startTime",
)
"""Row keys holding epoch times that the mapper reads as milliseconds."""


def progress(doc: Mapping[str, Any]) -> tuple[int, int]:
    """(steps completed, steps in total); total 0 = not known yet. Either spelling counts."""
    total = _int(doc.get("totalSteps"))
    if total <= 0:
        total = _int(doc.get("stepsTotal"))
    return _int(doc.get("stepsCompleted")), total


def is_done(doc: Mapping[str, Any]) -> bool:
    done, total = progress(doc)
    return total > 0 and done >= total


def _int(value: object) -> int:
    """A step counter as an int; anything unusable counts as 0 (not done yet)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def partial_reason(*docs: Mapping[str, Any] | None) -> str | None:
    """The first partial-result flag set in any of `docs` (a poll answer, its `data`), as
    `name=value`; None when the result is complete as far as the console says."""
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        for name in PARTIAL_FLAGS:
            value = doc.get(name)
            if _flag_set(value):
                return f"{name}={value}"
    return None


def _flag_set(value: object) -> bool:
    if value is None or value is False:
        return False
    if value is True:
        return True
    if isinstance(value, int | float):
        return not math.isclose(float(value), 0.0, abs_tol=1e-9)
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "0.0")
    return bool(value)


@dataclass
class Pieces:
    """The result rows gathered over a query's answers, each row once, in arrival order.

    LOG rows are the `data.matches[]` entries; PQ rows are `data.values[][]` under the
    first `data.columns` seen.
    """

    matches: list[Any] = field(default_factory=list)
    columns: list[Any] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    pieces: int = 0
    repeated: int = 0
    _seen: set[str] = field(default_factory=set)

    def add(self, data: object) -> None:
        """Take one answer's `data`; rows an earlier answer already gave are dropped (a
        console re-sending everything so far), repeats within one answer are kept (the
        source counts those as duplicates)."""
        if not isinstance(data, Mapping):
            return
        if isinstance(data.get("columns"), list) and data["columns"] and not self.columns:
            self.columns = list(data["columns"])
        fresh: set[str] = set()
        got = False
        for name, into in (("matches", self.matches), ("values", self.values)):
            rows = data.get(name)
            for row in rows if isinstance(rows, list) else ():
                got = True
                key = _identity(name, row)
                if key is not None and key in self._seen:
                    self.repeated += 1
                    continue
                if key is not None:
                    fresh.add(key)
                into.append(row)
        self._seen |= fresh
        self.pieces += got


def _identity(kind: str, row: Any) -> str | None:
    try:
        return kind + json.dumps(row, sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError):
        return None  # not JSON-like: kept, and the reader calls it malformed


def epoch_ms(value: object) -> object:
    """An epoch time in s, ms, µs or ns (told apart by magnitude) as whole milliseconds;
    anything that is not a number (ISO text, None, a bool) is returned unchanged.

    | value               | read as | result          |
    |---------------------|---------|-----------------|
    | 1795514400          | s       | 1795514400000   |
    | 1795514400123       | ms      | 1795514400123   |
    | 1795514400123456    | µs      | 1795514400123   |
    | 1795514400123456789 | ns      | 1795514400123   |
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float):
        if not math.isfinite(value):
            return value
        whole = int(value * 1000) if abs(value) < 1e11 else int(value)
        return epoch_ms(whole) if abs(value) >= 1e11 else whole
    if not isinstance(value, int):
        return value
    magnitude = abs(value)
    if magnitude < 10**11:  # seconds (1e11 s is the year 5138)
        return value * 1000
    if magnitude < 10**14:
        return value
    if magnitude < 10**17:
        return value // 1000
    return value // 1_000_000


def normalise_times(row: dict[str, Any]) -> dict[str, Any]:
    """`row` with its TIME_KEYS in epoch ms; a LOG row without `event.time` gets it from
    `timestamp` (ns there, per the evidence page)."""
    for key in TIME_KEYS:
        if key in row:
            row[key] = epoch_ms(row[key])
    if row.get("event.time") is None and row.get("timestamp") is not None:
        row["event.time"] = epoch_ms(row["timestamp"])
    return row
