"""Which ECS class and which compiled plan a record gets, from its S1 event type (spec §3).

The type comes from `eventType` (DV) or `event.type` (Cloud Funnel / SDL), compared with
spaces removed and lower-cased (`normalise_event_type`). Without a type,
`metaEventName` / `meta.event.name` = `PROCESSCREATION` also means Process Creation. A type not
in `tables.EVENT_TYPES` is classified by the S1 category (`objectType` / `event.category`,
`tables.S1_CATEGORIES`); a category not listed there gives no `event.category` and
`event.type = ["info"]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from connector.mapping import tables as t
from connector.mapping.compiler import Applier
from connector.mapping.plan import PLANS

__all__ = ["CF", "DV", "Route", "ShapeKeys", "normalise_event_type", "route"]

_CACHE_LIMIT: Final = 4096


def normalise_event_type(name: str) -> str:
    """`"Process Creation"`, `"ProcessCreation"`, `"process creation"` → `"processcreation"`."""
    return "".join(name.split()).lower()


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome of classification: the normalised type name, the ECS class, the plan."""

    name: str
    category: tuple[str, ...]
    type: tuple[str, ...]
    action: str | None
    apply: Applier


@dataclass(frozen=True)
class ShapeKeys:
    """Where one input shape keeps the fields needed before the plan runs.

    `routes` caches raw event-type strings of known types (bounded); unknown types are
    classified per record because their class depends on the category too.
    """

    dv: bool
    type: str
    meta: str
    category: str
    id: str
    time: str
    time_fallback: str | None
    trace: str
    index: str | None
    routes: dict[str, Route]


CF: Final = ShapeKeys(False, "event.type", "meta.event.name", "event.category", "event.id",
                      "event.time", None, "trace.id", None, {})  # fmt: skip
DV: Final = ShapeKeys(True, "eventType", "metaEventName", "objectType", "id",
                      "eventTime", "createdAt", "traceId", "eventIndex", {})  # fmt: skip
_UNKNOWN: Final = t.EventClass(t.OTHER, (), ("info",))


def _make(keys: ShapeKeys, name: str, eclass: t.EventClass) -> Route:
    plan = PLANS[keys.dv, eclass.kind]
    return Route(name, eclass.category, eclass.type, eclass.action, plan.apply)


def route(record: Mapping[str, Any], keys: ShapeKeys) -> Route:
    """Classify a record whose raw type is not in `keys.routes` (and cache it if known)."""
    raw = record.get(keys.type)
    name = ""
    if isinstance(raw, str):
        name = normalise_event_type(raw)
        eclass = t.EVENT_TYPES.get(name)
        if eclass is not None:
            found = _make(keys, name, eclass)
            if len(keys.routes) >= _CACHE_LIMIT:
                keys.routes.clear()
            keys.routes[raw] = found
            return found
    if not name or name == "null":
        meta = record.get(keys.meta)
        if isinstance(meta, str) and meta.strip().upper() == "PROCESSCREATION":
            return _make(keys, "processcreation", t.EVENT_TYPES["processcreation"])
        name = ""
    category = record.get(keys.category)
    if isinstance(category, str):
        return _make(keys, name, t.S1_CATEGORIES.get(category.strip().lower(), _UNKNOWN))
    return _make(keys, name, _UNKNOWN)
