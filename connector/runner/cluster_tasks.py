"""What the Dask workers run for `replay --cluster`: plain functions over plain data.

Two phases, built from the pieces single-process replay runs (`runner/ordering.py`):

1. `map_objects` (one task per object): `FileSource` through fsspec → raw prefilter →
   parse → projected mapping → `extract_candidates` (the engine's stage hits and order key;
   only *candidates*, events some rule stage can take, go on). Each leaves as
   `(group, order, event, hits)`:
   * `group` is the agent (`host.id`) with the hits of rules whose sequence state is per
     agent, or `GLOBAL_GROUP` with the hits of rules whose join keys could span agents (see
     `global_rule_indexes`); a candidate of both kinds of rule leaves twice;
   * `order` is the engine's order key, then `(object index, position in the object)`, so
     equal keys stay in read order as in one process's stable sort.
2. `run_partition` (one task per shuffled partition of groups): sort by `order`, run
   `Engine.evaluate_ordered` over the candidates, and build each alert from the matched
   events mapped in full (`Detector.alert`). Each alert leaves with its completion key
   `(order of the completing event, rule index, n)`, so the client can merge every
   partition's alerts into single-process completion order.

State never crosses a group: sequence state is keyed by join values, and an agent-local
join value (an entity id, `host.id`) belongs to one agent. So running groups apart, or many
in one engine, gives the single-process matches.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from connector.detection.model import Event, Rule
from connector.detection.program import CompiledRule, compile_rule
from connector.detection.stages import Hit
from connector.detection.tuning import Tuning
from connector.errors import ConnectorError
from connector.ops import RunSummary
from connector.pipeline import Detector
from connector.runner.ordering import extract_candidates
from connector.sources.base import Shape
from connector.sources.files import FileSource
from connector.sources.fsobjects import ObjectRef, open_object
from connector.sources.query import Prefilter
from connector.timeutil import Window

__all__ = [
    "GLOBAL_GROUP",
    "PARTITION_FIELD",
    "Job",
    "MapOutput",
    "PartitionOutput",
    "candidates_of",
    "global_rule_indexes",
    "group_of",
    "map_objects",
    "run_partition",
    "stats_of",
]

log = logging.getLogger(__name__)

PARTITION_FIELD = "host.id"
"""The agent id in mapped events (Cloud Funnel `agent.uuid`, DV `agentUuid`)."""
GLOBAL_GROUP = "\x00all-agents"
"""The group of candidates for rules whose state may span agents (not a valid agent id)."""
_AGENT_LOCAL_KEYS = frozenset({"host.id", "agent.id"})

Order = tuple[Any, ...]
"""The engine's order key `(timestamp, tiebreaker kind, tiebreaker, event.id)`, then the
object index and the read position in it (ties of equal keys in read order)."""
Shuffled = tuple[str, Order, Event, list[Hit]]
"""What the shuffle moves: (group, order, projected event, the stage hits of the group's rules)."""


@dataclass(frozen=True)
class Job:
    """What every task of one run needs (shipped once per worker through the graph)."""

    rules: tuple[Rule, ...]
    shape: Shape
    prefilter: Prefilter | None
    window: Window | None
    global_rules: frozenset[int]
    tuning: Tuning | None = None
    """Exception items, applied by every engine (map and evaluate); suppression is applied
    by the client, over all alerts in completion order."""


@dataclass
class TaskStats:
    """The counters of one task, summed on the client into the run summary."""

    worker: str = ""
    seconds: float = 0.0
    objects: int = 0
    records: int = 0
    mapped: int = 0
    bytes: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    bad_fields: Counter[str] = field(default_factory=Counter)
    engine: Counter[str] = field(default_factory=Counter)
    excepted: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)


@dataclass
class MapOutput:
    candidates: list[Shuffled]
    stats: TaskStats


@dataclass
class PartitionOutput:
    alerts: list[tuple[Order, dict[str, Any]]]
    stats: TaskStats


def global_rule_indexes(rules: Sequence[Rule]) -> frozenset[int]:
    """Indexes of the sequence rules some stage of which joins on no agent-local field
    (an entity id, `host.id`, `agent.id`): their pending state may join events of two
    agents, so their candidates all go to one group."""
    found: set[int] = set()
    for index, rule in enumerate(rules):
        compiled = compile_rule(rule)
        if compiled.sequence and not _agent_local(compiled):
            found.add(index)
    return frozenset(found)


def _agent_local(compiled: CompiledRule) -> bool:
    stages = [*compiled.stages, *([compiled.until] if compiled.until else [])]
    return all(
        any(key.name in _AGENT_LOCAL_KEYS or key.name.endswith("entity_id") for key in s.keys)
        for s in stages
    )


def group_of(candidate: Shuffled) -> str:
    """The shuffle key of a candidate."""
    return candidate[0]


# --- phase 1: objects → candidates -----------------------------------------------------------


def map_objects(objects: Iterable[ObjectRef], job: Job) -> list[MapOutput]:
    """The candidates and counters of each object (one bag partition)."""
    return [_map_object(ref, job) for ref in objects]


