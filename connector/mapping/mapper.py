"""The stateful front of the mapping stage: counts what it mapped and skipped, logs once per kind.

Counters (for the run summary and `state show`):

| attribute    | key                                        | meaning                              |
|--------------|--------------------------------------------|--------------------------------------|
| `mapped`     | –                                          | records that became events           |
| `skipped`    | a reason of `SKIP_REASONS`                 | records dropped, by reason           |
| `bad_fields` | `bad_field:<ecs name>`, `parent_equals_self` | malformed fields of mapped records |

A malformed field is dropped, except an IP that does not parse: it is kept as the raw string
(it never matches `cidrmatch`) and still counted.

With `fields` (and optionally `categories`), the mapper maps only those fields, for events
of those ECS categories (see `projection.py`: the event equals the full event restricted to
`mapper.fields`), and each event of those categories carries its source record under
`SOURCE_KEY`, so `complete(event)` can rebuild the full event for an alert. Malformed
fields outside the projection are then neither mapped nor counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from connector.mapping.classify import normalise_event_type
from connector.mapping.compiler import SOURCE_KEY
from connector.mapping.ecs import SHAPES, map_record, to_ecs
from connector.mapping.projection import Projection, projection_for
from connector.mapping.skip import Skip
from connector.sources.base import RawRecord, Shape

__all__ = ["SOURCE_KEY", "Mapper", "rows_from_table"]

_log = logging.getLogger(__name__)

Event = dict[str, Any]


class Mapper:
    """Maps raw records to flat ECS events and keeps the counts. Never raises from `map`.

    `event_types` restricts mapping to these S1 event types (any spelling: `"IP Connect"`,
    `"ipconnect"`); the default None maps every type. `fields` restricts mapping to (at
    least) these ECS fields, and `categories` (used only with `fields`) to events of these
    ECS categories, see the module docstring; the default None maps every field.
    """

    def __init__(
        self,
        event_types: Iterable[str] | None = None,
        fields: Iterable[str] | None = None,
        categories: Iterable[str] | None = None,
    ) -> None:
        self.mapped = 0
        self.skipped: Counter[str] = Counter()
        self.bad_fields: Counter[str] = Counter()
        self._event_types = (
            None
            if event_types is None
            else frozenset(normalise_event_type(name) for name in event_types)
        )
        self._projection: Projection | None = (
            None if fields is None else projection_for(fields, categories)
        )
        self._shapes = SHAPES if self._projection is None else self._projection.shapes

    @property
    def fields(self) -> frozenset[str] | None:
        """The fields a projected event holds when the full event has them (None: all)."""
        return None if self._projection is None else self._projection.fields

    def map(self, record: object, shape: Shape = "auto") -> Event | None:
        """The flat ECS event of `record`, or None when it is skipped (and counted)."""
        result = map_record(record, shape, self.bad_fields, self._event_types, self._shapes)
        if result.__class__ is Skip:
            self.skip(result.reason)
            return None
        self.mapped += 1
        return result  # type: ignore[return-value]

    def complete(self, event: Event) -> Event:
        """The full event of a projected `event`, re-mapped from the record it carries;
        any other event is returned as it is. Counts nothing (the record was counted)."""
        source = event.get(SOURCE_KEY)
        if source is None:
            return event
        shape, record = source  # a list once the event went through a JSON round trip
        full = to_ecs(record, shape)
        if isinstance(full, Skip):  # only a mapper bug in a row outside the projection
            return {key: value for key, value in event.items() if key != SOURCE_KEY}
        return full

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
