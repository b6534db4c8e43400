#!/usr/bin/env python3
"""Per-event cost after parsing: mapping and `Engine.candidate`, in µs/event, every rule loaded.

    .venv/bin/python scripts/bench_perevent.py [--file PATH] [--shape ecs|cloud-funnel]
        [--rules all|all+sigma|seed] [--events N] [--repeat 3] [--profile N]

Reads the first `--events` lines of an NDJSON workload file (made by
`../shared/bench/workload.py --shape ecs|cloud-funnel --events 200000 --seed 42`), keeps the
lines replay's raw-line prefilter lets through (`literal_prefilter`, as `replay` builds it),
parses them with `json.loads` (untimed), then times, `--repeat` times each, keeping the best:

* **map**: `Detector.mapper.map(record, shape)` over every parsed record, with the mapper
  replay uses (`Detector(..., project=True)`: projected on the rules' fields for Cloud
  Funnel; ECS input is never narrowed);
* **candidate**: `Engine.candidate(event)` over every mapped event (stage hits; the engine's
  sequence state is not touched);
* **evaluate**: candidates sorted by `order_key`, then `Engine.evaluate_ordered` and alert
  building (`Detector.alerts`), once, for the count of alerts.

Times are `time.process_time` (this process's CPU), each pass on fresh copies of the records
(the mapper may keep references into them). The records and events this script holds are
moved out of the garbage collector's sight (`gc.freeze`) before each timed pass: replay holds
none of them (it drops each event that is no candidate), and the collector would otherwise
walk all of them again and again, which measures the benchmark, not the engine. `--profile N`
prints the top N functions of a cProfile run of map + candidate instead. Not a test: the
numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import copy
import cProfile
import gc
import json
import pstats
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connector.detection.rules import load_rules  # noqa: E402
from connector.pipeline import Detector  # noqa: E402
from connector.sources.literal_prefilter import literal_prefilter  # noqa: E402

FIXTURES = REPO.parent / "shared" / "fixtures"
CORPORA = {
    "all": [FIXTURES / "detection-rules-s1" / "rules"],
    "all+sigma": [
        FIXTURES / "detection-rules-s1" / "rules",
        FIXTURES / "sigmahq-windows" / "rules",
    ],
}


def read_lines(path: Path, events: int, detector: Detector, shape: Any) -> tuple[int, list[bytes]]:
    """The first `events` lines of `path`, and those the prefilter keeps."""
    prefilter = literal_prefilter(detector.engine.compiled, shape)
    read = 0
    kept: list[bytes] = []
    with path.open("rb") as handle:
        for line in handle:
            read += 1
            if prefilter(line):
                kept.append(line)
            if read >= events:
                break
    return read, kept


def timed(fn: Any, items: list[Any]) -> tuple[float, list[Any]]:
    out: list[Any] = []
    append = out.append
    start = time.process_time()
    for item in items:
        append(fn(item))
    return time.process_time() - start, out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=Path("/tmp/bench/ecs-200000-42.ndjson"))
    parser.add_argument("--shape", default="ecs", choices=["ecs", "cloud-funnel", "dv"])
    parser.add_argument("--rules", default="all", choices=["seed", "all", "all+sigma"])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", type=int, default=0, help="print the top N of a cProfile")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.rules == "seed":
        rules = load_rules(builtin=True)
    else:
        rules = load_rules(builtin=False, paths=CORPORA[args.rules])
    detector = Detector(rules, allowed_lateness=timedelta(0), project=True)
    print(f"{len(rules)} rules ({args.rules}) loaded in {time.perf_counter() - started:.1f} s")
    read, lines = read_lines(args.file, args.events, detector, args.shape)
    records = [json.loads(line) for line in lines]
    print(f"{read:,} lines read, {len(lines):,} pass the prefilter ({args.shape})")
    shape = args.shape
    mapper, engine = detector.mapper, detector.engine

    def map_one(record: Any) -> Any:
        return mapper.map(record, shape)

    if args.profile:
        profiler = cProfile.Profile()
        fresh = copy.deepcopy(records)
        profiler.enable()
        for record in fresh:
            event = mapper.map(record, shape)
            if event is not None:
                engine.candidate(event)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
        return 0
    best_map = best_candidate = float("inf")
    events: list[Any] = []
    hits: list[Any] = []
    for _ in range(args.repeat):
        fresh = copy.deepcopy(records)
        gc.collect()
        gc.freeze()
        elapsed, mapped = timed(map_one, fresh)
        best_map = min(best_map, elapsed)
        events = [e for e in mapped if e is not None]
        gc.freeze()
        elapsed, hits = timed(engine.candidate, events)
        best_candidate = min(best_candidate, elapsed)
    candidates = [
        (key, event, found)
        for event, found in zip(events, hits, strict=True)
        if found is not None and (key := engine.order_key(event)) is not None
    ]
    candidates.sort(key=lambda item: item[0])
    start = time.process_time()
    alerts = sum(
        len(detector.alerts([m], final=False)) for m in engine.evaluate_ordered(candidates)
    )
    evaluate = time.process_time() - start
    count = len(records)
    per = 1e6 / max(count, 1)
    print(
        f"map:        {best_map * per:6.2f} µs/event over {count:,} records (best of {args.repeat})"
    )
    print(f"candidate:  {best_candidate * per:6.2f} µs/event over {len(events):,} events")
    print(f"map+cand.:  {(best_map + best_candidate) * per:6.2f} µs/event")
    print(
        f"evaluate:   {evaluate:.3f} s for {len(candidates):,} candidates "
        f"({evaluate * 1e6 / max(len(candidates), 1):.1f} µs each), {alerts:,} alerts"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