def _map_object(ref: ObjectRef, job: Job) -> MapOutput:
    started = time.perf_counter()
    stats = TaskStats(worker=_worker_name(), objects=1)
    detector = Detector(
        job.rules,
        allowed_lateness=timedelta(0),
        project=True,
        keep_fields=[PARTITION_FIELD],
        tuning=job.tuning,
    )
    source = FileSource([], job.shape, job.prefilter, opener=_open)
    try:
        candidates = list(_candidates(ref, job, source, detector, stats))
    except ConnectorError as exc:
        # One unreadable object must not stop a back-fill of thousands: it is left out
        # whole (nothing of it counts) and reported by name.
        stats = TaskStats(worker=stats.worker, objects=1, bytes=source.stats.bytes)
        stats.skipped["unreadable-object"] += 1
        stats.problems.append(str(exc))
        candidates = []
    else:
        stats.skipped.update(source.stats.skipped)
        stats.bytes = source.stats.bytes
        _fold_detector(detector, stats)
    stats.seconds = time.perf_counter() - started
    return MapOutput(candidates, stats)


def _candidates(
    ref: ObjectRef, job: Job, source: FileSource, detector: Detector, stats: TaskStats
) -> Iterator[Shuffled]:
    records = source.file_records(ref.url)
    if job.window is not None:
        records = source.within(job.window, records)
    counts = RunSummary("replay")
    candidates = extract_candidates(records, detector, counts)
    for n, (key, event, hits) in enumerate(candidates):
        # Read order breaks ties of equal keys, as the stable sort of one process does.
        order = (*key, ref.index, n)
        local = [hit for hit in hits if hit[0] not in job.global_rules]
        if local:
            agent = event.get(PARTITION_FIELD)
            yield (str(agent) if agent is not None else "", order, event, local)
        if len(local) < len(hits):
            shared = [hit for hit in hits if hit[0] in job.global_rules]
            yield (GLOBAL_GROUP, order, event, shared)
    stats.records = counts.records


def _fold_detector(detector: Detector, stats: TaskStats) -> None:
    stats.mapped = detector.mapper.mapped
    stats.skipped.update(detector.mapper.skipped)
    stats.bad_fields.update(detector.mapper.bad_fields)
    counters = detector.engine.stats
    stats.engine.update(
        events_seen=counters.events_seen,
        candidates=counters.candidates,
        no_timestamp=counters.no_timestamp,
        evaluation_errors=detector.engine.stats.evaluation_errors,
    )
    stats.excepted.update(detector.engine.hit_filter.excepted if detector.engine.hit_filter else {})


def candidates_of(outputs: Iterable[MapOutput]) -> list[Shuffled]:
    """The candidates of a partition's map outputs (what the shuffle moves)."""
    return [c for output in outputs for c in output.candidates]


def stats_of(outputs: Iterable[MapOutput | PartitionOutput]) -> list[TaskStats]:
    return [output.stats for output in outputs]


# --- phase 2: groups → alerts ----------------------------------------------------------------


def run_partition(groups: Iterable[tuple[str, list[Shuffled]]], job: Job) -> list[PartitionOutput]:
    """Evaluate a shuffled partition: agent groups and the all-agents group apart (their
    hits name disjoint rules); alerts keyed by completion order."""
    started = time.perf_counter()
    stats = TaskStats(worker=_worker_name())
    local: list[Shuffled] = []
    shared: list[Shuffled] = []
    for key, candidates in groups:
        (shared if key == GLOBAL_GROUP else local).extend(candidates)
    alerts = [*_evaluate(job, local, stats), *_evaluate(job, shared, stats)]
    stats.seconds = time.perf_counter() - started
    return [PartitionOutput(alerts, stats)]


def _evaluate(
    job: Job, candidates: list[Shuffled], stats: TaskStats
) -> list[tuple[Order, dict[str, Any]]]:
    """The engine over the candidates in order (`Engine.evaluate_ordered`, as one process
    runs it); each alert keyed by (its completing event's order, rule index, n)."""
    if not candidates:
        return []
    detector = Detector(job.rules, allowed_lateness=timedelta(0))
    rule_index = {id(c.rule): i for i, c in enumerate(detector.engine.compiled)}
    candidates.sort(key=lambda c: c[1])
    order_of = {id(event): order for _, order, event, _ in candidates}
    ordered = ((order, event, hits) for _, order, event, hits in candidates)
    matches = list(detector.engine.evaluate_ordered(ordered))
    counters = detector.engine.stats.as_dict()
    for name in ("late_events", "evicted_pending", "maxspan_rejected", "pending"):
        stats.engine[name] += counters[name]
    return [
        ((*order_of[id(m.events[-1])], rule_index[id(m.rule)], n), detector.alert(m))
        for n, m in enumerate(matches)
    ]


def _open(path: object) -> Any:
    return open_object(str(path))


def _worker_name() -> str:
    try:
        from distributed import get_worker  # noqa: PLC0415 - only inside a Dask worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return "local"
