"""Exact, order-independent evaluation for runs that see their whole input (replay, hunt).

Elasticsearch evaluates a rule over a sorted index; so do we. The pieces, each callable alone
(the cluster replay reuses them per partition):

1. `extract_candidates(records, detector, summary)` maps records (projected) and keeps only
   *candidates*, events some rule stage can take, each with its sort key and stage hits;
2. `CandidateSorter` holds candidates up to a budget; beyond it, each full buffer is sorted
   and written to a temporary file (a *run*), and `sorted()` merges the runs with
   `heapq.merge`: memory is bounded by the budget, not by the input;
3. `Engine.evaluate_ordered` runs the rules over the merged stream;
4. `Detector.alert` builds each alert from the matched events mapped in full.

The sort key is `(timestamp, tiebreaker, event.id)`: the event id breaks ties instead of the
arrival order, so reversing, shuffling or splitting the input gives the same alerts.
"""

from __future__ import annotations

import gc
import heapq
import logging
import pickle
import tempfile
from collections.abc import Callable, Iterable, Iterator
from operator import itemgetter
from typing import IO, Any

from connector.detection.engine import Candidate
from connector.ops import RunSummary
from connector.pipeline import Detector
from connector.sources.base import RawRecord

__all__ = ["SORT_BUDGET", "CandidateSorter", "extract_candidates"]

log = logging.getLogger(__name__)

SORT_BUDGET = 50_000
"""Candidates held in memory before a sorted run is spilled to disk. A candidate holds its
projected event and the source record (for the alert): about 3–6 KiB, so ~250 MiB at most."""
_CHUNK = 256  # candidates per pickle frame: the merge holds one frame per run
_KEY = itemgetter(0)


def extract_candidates(
    records: Iterable[RawRecord], detector: Detector, summary: RunSummary
) -> Iterator[Candidate]:
    """Map `records` and yield the candidates `(order key, event, stage hits)`, in input order.

    Every record counts in `summary.records`; the mapper and engine count the rest
    (skipped, mapped, seen, candidates, no_timestamp)."""
    map_record = detector.mapper.map
    engine = detector.engine
    take = engine.candidate
    order_key = engine.order_key
    for shape, record in records:
        summary.records += 1
        event = map_record(record, shape)
        if event is None:
            continue
        hits = take(event)
        if hits is None:
            continue
        key = order_key(event)
        if key is not None:
            yield key, event, hits


class CandidateSorter:
    """Sort any number of candidates with at most `budget` of them in memory.

    `add()` buffers; a full buffer is sorted and spilled as a run to an anonymous temporary
    file (deleted on close, even after a crash). `sorted()` yields every candidate added, in
    key order (ties keep insertion order within a run). Use as a context manager."""

    def __init__(self, budget: int = SORT_BUDGET, folder: str | None = None) -> None:
        if budget < 1:
            raise ValueError("the sort budget is at least one candidate")
        self.budget = budget
        self.folder = folder
        self.buffer: list[Candidate] = []
        self.runs: list[IO[bytes]] = []
        self.added = 0
        self.spilled = 0

    def __enter__(self) -> CandidateSorter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for run in self.runs:
            run.close()
        self.runs = []
        self.buffer = []

    def add(self, candidate: Candidate) -> None:
        self.buffer.append(candidate)
        self.added += 1
        if len(self.buffer) >= self.budget:
            self._spill()

    def extend(self, candidates: Iterable[Candidate]) -> None:
        add = self.add
        for candidate in candidates:
            add(candidate)

    def _spill(self) -> None:
        self.buffer.sort(key=_KEY)
        run = tempfile.TemporaryFile(dir=self.folder, prefix="s1-replay-run-")  # noqa: SIM115
        dump = pickle.dump
        for start in range(0, len(self.buffer), _CHUNK):
            dump(self.buffer[start : start + _CHUNK], run, pickle.HIGHEST_PROTOCOL)
        run.flush()
        self.runs.append(run)
        self.spilled += len(self.buffer)
        self.buffer = []

    def sorted(self) -> Iterator[Candidate]:
        """Every candidate in key order; the sorter is spent afterwards."""
        self.buffer.sort(key=_KEY)
        if not self.runs:
            yield from self.buffer
            self.buffer = []
            return
        log.info(
            "sorted %d candidate(s) in %d run(s) spilled to disk (budget %d)",
            self.added, len(self.runs) + bool(self.buffer), self.budget,
        )  # fmt: skip
        streams: list[Iterator[Candidate]] = [_read_run(run) for run in self.runs]
        if self.buffer:
            streams.append(iter(self.buffer))
        yield from heapq.merge(*streams, key=_KEY)
        self.buffer = []

    def stats(self) -> dict[str, Any]:
        return {"candidates": self.added, "spilled": self.spilled, "runs": len(self.runs)}


def _read_run(run: IO[bytes]) -> Iterator[Candidate]:
    """The candidates of a run, one pickle frame at a time.

    The cyclic garbage collector is paused while a frame is unpickled: the frame's few
    thousand fresh dicts and lists would otherwise trigger collections that walk every
    live candidate (the budget's worth) again and again, for nothing (they hold no cycles,
    and nothing else runs meanwhile). Its previous state is restored before each yield."""
    run.seek(0)
    load: Callable[[IO[bytes]], list[Candidate]] = pickle.load
    while True:
        paused = gc.isenabled()
        gc.disable()
        try:
            chunk = load(run)
        except EOFError:
            return
        finally:
            if paused:
                gc.enable()
        yield from chunk
