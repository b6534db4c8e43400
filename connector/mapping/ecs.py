"""One SentinelOne record (DV v2.1, Cloud Funnel / SDL, PowerQuery row, or ECS) → one flat event.

`to_ecs(record, shape)` returns the flat ECS event (dotted keys; lists for `event.category`,
`event.type`, `process.args`, `process.parent.args`, `registry.data.strings`,
`dns.resolved_ip`) or a `Skip` with the reason, and never raises. Reasons, checked in this
order (spec §3): `not_an_object`, `malformed_row` (PowerQuery, see `rows_from_table`),
`unsupported_event_type` (only when the caller restricts `event_types`), `missing_event_id`,
`bad_timestamp`, `mapper_error` (a bug, caught at the record boundary and logged at debug).

Every event has `@timestamp` (`YYYY-MM-DDTHH:MM:SS.mmmZ`), `event.kind = "event"`, `event.id`
(the S1 event id as a string: DV `id`, Cloud Funnel `event.id`) and `event.type`. In Process
Creation `process.*` is the created process and `process.parent.*` its creator; in every other
event `process.*` is the acting (source) process. Entity ids are the per-process uids.
DV events also carry `sentinel_one.event.index` and `sentinel_one.event.id` =
`<traceId>_<eventIndex>`, the Cloud Funnel / SDL id form, for deduplicating across a DV → SDL
switch (spec `sentinelone-api.md` §5.4; the equality of the two is unverified).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping
from typing import Any, Final

from connector.mapping.classify import CF, DV, ShapeKeys, normalise_event_type, route
from connector.mapping.ecs_input import from_ecs
from connector.mapping.projection import Projection
from connector.mapping.skip import Skip
from connector.sources.base import Shape

__all__ = ["SHAPES", "detect_shape", "map_record", "normalise_event_type", "to_ecs"]

_log = logging.getLogger(__name__)

Event = dict[str, Any]

SHAPES: Final[Mapping[str, ShapeKeys]] = {"dv": DV, "cloud-funnel": CF, "pq": CF}
"""Shape name -> where its records keep their fields, for the full mapping."""
# Skips are immutable: the hot path hands out shared instances.
_NOT_AN_OBJECT: Final = Skip("not_an_object")
_UNSUPPORTED: Final = Skip("unsupported_event_type")
_MAPPER_ERROR: Final = Skip("mapper_error")


def detect_shape(record: object) -> Shape:
    """Guess the shape of one record for `auto` (never `auto` itself).

    `@timestamp` or a nested `event` object means ECS; dotted S1 keys (`event.time`,
    `event.id`, `event.type`) mean Cloud Funnel / SDL; camelCase DV keys mean DV. Anything
    else, including a non-object, is treated as Cloud Funnel (and then skipped if unusable).
    """
    if not isinstance(record, dict):
        return "cloud-funnel"
    if "@timestamp" in record or isinstance(record.get("event"), dict):
        return "ecs"
    if "event.time" in record or "event.id" in record or "event.type" in record:
        return "cloud-funnel"
    if "eventType" in record or "eventTime" in record or "createdAt" in record or "id" in record:
        return "dv"
    return "cloud-funnel"


def to_ecs(
    record: object,
    shape: Shape,
    *,
    bad: Counter[str] | None = None,
    event_types: Collection[str] | None = None,
    projection: Projection | None = None,
) -> Event | Skip:
    """Map one record; see the module docstring. Never raises.

    `bad` (optional) counts malformed fields (`bad_field:<ecs name>`, `parent_equals_self`).
    `event_types` (optional) restricts mapping to these normalised S1 event types
    (`normalise_event_type`); others are skipped as `unsupported_event_type`. A shape name
    outside `Shape` is a caller bug and comes back as `mapper_error`. `projection`
    (optional) maps only its fields (`projection.py`); ECS input is never narrowed.
    """
    shapes = SHAPES if projection is None else projection.shapes
    return map_record(record, shape, bad, event_types, shapes)


def map_record(
    record: object,
    shape: Shape,
    bad: Counter[str] | None,
    event_types: Collection[str] | None,
    shapes: Mapping[str, ShapeKeys],
) -> Event | Skip:
    """`to_ecs` with positional arguments and the shape keys to use (`SHAPES`, or a
    projection's): the per-record call of `Mapper.map`."""
    # This is the per-record hot path: one function, shared Skip instances, cached routes.
    try:
        keys = shapes.get(shape)
        if keys is None:
            if shape == "auto":
                return map_record(record, detect_shape(record), bad, event_types, shapes)
            if shape == "ecs":
                return from_ecs(record)
            raise ValueError(f"unknown shape {shape!r}")  # a caller bug: becomes mapper_error
        if not isinstance(record, dict):
            return _NOT_AN_OBJECT
        raw = record.get(keys.type)
        found = keys.routes.get(raw) if raw.__class__ is str else None
        if found is None:
            found = route(record, keys)
        if event_types is not None and found.name not in event_types:
            return _UNSUPPORTED
        return found.build(record, bad)
    except Exception:  # the record boundary: one odd record must not stop a run
        _log.debug("mapper error on a %s record", shape, exc_info=True)
        return _MAPPER_ERROR
