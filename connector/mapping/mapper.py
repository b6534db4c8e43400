"""The stateful front of the mapping stage: counts what it mapped and skipped, logs once per kind.

Counters (for the run summary and `state show`):

| attribute    | key                                        | meaning                              |
|--------------|--------------------------------------------|--------------------------------------|
| `mapped`     | –                                          | records that became events           |
| `skipped`    | a reason of `SKIP_REASONS`                 | records dropped, by reason           |
| `bad_fields` | `bad_field:<ecs name>`, `parent_equals_self` | malformed fields of mapped records |

A malformed field is dropped, except an IP that does not parse: it is kept as the raw string
(it never matches `cidrmatch`) and still counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from connector.mapping.classify import normalise_event_type
from connector.mapping.ecs import to_ecs
from connector.mapping.skip import Skip
from connector.sources.base import RawRecord, Shape

__all__ = ["Mapper", "rows_from_table"]

_log = logging.getLogger(__name__)

Event = dict[str, Any]


class Mapper:
    """Maps raw records to flat ECS events and keeps the counts. Never raises from `map`.

    `event_types` restricts mapping to these S1 event types (any spelling: `"IP Connect"`,
    `"ipconnect"`); the default None maps every type.
    """

    def __init__(self, event_types: Iterable[str] | None = None) -> None:
        self.mapped = 0
        self.skipped: Counter[str] = Counter()
        self.bad_fields: Counter[str] = Counter()
        self._event_types = (
            None
            if event_types is None
            else frozenset(normalise_event_type(name) for name in event_types)
        )

    def map(self, record: object, shape: Shape = "auto") -> Event | None:
        """The flat ECS event of `record`, or None when it is skipped (and counted)."""
        result = to_ecs(record, shape, bad=self.bad_fields, event_types=self._event_types)
        if isinstance(result, Skip):
            self.skip(result.reason)
            return None
        self.mapped += 1
        return result

    def map_all(self, records: Iterable[RawRecord | Skip]) -> Iterator[Event]:
        """Map `(shape, record)` pairs in order; Skips (e.g. from `rows_from_table`) are counted."""
        for item in records:
            if isinstance(item, Skip):
                self.skip(item.reason)
                continue
            event = self.map(item[1], item[0])
            if event is not None:
                yield event

    def skip(self, reason: str) -> None:
        """Count a record skipped before or by mapping; the first of each reason is logged."""
        if reason not in self.skipped:
            _log.warning("skipping records that cannot be mapped: %s (counted from now on)", reason)
        self.skipped[reason] += 1

    def as_dict(self) -> dict[str, Any]:
        """The counters as plain data for the run summary."""
        return {
            "mapped": self.mapped,
            "skipped": dict(self.skipped),
            "bad_fields": dict(self.bad_fields),
        }


def rows_from_table(
    columns: Sequence[object], values: Iterable[object]
) -> Iterator[dict[str, Any] | Skip]:
    """Zip SDL PowerQuery rows with their column names into records (treated as Cloud Funnel).

    `columns` holds names, or `{"name": ..., "type": ...}` objects as the API returns them.
    A row that is not a list, or whose length differs from the column count, becomes
    `Skip("malformed_row")`; so does every row when a column has no usable name.
    """
    names = _column_names(columns)
    for row in values:
        if names is None or not isinstance(row, list | tuple) or len(row) != len(names):
            yield Skip("malformed_row")
            continue
        yield dict(zip(names, row, strict=True))


def _column_names(columns: Sequence[object]) -> list[str] | None:
    names: list[str] = []
    for column in columns:
        name = column.get("name") if isinstance(column, dict) else column
        if not isinstance(name, str) or not name:
            return None
        names.append(name)
    return names
