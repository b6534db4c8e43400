"""Which fetched records a source passes on: inside the window, and each event id once.

Shared by every console and file source so the rule is written once: a record whose event
time parses and lies outside `[start, end)` is dropped (`outside-window`), a repeat of an
event id already passed on in this fetch is dropped (`duplicate`), everything else counts
as a record. A record without a usable time or id is passed on (the mapper judges it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connector.sources.base import SourceStats
from connector.timeutil import Window, to_datetime

__all__ = ["Admission", "outside"]


def outside(window: Window, when: object) -> bool:
    """True when `when` parses as a time (ISO, epoch ms or s) outside `[start, end)`."""
    moment = to_datetime(when)
    return moment is not None and not window.start <= moment < window.end


@dataclass
class Admission:
    """Counts into `stats`; `seen` spans one `fetch` (bisected or relaunched windows too)."""

    stats: SourceStats
    seen: set[str] = field(default_factory=set)

    def admit(self, window: Window, when: object, event_id: object = None) -> bool:
        if outside(window, when):
            self.stats.skipped["outside-window"] += 1
            return False
        if isinstance(event_id, str | int) and not isinstance(event_id, bool) and event_id != "":
            key = str(event_id)
            if key in self.seen:
                self.stats.skipped["duplicate"] += 1
                return False
            self.seen.add(key)
        self.stats.records += 1
        return True
