"""The engine's persisted state: a versioned, JSON-serialisable dict.

```
{"version": 2,
 "arrival": 1234,                       # arrival counter (keeps positions unique across runs)
 "watermark_ms": 1763900000000 | null,  # highest watermark passed to process()
 "lanes": {"<host.id>": {"frontier": [ticks, kind, tb, arrival] | null,  # last evaluated
                         "active_ms": 1763900000000 | null,   # watermark when last active
                         "buffer": [[position, event], ...]}},   # not yet evaluated
 "rules": {rule_id: {"fingerprint": "...", "pending": [...]}}}   # SequenceMatcher.dump()
```

Version 1 (one global `frontier` and `buffer`) still loads: its buffered events go to their
lanes, and its frontier is dropped (each lane starts afresh, so nothing is wrongly late).

Buffered events are re-checked against the current rules on load, so a rule set that changed
between runs is honoured; pending sequences of a rule whose query changed are dropped (logged).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from connector.errors import StateError

if TYPE_CHECKING:
    from connector.detection.engine import Engine

from connector.detection.lane import Lane

__all__ = ["STATE_VERSION", "dump_state", "restore_state"]

log = logging.getLogger(__name__)

STATE_VERSION = 2


def dump_state(engine: Engine) -> dict[str, Any]:
    """The engine's state as plain data."""
    rules: dict[str, Any] = {}
    for index, compiled in enumerate(engine.compiled):
        matcher = engine.matcher_of(index)
        if matcher is not None:
            rules[compiled.rule.rule_id] = {"fingerprint": compiled.fingerprint, **matcher.dump()}
    return {
        "version": STATE_VERSION,
        "arrival": engine.arrival,
        "watermark_ms": engine.watermark_ms,
        "lanes": {
            name: {
                "frontier": list(lane.frontier) if lane.frontier is not None else None,
                "active_ms": lane.active_ms,
                "buffer": [[list(position), event] for position, event, _ in lane.buffer],
            }
            for name, lane in engine.lanes.items()
        },
        "rules": rules,
    }


def restore_state(engine: Engine, state: dict[str, Any]) -> None:
    """Load `state` into `engine`; raise StateError when malformed or written by a newer version."""
    if not isinstance(state, dict):
        raise StateError("matcher state is not an object")
    version = state.get("version")
    if not isinstance(version, int) or version > STATE_VERSION or version < 1:
        raise StateError(
            f"matcher state version {version!r} is not supported (this build reads up to "
            f"{STATE_VERSION}); reset the state with `s1-connector state reset`"
        )
    try:
        _restore(engine, state)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise StateError(f"matcher state is malformed: {exc!r}") from exc


def _restore(engine: Engine, state: dict[str, Any]) -> None:
    engine.arrival = int(state["arrival"])
    watermark = state.get("watermark_ms")
    engine.watermark_ms = int(watermark) if watermark is not None else None
    engine.lanes = {}
    if state["version"] == 1:
        saved_lanes: dict[str, Any] = {}
        buffered = [("", item) for item in state["buffer"]]
    else:
        saved_lanes = state["lanes"]
        buffered = [(name, item) for name, lane in saved_lanes.items() for item in lane["buffer"]]
    for name, lane_state in saved_lanes.items():
        frontier = lane_state["frontier"]
        active = lane_state.get("active_ms")
        engine.lanes[str(name)] = Lane(
            frontier=tuple(frontier) if frontier is not None else None,
            active_ms=int(active) if active is not None else None,
        )
    for name, (position, event) in buffered:
        if not isinstance(event, dict):
            raise ValueError("a buffered event is not an object")
        hits = engine.stage_hits(event)
        if hits:
            lane = engine.lanes.setdefault(name or engine.lane_of(event), Lane())
            lane.buffer.append((tuple(position), event, hits))
    saved_rules = state["rules"]
    for index, compiled in enumerate(engine.compiled):
        matcher = engine.matcher_of(index)
        saved = saved_rules.get(compiled.rule.rule_id)
        if matcher is None or saved is None:
            continue
        if saved.get("fingerprint") != compiled.fingerprint:
            log.info(
                "rule %s changed since the state was saved; its pending sequences are dropped",
                compiled.rule.rule_id,
            )
            continue
        matcher.load(saved, engine.lane_of)
