"""Run compiled rules over an ordered stream of flat ECS events.

How an event flows:

1. **Intake** (order does not matter yet): the event's category, then each stage's anchor
   value (`stages.py`, `anchors.py`), select the stage conditions to try; most events stop
   after a dict lookup or two. Conditions are pure functions of the event, so they are
   evaluated at once; an event that matches no stage of any rule is only counted, never
   stored.
2. **Reorder buffer**: matching events wait, with their position
   `(timestamp, tiebreaker, arrival)`, until the watermark passes them.
3. **Evaluation** in position order: single-event rules emit a match; sequence rules advance
   their `SequenceMatcher`. An event positioned before what was already evaluated is *late*:
   it is applied at once against the current pending state (ordering checks still hold) and
   counted.

`dump()`/`load()` persist the reorder buffer and the pending sequences as versioned
JSON-ready data (`persist.py`); state of a rule whose query changed is dropped on load.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from connector.detection.exceptions import HitFilter, RuleExceptions
from connector.detection.model import Event, Match, Rule
from connector.detection.persist import dump_state, restore_state
from connector.detection.program import CompiledRule, compile_rule
from connector.detection.sequence import Position, SequenceMatcher
from connector.detection.stages import UNTIL, Dispatch, Hit, join_keys
from connector.detection.timestamps import TimeReader, position_tiebreak

__all__ = ["Candidate", "Engine", "EngineStats", "OrderKey"]

log = logging.getLogger(__name__)


@dataclass
class EngineStats:
    """What the engine did. `late_events` and `no_timestamp` count candidate events only
    (events that matched some stage); other events never need a timestamp. `pending` and
    `buffered` are the current sizes of the sequence state and the reorder buffer."""

    events_seen: int = 0
    candidates: int = 0
    late_events: int = 0
    no_timestamp: int = 0
    evaluation_errors: int = 0
    evicted_pending: int = 0
    maxspan_rejected: int = 0
    pending: int = 0
    buffered: int = 0
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
            "hits": dict(self.hits),
            "excepted": dict(self.excepted),
        }


_Buffered = tuple[Position, Event, list[Hit]]
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
        self._dispatch = Dispatch(self.compiled)
        self._matchers = [self._matcher(c) for c in self.compiled]
        self.buffer: list[_Buffered] = []
        """Candidate events not evaluated yet: (position, event, hits)."""
        self.frontier: Position | None = None
        """Position of the last evaluated event."""
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
        self._evaluate_buffer(watermark_ms, matches)
        self._sync_counters()
        return matches

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
        if self.frontier is not None and position < self.frontier:
            self.stats.late_events += 1
            self._apply(position, event, hits, matches)
            return
        self.buffer.append((position, event, hits))

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
        for count, (key, event, hits) in enumerate(candidates, 1):
            self.arrival += 1
            position: Position = (key[0], key[1], key[2], self.arrival)
            if self.frontier is not None and position < self.frontier:
                self.stats.late_events += 1
            else:
                self.frontier = position
            self._apply(position, event, hits, matches)
            if not count & 0xFFF:  # maxspan expiry for memory; correctness needs none
                self._expire(key[0])
            if matches:
                yield from matches
                matches.clear()
        self.stats.evaluation_errors = self._dispatch.errors
        if self.hit_filter is not None:
            self.stats.excepted = dict(self.hit_filter.excepted)
        self._sync_counters()

    # --- evaluation ----------------------------------------------------------------------------
    def _evaluate_buffer(self, watermark_ms: int | None, matches: list[Match]) -> None:
        if watermark_ms is None:
            ready, self.buffer = self.buffer, []
        else:
            limit = self.time.from_ms(watermark_ms)
            ready = [b for b in self.buffer if b[0][0] < limit]
            self.buffer = [b for b in self.buffer if b[0][0] >= limit]
        ready.sort(key=lambda item: item[0])
        for position, event, hits in ready:
            self._apply(position, event, hits, matches)
            self.frontier = position
        now = self.frontier[0] if self.frontier is not None else None
        if watermark_ms is not None:
            now = max(now or 0, self.time.from_ms(watermark_ms))
        if now is not None:
            self._expire(now)

    def _apply(self, position: Position, event: Event, hits: list[Hit], out: list[Match]) -> None:
        roles_by_rule: dict[int, list[int]] = {}
        for rule_index, role in hits:
            roles_by_rule.setdefault(rule_index, []).append(role)
        for rule_index, roles in roles_by_rule.items():
            compiled = self.compiled[rule_index]
            matcher = self._matchers[rule_index]
            if matcher is None:
                self._emit(compiled, (event,), (), out)
            else:
                self._advance(compiled, matcher, roles, position, event, out=out)

    def _advance(
        self,
        compiled: CompiledRule,
        matcher: SequenceMatcher,
        roles: list[int],
        position: Position,
        event: Event,
        *,
        out: list[Match],
    ) -> None:
        if compiled.maxspan_ms is not None:
            matcher.expire(position[0])
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
                for done in matcher.advance(index, keys, position, event):
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

    def _expire(self, now: float) -> None:
        for matcher in self._matchers:
            if matcher is not None:
                matcher.expire(now)

    def _sync_counters(self) -> None:
        matchers = [m for m in self._matchers if m is not None]
        self.stats.evicted_pending = sum(m.evicted for m in matchers)
        self.stats.maxspan_rejected = sum(m.rejected_maxspan for m in matchers)
        self.stats.pending = sum(m.pending_count for m in matchers)
        self.stats.buffered = len(self.buffer)

    # --- persistence ---------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        """The state as JSON-serialisable data (versioned): buffer, frontier, pending sequences."""
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
