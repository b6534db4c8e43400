"""Run compiled rules over an ordered stream of flat ECS events.

How an event flows:

1. **Intake** (order does not matter yet): the event's category, then each stage's anchor
   value (`stages.py`, `anchors.py`), select the stage conditions to try; most events stop
   after a dict lookup or two. Conditions are pure functions of the event, so they are
   evaluated at once; an event that matches no stage of any rule is only counted, never
   stored.
2. **Reorder buffer**, one per *lane*: matching events wait, with their position
   `(timestamp, tiebreaker, arrival)`, until the watermark passes them. A lane is the value of
   `partition_field` (poll: `host.id`, one lane per agent; hunt and replay: one lane), so
   time is kept per agent: each lane has its own frontier (what it evaluated last) and its
   pending sequences expire by its own time. An agent that uploads hours late is therefore
   not late against the others, and its chains still complete.
3. **Evaluation** in position order within a lane: single-event rules emit a match; sequence
   rules advance their `SequenceMatcher`. An event positioned before what its lane already
   evaluated is *late*: it is applied at once against the current pending state (ordering
   checks still hold) and counted, per host (`stats.late_hosts`).
4. **Idle lanes** (no event for `idle_ms` of watermark time) are flushed and dropped with
   their pending sequences (counted in `lanes_evicted`), so state stays bounded.

`dump()`/`load()` persist the lanes and the pending sequences as versioned
JSON-ready data (`persist.py`); state of a rule whose query changed is dropped on load.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.detection.exceptions import HitFilter, RuleExceptions
from connector.detection.lane import Lane
from connector.detection.model import Event, Match, Rule
from connector.detection.persist import dump_state, restore_state
from connector.detection.program import CompiledRule, compile_rule
from connector.detection.sequence import Position, SequenceMatcher
from connector.detection.stages import UNTIL, Dispatch, Hit, join_keys
from connector.detection.timestamps import TimeReader, position_tiebreak

__all__ = ["Candidate", "Engine", "EngineStats", "Lane", "OrderKey"]

log = logging.getLogger(__name__)


@dataclass
class EngineStats:
    """What the engine did. `late_events` and `no_timestamp` count candidate events only
    (events that matched some stage); other events never need a timestamp. `pending`,
    `buffered` and `lanes` are the current sizes of the sequence state, the reorder buffers and
    the lane table; `late_hosts` counts late events by host (the 20 most in `as_dict`)."""

    events_seen: int = 0
    candidates: int = 0
    late_events: int = 0
    no_timestamp: int = 0
    evaluation_errors: int = 0
    evicted_pending: int = 0
    maxspan_rejected: int = 0
    pending: int = 0
    buffered: int = 0
    lanes: int = 0
    lanes_evicted: int = 0
    late_hosts: Counter[str] = field(default_factory=Counter)
    hits: dict[str, int] = field(default_factory=dict)
    excepted: dict[str, int] = field(default_factory=dict)
    """Per rule id: candidate events its exception items removed."""

    def as_dict(self) -> dict[str, Any]:
        """Plain data for logs and the run summary."""
        return {
            "events_seen": self.events_seen,
            "candidates": self.candidates,
            "late_events": self.late_events,
            "no_timestamp": self.no_timestamp,
            "evaluation_errors": self.evaluation_errors,
            "evicted_pending": self.evicted_pending,
            "maxspan_rejected": self.maxspan_rejected,
            "pending": self.pending,
            "buffered": self.buffered,
            "lanes": self.lanes,
            "lanes_evicted": self.lanes_evicted,
            "late_hosts": dict(self.late_hosts.most_common(20)),
            "hits": dict(self.hits),
            "excepted": dict(self.excepted),
        }


OrderKey = tuple[Any, ...]
"""(ticks, tiebreaker kind, tiebreaker, event id): the total order of `evaluate_ordered`."""
Candidate = tuple[OrderKey, Event, list[Hit]]
"""A candidate event with its sort key and stage hits, as `evaluate_ordered` takes them."""


class Engine:
    """Evaluates `rules` over event batches; see the module docstring for the flow.

    `category_field`, `timestamp_field` and `tiebreaker_field` name the fields as in
    Elasticsearch's EQL search API. `timestamp_unit` says what numeric timestamps count
    (see `timestamps.py`). `allowed_lateness_ms` is how far behind the newest fetched time
    events may still arrive (see `watermark_for`); `max_pending` caps pending sequences per
    rule (evictions are counted). `exceptions` maps rule ids to their exception items: a
    matching event is removed for that rule before the rule sees it (Kibana's exception filter).
    `partition_field` names the field whose value is a lane (None: one lane); `idle_ms` is
    how long a lane may take no event before it is dropped (None: never); `host_field` names
    late events' hosts in `stats.late_hosts`.
    """

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        category_field: str = "event.category",
        timestamp_field: str = "@timestamp",
        tiebreaker_field: str | None = None,
        allowed_lateness_ms: int = 0,
        max_pending: int = 100_000,
        timestamp_unit: str = "ms",
        exceptions: Mapping[str, RuleExceptions] | None = None,
        partition_field: str | None = None,
        idle_ms: int | None = None,
        host_field: str = "host.name",
    ) -> None:
        self.compiled = [compile_rule(rule) for rule in rules]
        ids = [c.rule.rule_id for c in self.compiled]
        self.hit_filter = HitFilter(ids, exceptions) if exceptions else None
        self.category_field = category_field
        self.timestamp_field = timestamp_field
        self.tiebreaker_field = tiebreaker_field
        self.allowed_lateness_ms = allowed_lateness_ms
        self.max_pending = max_pending
        self.time = TimeReader(timestamp_unit)
        self.stats = EngineStats(hits={c.rule.rule_id: 0 for c in self.compiled})
        self._dispatch = Dispatch(self.compiled, category_field=category_field)
        self._matchers = [self._matcher(c) for c in self.compiled]
        self.partition_field = partition_field
        self.idle_ms = idle_ms
        self.host_field = host_field
        self.lanes: dict[str, Lane] = {}
        """Per partition value: events not evaluated yet, frontier, last activity."""
        self.watermark_ms: int | None = None
        """The highest watermark passed to `process` so far (None before the first)."""
        self.arrival = 0

    def _matcher(self, compiled: CompiledRule) -> SequenceMatcher | None:
        if not compiled.sequence:
            return None
        span = compiled.maxspan_ms
        ticks = None if span is None else span * self.time.ticks_per_ms
        return SequenceMatcher(len(compiled.order), ticks, self.max_pending)

    # --- intake --------------------------------------------------------------------------------
    def process(self, events: Iterable[Event], watermark_ms: int | None = None) -> list[Match]:
        """Take `events`, then evaluate every buffered event before `watermark_ms` (None: all)
        in position order. Returns the matches in completion order."""
        matches: list[Match] = []
        if watermark_ms is not None:
            self.watermark_ms = max(watermark_ms, self.watermark_ms or watermark_ms)
        self._intake(events, matches)
        self._evaluate_lanes(watermark_ms, matches)
        self._evict_idle(matches)
        self._sync_counters()
        return matches

    def lane_of(self, event: Event) -> str:
        """The event's partition value ('' without `partition_field` or when missing)."""
        if self.partition_field is None:
            return ""
        value = event.get(self.partition_field)
        return "" if value is None else str(value)

    def _lane(self, name: str) -> Lane:
        lane = self.lanes.get(name)
        if lane is None:
            lane = self.lanes[name] = Lane(active_ms=self.watermark_ms)
        return lane

    def watermark_for(self, latest_ms: int) -> int:
        """The watermark to pass when `latest_ms` is the newest time fetched so far: events up
        to `allowed_lateness_ms` older may still arrive and are buffered, not late."""
        return latest_ms - self.allowed_lateness_ms

    def _intake(self, events: Iterable[Event], matches: list[Match]) -> None:
        category_field = self.category_field
        candidates = self._dispatch.candidates
        hit_filter = self.hit_filter
        seen = 0
        for event in events:
            seen += 1
            hits = candidates(event, event.get(category_field))
            if hits and hit_filter is not None:
                hits = hit_filter(event, hits)
            if hits:
                self._accept(event, hits, matches)
        self.stats.events_seen += seen
        self.stats.evaluation_errors = self._dispatch.errors
        if hit_filter is not None:
            self.stats.excepted = dict(hit_filter.excepted)

    def _accept(self, event: Event, hits: list[Hit], matches: list[Match]) -> None:
        self.stats.candidates += 1
        self.arrival += 1
        ticks = self.time.ticks(event.get(self.timestamp_field))
        if ticks is None:
            self.stats.no_timestamp += 1
            log.debug("event without a usable %s skipped", self.timestamp_field)
            return
        tiebreak = position_tiebreak(
            event.get(self.tiebreaker_field) if self.tiebreaker_field else None
        )
        position: Position = (ticks, *tiebreak, self.arrival)
        name = self.lane_of(event)
        lane = self._lane(name)
        lane.active_ms = self.watermark_ms
        if lane.frontier is not None and position < lane.frontier:
            self.stats.late_events += 1
            self.stats.late_hosts[str(event.get(self.host_field) or name or "-")] += 1
            self._apply(position, event, hits, matches, name)
            return
        lane.buffer.append((position, event, hits))

    # --- ordered evaluation (replay, hunt: the whole input is known) -----------------------------
    def candidate(self, event: Event) -> list[Hit] | None:
        """The stage hits of `event`, or None when no stage of any rule can take it. Counts the
        event as seen (and as a candidate when it has hits)."""
        self.stats.events_seen += 1
        hits = self._dispatch.candidates(event, event.get(self.category_field))
        if hits and self.hit_filter is not None:
            hits = self.hit_filter(event, hits)
        if not hits:
            return None
        self.stats.candidates += 1
        return hits

    def order_key(self, event: Event) -> OrderKey | None:
        """Where `event` sorts: timestamp, tiebreaker, then its `event.id`, so the order (and so
        the answer) does not depend on the order events arrive in. None (and counted under
        `no_timestamp`) when the timestamp is unusable."""
        ticks = self.time.ticks(event.get(self.timestamp_field))
        if ticks is None:
            self.stats.no_timestamp += 1
            return None
        kind, tiebreak = position_tiebreak(
            event.get(self.tiebreaker_field) if self.tiebreaker_field else None
        )
        return (ticks, kind, tiebreak, str(event.get("event.id", "")))

    def evaluate_ordered(self, candidates: Iterable[Candidate]) -> Iterator[Match]:
        """Evaluate candidates sorted by `order_key`, bypassing the reorder buffer; yields the
        matches in completion order. Input out of order is still evaluated but counted late."""
        matches: list[Match] = []
        lane = self._lane("")
        for count, (key, event, hits) in enumerate(candidates, 1):
            self.arrival += 1
            position: Position = (key[0], key[1], key[2], self.arrival)
            if lane.frontier is not None and position < lane.frontier:
                self.stats.late_events += 1
            else:
                lane.frontier = position
            self._apply(position, event, hits, matches, "")
            if not count & 0xFFF:  # maxspan expiry for memory; correctness needs none
                self._expire(key[0], "")
            if matches:
                yield from matches
                matches.clear()
        self.stats.evaluation_errors = self._dispatch.errors
        if self.hit_filter is not None:
            self.stats.excepted = dict(self.hit_filter.excepted)
        self._sync_counters()

    # --- evaluation ----------------------------------------------------------------------------
    def _evaluate_lanes(self, watermark_ms: int | None, matches: list[Match]) -> None:
        limit = None if watermark_ms is None else self.time.from_ms(watermark_ms)
        for name, lane in self.lanes.items():
            if lane.buffer:
                self._evaluate_lane(name, lane, limit, matches)
            if lane.frontier is not None:
                # A lane's pending sequences expire by its own time, never by the others':
                # an agent hours behind keeps its chains open until its own events pass them.
                self._expire(lane.frontier[0], name)

    def _evaluate_lane(
        self, name: str, lane: Lane, limit: float | None, matches: list[Match]
    ) -> None:
        if limit is None:
            ready, lane.buffer = lane.buffer, []
        else:
            ready = [b for b in lane.buffer if b[0][0] < limit]
            lane.buffer = [b for b in lane.buffer if b[0][0] >= limit]
        ready.sort(key=lambda item: item[0])
        for position, event, hits in ready:
            self._apply(position, event, hits, matches, name)
            lane.frontier = position

    def _evict_idle(self, matches: list[Match]) -> None:
        """Flush and drop lanes that took no event for `idle_ms` of watermark time."""
        if self.idle_ms is None or self.watermark_ms is None:
            return
        horizon = self.watermark_ms - self.idle_ms
        idle = [n for n, lane in self.lanes.items() if (lane.active_ms or horizon) < horizon]
        for name in idle:
            self._evaluate_lane(name, self.lanes[name], None, matches)
            for matcher in self._matchers:
                if matcher is not None:
                    matcher.drop_partition(name)
            del self.lanes[name]
            self.stats.lanes_evicted += 1

    def _apply(
        self, position: Position, event: Event, hits: list[Hit], out: list[Match], lane: str
    ) -> None:
        roles_by_rule: dict[int, list[int]] = {}
        for rule_index, role in hits:
            roles_by_rule.setdefault(rule_index, []).append(role)
        for rule_index, roles in roles_by_rule.items():
            compiled = self.compiled[rule_index]
            matcher = self._matchers[rule_index]
            if matcher is None:
                self._emit(compiled, (event,), (), out)
            else:
                self._advance(compiled, matcher, roles, position, event, lane=lane, out=out)

    def _advance(
        self,
        compiled: CompiledRule,
        matcher: SequenceMatcher,
        roles: list[int],
        position: Position,
        event: Event,
        *,
        lane: str,
        out: list[Match],
    ) -> None:
        if compiled.maxspan_ms is not None:
            matcher.expire(position[0], lane)
        keys_by_role = {r: join_keys(compiled.stages[r], event) for r in roles if r != UNTIL}
        last = len(compiled.order) - 1
        # Later stages first (see sequence.py). An `until` event still completes a sequence
        # (completion comes first) but cancels the pending ones before it advances them:
        # that is what Elasticsearch returns for an until event that matches a stage too.
        for index in range(last, -1, -1):
            if index == last - 1 and UNTIL in roles and compiled.until is not None:
                matcher.until(join_keys(compiled.until, event), position)
            keys = keys_by_role.get(compiled.order[index])
            if keys:
                for done in matcher.advance(index, keys, position, event, lane):
                    self._emit(compiled, tuple(done.events), done.key, out)

    def _emit(
        self,
        compiled: CompiledRule,
        events: tuple[Event, ...],
        key: tuple[Any, ...],
        out: list[Match],
    ) -> None:
        self.stats.hits[compiled.rule.rule_id] = self.stats.hits.get(compiled.rule.rule_id, 0) + 1
        out.append(Match(compiled.rule, events, key))

    def _expire(self, now: float, lane: str) -> None:
        for matcher in self._matchers:
            if matcher is not None:
                matcher.expire(now, lane)

    def _sync_counters(self) -> None:
        matchers = [m for m in self._matchers if m is not None]
        self.stats.evicted_pending = sum(m.evicted for m in matchers)
        self.stats.maxspan_rejected = sum(m.rejected_maxspan for m in matchers)
        self.stats.pending = sum(m.pending_count for m in matchers)
        self.stats.buffered = sum(len(lane.buffer) for lane in self.lanes.values())
        self.stats.lanes = len(self.lanes)

    # --- persistence ---------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """The state as JSON-serialisable data (versioned): lanes, pending sequences."""
        self._sync_counters()
        return dump_state(self)

    def load(self, state: dict[str, Any]) -> None:
        """Restore `dump()` output; raise StateError when it is malformed or from a newer
        version. Pending sequences of rules that are gone or whose query changed are dropped."""
        restore_state(self, state)

    def matcher_of(self, rule_index: int) -> SequenceMatcher | None:
        """The sequence matcher of a rule (None for single-event rules)."""
        return self._matchers[rule_index]

    def stage_hits(self, event: Event) -> list[Hit]:
        """The hits of `event` with the current rules and exceptions (restoring the buffer)."""
        hits = self._dispatch.candidates(event, event.get(self.category_field)) or []
        return self.hit_filter(event, hits) if hits and self.hit_filter is not None else hits
