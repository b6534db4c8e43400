"""Why a record was not mapped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["BAD_TIMESTAMP", "MISSING_EVENT_ID", "SKIP_REASONS", "Skip"]

SKIP_REASONS: Final = (
    "not_an_object",
    "malformed_row",
    "unsupported_event_type",
    "missing_event_id",
    "bad_timestamp",
    "mapper_error",
)
"""Every reason a `Skip` can carry, in the order the mapper checks them (spec §3)."""


@dataclass(frozen=True, slots=True)
class Skip:
    """A record the mapper skipped; `reason` is one of `SKIP_REASONS`."""

    reason: str


# Skips are immutable: the per-record paths hand out shared instances.
MISSING_EVENT_ID: Final = Skip("missing_event_id")
BAD_TIMESTAMP: Final = Skip("bad_timestamp")
