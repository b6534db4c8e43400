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
from dataclasses import dataclass, field
from typing import Any, Final

from connector.mapping import tables as t
from connector.mapping.compiler import Builder, Frame, Head, compile_builder
from connector.mapping.plan import PLANS, Plan

__all__ = ["CF", "DV", "Route", "ShapeKeys", "normalise_event_type", "route"]

_CACHE_LIMIT: Final = 4096


def normalise_event_type(name: str) -> str:
    """`"Process Creation"`, `"ProcessCreation"`, `"process creation"` → `"processcreation"`."""
    return "".join(name.split()).lower()


@dataclass(frozen=True, slots=True)
class Route:
    """The outcome of classification: the normalised type name, the kind of plan, the ECS
    class, and the compiled builder (`build(record, bad)`, see `compiler.compile_builder`).
    """

    name: str
    kind: str
    category: tuple[str, ...]
    type: tuple[str, ...]
    action: str | None
    build: Builder


@dataclass(frozen=True)
class ShapeKeys:
    """Where one input shape keeps the fields needed before the plan runs, and its plans.

    `routes` caches raw event-type strings of known types (bounded); unknown types are
    classified per record because their class depends on the category too. `index` None
    means no `sentinel_one.event.id` composite (Cloud Funnel ids already have that form).
    `plans` holds the plan of each kind and `action` says whether routes write
    `event.action`: a field projection (`projection.py`) swaps in narrower ones. With
    `categories`, a route whose ECS categories are all outside it runs no plan rows at all
    and writes no `event.action` (its events only need what every event has).
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
    plans: Mapping[str, Plan]
    action: bool = True
    categories: frozenset[str] | None = None
    source: str | None = None
    """Shape name the events of routes with rows keep their record under (projections)."""
    builders: dict[tuple[str | None, Head], Builder] = field(
        default_factory=dict, compare=False, repr=False
    )
    """Compiled on first use, per kind (None: no rows at all) and event class."""

    def builder(self, kind: str | None, head: Head) -> Builder:
        """The builder of `kind`'s plan with this shape's id, time and cross-field rules,
        for events of the class `head` (a few dozen classes exist)."""
        found = self.builders.get((kind, head))
        if found is None:
            plan = None if kind is None else self.plans[kind]
            frame = Frame(
                self.id,
                self.time,
                self.time_fallback,
                self.trace,
                self.index,
                guard=plan is not None and _GUARDED in plan.writes,
                source=None if plan is None else self.source,
            )
            name = f"{'dv' if self.dv else 'cloud-funnel'}/{kind or 'no rows'}"
            rows = (plan.fixed, plan.roles) if plan is not None else ((), ())
            found = compile_builder(name, *rows, frame, head)[0]
            self.builders[kind, head] = found
        return found


def _plans(dv: bool) -> dict[str, Plan]:
    return {kind: plan for (is_dv, kind), plan in PLANS.items() if is_dv == dv}


CF: Final = ShapeKeys(False, "event.type", "meta.event.name", "event.category", "event.id",
                      "event.time", None, "trace.id", None, {}, _plans(False))  # fmt: skip
DV: Final = ShapeKeys(True, "eventType", "metaEventName", "objectType", "id", "eventTime",
                      "createdAt", "traceId", "eventIndex", {}, _plans(True))  # fmt: skip
_UNKNOWN: Final = t.EventClass(t.OTHER, (), ("info",))
_GUARDED: Final = "process.parent.entity_id"  # dropped when equal to process.entity_id


def _make(keys: ShapeKeys, name: str, eclass: t.EventClass) -> Route:
    if keys.categories is not None and keys.categories.isdisjoint(eclass.category):
        head: Head = (eclass.category, eclass.type, None)
        return Route(name, eclass.kind, *head, keys.builder(None, head))
    head = (eclass.category, eclass.type, eclass.action if keys.action else None)
    return Route(name, eclass.kind, *head, keys.builder(eclass.kind, head))


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
