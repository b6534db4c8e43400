"""The contract every source implements: raw records for a time window, plus counters.

A source knows nothing about detection or outputs. It turns a half-open window
`[start, end)` into raw records, each tagged with its shape so the mapper knows how to read
it, and counts what it did for the run summary. Sources raise only `ConnectorError`
subclasses: `AuthError` (77), `Unavailable` (69), `RateLimited`/`DeadlineReached` (75),
`ConfigError` (78, e.g. a query the console cannot parse), `BadInputError` (65, files).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, Protocol

from connector.timeutil import Window

__all__ = ["RawRecord", "Shape", "Source", "SourceStats"]

Shape = Literal["dv", "cloud-funnel", "pq", "ecs", "auto"]
"""How to read a record: DV v2.1 JSON, Cloud Funnel/SDL flat dotted, SDL PowerQuery row
(already zipped into a dict), flat or nested ECS, or `auto` (detect per record)."""

RawRecord = tuple[Shape, Any]
"""A record as the source got it (usually a dict), with its shape."""


@dataclass
class SourceStats:
    """What a source did, for the run summary and `state show`.

    `api_calls` counts requests by endpoint label (`dv/init-query`, `sdl/queries:GET`, ...).
    `skipped` counts records dropped before mapping, by reason (`prefilter`, `not-json`, ...).
    `relaunches` counts remote queries run again (expired, failed); `clamped_windows` counts
    windows cut short by the console's retention; `objects` counts files/S3 objects read.
    """

    api_calls: Counter[str] = field(default_factory=Counter)
    bytes: int = 0
    pages: int = 0
    retries: int = 0
    bisections: int = 0
    records: int = 0
    truncated_windows: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    relaunches: int = 0
    clamped_windows: int = 0
    objects: int = 0
    pushdown: str = ""
    """Which query had to be widened to fit the console, e.g. `s1ql:names`; "" = exact."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_calls": dict(self.api_calls),
            "bytes": self.bytes,
            "pages": self.pages,
            "retries": self.retries,
            "bisections": self.bisections,
            "records": self.records,
            "truncated_windows": self.truncated_windows,
            "skipped": dict(self.skipped),
            "relaunches": self.relaunches,
            "clamped_windows": self.clamped_windows,
            "objects": self.objects,
            "pushdown": self.pushdown,
        }


class Source(Protocol):
    """Fetches raw records window by window. Use as a context manager (closes sessions)."""

    name: str
    stats: SourceStats

    @property
    def max_window(self) -> timedelta | None:
        """The widest window this source serves in one go (None: no limit)."""
        ...

    def fetch(self, window: Window) -> Iterator[RawRecord]:
        """Yield every record whose event time lies in `[window.start, window.end)`.

        May yield a few records outside it (the caller filters and deduplicates by event
        id); never silently fewer: a truncated result is bisected or reported loudly.
        Aborting the iteration (close/KeyboardInterrupt) cancels any running remote query.
        """
        ...

    def close(self) -> None:
        """Release sessions and cancel open remote queries. Safe to call twice."""
        ...

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc: object) -> None: ...
