#!/usr/bin/env python3
"""Benchmark the mapper against `json.loads` on the same NDJSON lines.

    .venv/bin/python scripts/bench_mapping.py [--events 100000] [--seed 42] [--repeat 5]

Builds DV and Cloud Funnel workloads in memory with `../shared/bench/workload.py` (the same
generator the end-to-end benchmarks use), then times per shape, `--repeat` times each and
alternately (so a busy neighbour slows all alike), keeping the best run of each:

* `json.loads` alone over every line;
* `json.loads` + `Mapper().map` over every line (the full mapping: `--emit events`, poll, hunt);
* `json.loads` + `Mapper(fields=..., categories=...).map` over every line, projected on the
  fields the bundled rules read (`check_rule(rule).fields` plus category and time) and the
  event categories their stages name: what `replay` does when it detects (matched events
  are then re-mapped in full for the alert).

It prints records/s for parsing, parsing + mapping and mapping alone, and the overhead: the
time mapping adds, as a percentage of the parse time (the issue's aim is at most 50 %).
Times are this process's CPU time. Not a test: the numbers depend on the machine. The argv
cache is cleared before each mapping run so that repeats stay comparable.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connector.detection.check import check_rule  # noqa: E402
from connector.detection.program import compile_rule  # noqa: E402
from connector.detection.rules import load_rules  # noqa: E402
from connector.mapping import Mapper  # noqa: E402
from connector.mapping.argv import clear_cache  # noqa: E402

WORKLOAD = REPO.parent / "shared" / "bench" / "workload.py"
SHAPES = {"dv": "dv", "cloud-funnel": "cloud-funnel"}


def load_workload() -> ModuleType:
    """Import `../shared/bench/workload.py` by path (it is not a package)."""
    spec = importlib.util.spec_from_file_location("workload", WORKLOAD)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {WORKLOAD}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_lines(workload: ModuleType, shape: str, events: int, seed: int) -> list[str]:
    render: Callable[[dict[str, Any]], dict[str, Any]] = workload.RENDER[shape]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    return [dumps(render(record)) for record in workload.generate(events, seed)]


def time_loads(lines: list[str]) -> float:
    loads = json.loads
    start = time.process_time()
    for line in lines:
        loads(line)
    return time.process_time() - start


Projection = tuple[frozenset[str], frozenset[str]] | None
"""(fields, categories) the mapper is restricted to; None: the full mapping."""


def rule_projection() -> tuple[frozenset[str], frozenset[str]]:
    """The fields the bundled rules read (plus what the engine reads) and the categories
    their stages name (the bundled rules have no `any where` stage)."""
    fields = {"event.category", "@timestamp"}
    categories: set[str] = set()
    for rule in load_rules(builtin=True):
        fields |= check_rule(rule).fields
        for stage in compile_rule(rule).stages:
            if stage.category is None:
                raise SystemExit("an `any where` stage: no category projection")
            categories.add(stage.category)
    return frozenset(fields), frozenset(categories)


def time_mapping(lines: list[str], shape: Any, projection: Projection) -> float:
    clear_cache()
    mapper = Mapper() if projection is None else Mapper(None, *projection)
    loads, map_one = json.loads, mapper.map
    start = time.process_time()
    for line in lines:
        map_one(loads(line), shape)
    elapsed = time.process_time() - start
    if mapper.mapped != len(lines):
        raise SystemExit(f"{shape}: mapped {mapper.mapped} of {len(lines)} ({mapper.skipped})")
    return elapsed


def bench(
    shape: str, lines: list[str], repeat: int, projection: tuple[frozenset[str], frozenset[str]]
) -> None:
    # Alternate the measurements and keep the best of each, so a busy neighbour on the
    # machine slows all alike instead of skewing the ratio.
    modes: dict[str, Projection] = {"full": None, "projected": projection}
    parses: list[float] = []
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    for _ in range(repeat):
        parses.append(time_loads(lines))
        for mode, restriction in modes.items():
            runs[mode].append(time_mapping(lines, SHAPES[shape], restriction))
    parse = min(parses)
    count = len(lines)
    print(f"{shape:13s} {count:>8d} lines | json.loads {count / parse:>10,.0f} rec/s")
    for mode in modes:
        total = min(runs[mode])
        overhead = (total - parse) / parse * 100
        print(
            f"  {mode:11s} loads+map {count / total:>10,.0f} rec/s | mapping alone"
            f" {count / (total - parse):>10,.0f} rec/s | overhead {overhead:5.1f} %"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    workload = load_workload()
    projection = rule_projection()
    fields, categories = projection
    print(f"python {sys.version.split()[0]}, {args.events} events per shape, best of {args.repeat}")
    print(f"projection: the {len(fields)} fields the rules read: {', '.join(sorted(fields))}")
    print(f"            for events of the categories {', '.join(sorted(categories))}")
    for shape in SHAPES:
        lines = make_lines(workload, shape, args.events, args.seed)
        bench(shape, lines, args.repeat, projection)
    return 0


if __name__ == "__main__":
    sys.exit(main())
