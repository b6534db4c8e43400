"""The sequence matcher: Elasticsearch's EQL sequence semantics over an ordered stream.

State is one table per stage, keyed by the join key: `slots[s][key]` is the pending sequence
that has filled stages `0..s` (only the newest one per stage and key survives, as in
Elasticsearch, where advancing takes the latest earlier sequence and trims older ones).

For one event, stages are tried from the last to the first. That order is the point: the
event first completes or advances sequences that were pending *before* it, and only then
starts a new one, so a single event never fills two stages of the same sequence.

Rules implemented (eql-semantics.md §4):

* a later stage needs an event strictly after the previous stage's event (positions compare
  `(timestamp, tiebreaker, arrival)`);
* `maxspan` is inclusive and measured from the first event; a sequence that would exceed it is
  dropped when the next stage's event arrives, and evicted as time passes anyway;
* completion emits the sequence once and removes it;
* an `until` event cancels the pending sequences of its key that lie before it;
* without maxspan, at most `max_pending` sequences are kept (oldest evicted first, counted);
* time is per *lane* (the engine's partition, e.g. one agent): a pending sequence belongs to
  the lane of its first event and expires by that lane's time only, so an agent that is
  hours behind keeps its sequences open.

`dump()`/`load()` give a plain JSON-serialisable form of the state.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from connector.detection.model import Event

__all__ = ["Key", "Pending", "Position", "SequenceMatcher"]

Key = tuple[Any, ...]
Position = tuple[Any, ...]
"""(ticks, tiebreaker kind, tiebreaker, arrival): total order of events."""


class Pending:
    """A partly matched sequence: where it is, when it started, its events so far."""

    __slots__ = ("events", "key", "lane", "last", "stage", "start")

    def __init__(
        self, key: Key, start: float, last: Position, events: list[Event], lane: str = ""
    ) -> None:
        self.key = key
        self.lane = lane
        self.start = start
        self.last = last
        self.events = events
        self.stage = 0


class SequenceMatcher:
    """State machine for one sequence rule with `stages` stages (runs already expanded).

    `maxspan` is in the same ticks as positions' first element; None means no limit."""

    def __init__(self, stages: int, maxspan: float | None, max_pending: int) -> None:
        if stages < 2:
            raise ValueError("a sequence has at least two stages")
        self.stages = stages
        self.maxspan = maxspan
        self.max_pending = max_pending
        self.slots: list[dict[Key, Pending]] = [{} for _ in range(stages - 1)]
        # Creation order of pendings, for eviction; entries may be stale (already gone).
        self._order: deque[Pending] = deque()
        # The same per lane, for expiry by the lane's time (kept only with a maxspan).
        self._lanes: dict[str, deque[Pending]] = {}
        self.evicted = 0
        self.rejected_maxspan = 0

    @property
    def pending_count(self) -> int:
        """How many sequences are waiting for their next stage."""
        return sum(len(slot) for slot in self.slots)

    def until(self, keys: Sequence[Key], position: Position) -> None:
        """An `until` event at `position`: cancel earlier pending sequences of these keys."""
        for key in keys:
            for slot in self.slots:
                pending = slot.get(key)
                if pending is not None and pending.last < position:
                    del slot[key]

    def advance(
        self, stage: int, keys: Sequence[Key], position: Position, event: Event, lane: str = ""
    ) -> list[Pending]:
        """The event at `position` (of `lane`) matches `stage` for `keys`; returns completed
        sequences. Call for the stages an event matches from the last stage to the first."""
        if stage == 0:
            for key in keys:
                self._start(key, position, event, lane)
            return []
        completed: list[Pending] = []
        previous = self.slots[stage - 1]
        for key in keys:
            pending = previous.get(key)
            if pending is None or not pending.last < position:
                continue
            del previous[key]
            if self.maxspan is not None and position[0] - pending.start > self.maxspan:
                self.rejected_maxspan += 1
                continue
            pending.events.append(event)
            pending.last = position
            pending.stage = stage
            if stage == self.stages - 1:
                completed.append(pending)
            else:
                self._put(stage, pending)
        return completed

    def _start(self, key: Key, position: Position, event: Event, lane: str) -> None:
        existing = self.slots[0].get(key)
        if existing is not None and existing.last > position:
            return  # a late event never replaces a newer pending sequence
        pending = Pending(key, position[0], position, [event], lane)
        self.slots[0][key] = pending
        self._track(pending)
        self._enforce_cap()

    def _track(self, pending: Pending) -> None:
        self._order.append(pending)
        if self.maxspan is not None:
            self._lanes.setdefault(pending.lane, deque()).append(pending)

    def _put(self, stage: int, pending: Pending) -> None:
        existing = self.slots[stage].get(pending.key)
        if existing is not None and existing.last > pending.last:
            return
        self.slots[stage][pending.key] = pending

    def expire(self, now: float, lane: str | None = None) -> None:
        """Evict pending sequences (of `lane`; None: of every lane) that can no longer
        complete within maxspan when their lane's time is `now`."""
        if self.maxspan is None:
            return
        horizon = now - self.maxspan
        for name in [lane] if lane is not None else list(self._lanes):
            order = self._lanes.get(name)
            while order and order[0].start < horizon:
                self._evict(order.popleft())
            if order is not None and not order:
                del self._lanes[name]
        if len(self._order) > 1024 and len(self._order) > 2 * self.pending_count + 1024:
            # Expiry works on the lane queues; drop the creation-order queue's dead entries
            # too, or it would keep every completed or expired sequence (and its events).
            self._order = deque(p for p in self._order if self._is_live(p))

    def drop_partition(self, lane: str) -> None:
        """Evict every pending sequence of `lane` (an idle agent dropped by the engine)."""
        for pending in self._lanes.pop(lane, ()):
            self._evict(pending)
        if self.maxspan is None:
            for slot in self.slots:
                for key in [k for k, p in slot.items() if p.lane == lane]:
                    del slot[key]
                    self.evicted += 1

    def _evict(self, pending: Pending) -> None:
        if pending.stage >= self.stages - 1:
            return
        slot = self.slots[pending.stage]
        if slot.get(pending.key) is pending:
            del slot[pending.key]
            self.evicted += 1

    def _enforce_cap(self) -> None:
        order = self._order
        if len(order) <= self.max_pending:
            return
        live = self.pending_count
        while live > self.max_pending and order:
            pending = order.popleft()
            before = self.evicted
            self._evict(pending)
            live -= self.evicted - before
        if len(order) > 2 * max(live, 1) + 1024:
            # Drop stale entries so the order queue stays proportional to the live state.
            self._order = deque(p for p in order if self._is_live(p))

    def _is_live(self, pending: Pending) -> bool:
        if pending.stage >= self.stages - 1:
            return False
        return self.slots[pending.stage].get(pending.key) is pending

    # --- persistence -------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """Plain data: the live pending sequences in creation order, and the counters."""
        live = [p for p in self._order if self._is_live(p)]
        return {
            "pending": [
                {
                    "stage": p.stage,
                    "key": list(p.key),
                    "start": p.start,
                    "last": list(p.last),
                    "lane": p.lane,
                    "events": p.events,
                }
                for p in live
            ],
        }

    def load(self, data: dict[str, Any], lane_of: Callable[[Event], str] | None = None) -> None:
        """Replace the state with `data` from `dump()`; raise ValueError when malformed.
        `lane_of` gives the lane of a sequence saved without one (from its first event)."""
        self.slots = [{} for _ in range(self.stages - 1)]
        self._order = deque()
        self._lanes = {}
        for item in data["pending"]:
            stage = int(item["stage"])
            if not 0 <= stage < self.stages - 1:
                raise ValueError(f"pending sequence at stage {stage} of {self.stages}")
            events = list(item["events"])
            lane = item.get("lane")
            if lane is None:
                lane = lane_of(events[0]) if lane_of is not None and events else ""
            pending = Pending(
                tuple(item["key"]), item["start"], tuple(item["last"]), events, str(lane)
            )
            pending.stage = stage
            self.slots[stage][pending.key] = pending
            self._track(pending)
