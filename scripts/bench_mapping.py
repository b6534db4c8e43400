#!/usr/bin/env python3
"""Benchmark the mapper against `json.loads` on the same NDJSON lines.

    .venv/bin/python scripts/bench_mapping.py [--events 100000] [--seed 42] [--repeat 5]

Builds DV and Cloud Funnel workloads in memory with `../shared/bench/workload.py` (the same
generator the end-to-end benchmarks use), then times per shape, `--repeat` times each and
alternately (so a busy neighbour slows both alike), keeping the best run of each:

* `json.loads` alone over every line;
* `json.loads` + `Mapper.map` over every line.

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


def time_mapping(lines: list[str], shape: Any) -> tuple[float, Mapper]:
    clear_cache()
    mapper = Mapper()
    loads, map_one = json.loads, mapper.map
    start = time.process_time()
    for line in lines:
        map_one(loads(line), shape)
    return time.process_time() - start, mapper


def bench(shape: str, lines: list[str], repeat: int) -> None:
    # Alternate the two measurements and keep the best of each, so a busy neighbour on the
    # machine slows both alike instead of skewing the ratio.
    parses: list[float] = []
    runs: list[tuple[float, Mapper]] = []
    for _ in range(repeat):
        parses.append(time_loads(lines))
        runs.append(time_mapping(lines, SHAPES[shape]))
    parse = min(parses)
    total, mapper = min(runs, key=lambda run: run[0])
    count = len(lines)
    overhead = (total - parse) / parse * 100
    print(
        f"{shape:13s} {count:>8d} lines | json.loads {count / parse:>10,.0f} rec/s"
        f" | loads+map {count / total:>10,.0f} rec/s | mapping alone"
        f" {count / (total - parse):>10,.0f} rec/s | overhead {overhead:5.1f} %"
    )
    print(f"{'':13s} mapped={mapper.mapped} skipped={dict(mapper.skipped)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    workload = load_workload()
    print(f"python {sys.version.split()[0]}, {args.events} events per shape, best of {args.repeat}")
    for shape in SHAPES:
        bench(shape, make_lines(workload, shape, args.events, args.seed), args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
