"""Field projection: map only the ECS fields a caller reads (e.g. the loaded rules).

Mapping every field costs more than parsing the JSON; a detection run reads a handful.
`projection_for(wanted)` narrows every plan to the rows that write a wanted field, so a
projected event is cheap and still exact:

* `fields` is the closure of `wanted` ∪ `ALWAYS`: a row that writes a wanted field writes
  its other outputs too (`cmdline` also writes `*.args`), so those join the set, and so do
  the fields a cross-field rule reads (`DEPENDS`), until nothing changes;
* a row is kept when it writes any field of `fields`, and kept rows keep their order.

With `categories` (the ECS categories the rules' stages name), an event none of whose
categories is in it gets only the `ALWAYS` fields: no rule stage can take it, so mapping
more would be wasted (in a typical stream, file, registry and library events are half).

Hence the contract the tests hold it to: **a projected event equals the full event
restricted to `projection.fields`**, or to `ALWAYS` for an event outside `categories`
(plus the DV `sentinel_one.event.id` when it is wanted) — never a different value, never a
stray field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from connector.mapping.classify import CF, DV, ShapeKeys
from connector.mapping.plan import PLANS, project
from connector.mapping.writers import written_fields

__all__ = ["ALWAYS", "DEPENDS", "Projection", "projection_for"]

ALWAYS: Final = frozenset({"@timestamp", "event.kind", "event.id", "event.category", "event.type"})
"""Written for every event whatever the projection (the engine needs category and time)."""

DEPENDS: Final[Mapping[str, tuple[str, ...]]] = {
    # The parent-equals-self guard drops process.parent.entity_id by comparing it with
    # process.entity_id, so the parent id is only exact when the own id is mapped too.
    "process.parent.entity_id": ("process.entity_id",),
}
_COMPOSITE_ID: Final = "sentinel_one.event.id"  # DV only, built after the plan runs


@dataclass(frozen=True)
class Projection:
    """The mapping restricted to `fields` (and `categories`, None: every category);
    `shapes` replaces `ecs._SHAPES` for it."""

    fields: frozenset[str]
    categories: frozenset[str] | None
    shapes: Mapping[str, ShapeKeys]


def projection_for(wanted: Iterable[str], categories: Iterable[str] | None = None) -> Projection:
    """The projection that maps at least `wanted`, for events of `categories` (None: any).

    Cached: the plans compile once per distinct pair."""
    return _projection(frozenset(wanted), None if categories is None else frozenset(categories))


@lru_cache(maxsize=16)
def _projection(wanted: frozenset[str], categories: frozenset[str] | None) -> Projection:
    fields = closure(wanted)
    cf = _narrow(CF, fields, categories)
    dv = _narrow(DV, fields, categories)
    return Projection(fields, categories, {"dv": dv, "cloud-funnel": cf, "pq": cf})


def closure(wanted: Iterable[str]) -> frozenset[str]:
    """`wanted` ∪ `ALWAYS` plus every field written by a row that writes one of them, and
    every field a cross-field rule needs, until nothing changes."""
    rows = {(field, converter) for plan in PLANS.values() for _, field, converter in plan.specs()}
    outputs = [written_fields(converter, field) for field, converter in rows]
    fields = set(ALWAYS) | set(wanted)
    while True:
        grown = set(fields)
        for written in outputs:
            if not written.isdisjoint(grown):
                grown |= written
        for field, needs in DEPENDS.items():
            if field in grown:
                grown.update(needs)
        if grown == fields:
            return frozenset(fields)
        fields = grown


def _narrow(
    keys: ShapeKeys, fields: frozenset[str], categories: frozenset[str] | None
) -> ShapeKeys:
    return dataclasses.replace(
        keys,
        routes={},
        builders={},
        plans={kind: project(plan, fields) for kind, plan in keys.plans.items()},
        action="event.action" in fields,
        index=keys.index if _COMPOSITE_ID in fields else None,
        categories=categories,
        source="dv" if keys.dv else "cloud-funnel",
    )
