"""A lane: one partition of the engine's time (one agent in poll), see `engine.py`."""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.detection.model import Event
from connector.detection.sequence import Position
from connector.detection.stages import Hit

__all__ = ["Buffered", "Lane"]

Buffered = tuple[Position, Event, list[Hit]]
"""An event waiting in a reorder buffer: (position, event, stage hits)."""


@dataclass
class Lane:
    """One partition's time: its reorder buffer, the position it evaluated last, and the
    watermark (epoch ms) when it last took an event."""

    buffer: list[Buffered] = field(default_factory=list)
    frontier: Position | None = None
    active_ms: int | None = None
