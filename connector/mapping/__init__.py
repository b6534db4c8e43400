"""Mapping stage: SentinelOne records (DV, Cloud Funnel / SDL, PowerQuery rows, ECS) → flat ECS.

Public API:

* `Mapper()` — `.map(record, shape="auto") -> Event | None`, with counters `.mapped`,
  `.skipped` (reason → count) and `.bad_fields` (`bad_field:<ecs name>` /
  `parent_equals_self` → count); never raises. `Mapper(fields=..., categories=...)` maps
  only what rules read (`projection.py`); `.complete(event)` then gives the full event.
* `to_ecs(record, shape) -> Event | Skip` — the stateless function underneath
  (`projection=projection_for(fields)` for the projected form).
* `detect_shape(record) -> Shape` — what `auto` uses.
* `rows_from_table(columns, values)` — zip PowerQuery table rows into records.
* `split_command_line(text)` — Windows argv splitting as Elastic does it.
* `DV_TO_CF` / `CF_TO_DV` — the DV camelCase ⇄ Cloud Funnel dotted key correspondence.
"""

from __future__ import annotations

from connector.mapping.argv import split_command_line
from connector.mapping.ecs import detect_shape, normalise_event_type, to_ecs
from connector.mapping.ecs_input import LIST_FIELDS
from connector.mapping.fields import CF_TO_DV, DV_TO_CF
from connector.mapping.mapper import Mapper, rows_from_table
from connector.mapping.skip import SKIP_REASONS, Skip

__all__ = [
    "CF_TO_DV",
    "DV_TO_CF",
    "LIST_FIELDS",
    "SKIP_REASONS",
    "Mapper",
    "Skip",
    "detect_shape",
    "normalise_event_type",
    "rows_from_table",
    "split_command_line",
    "to_ecs",
]
