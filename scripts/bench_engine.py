#!/usr/bin/env python3
"""Benchmark the detection engine on the seed rule (not a test: run it by hand).

Builds 200,000 flat ECS events with `../shared/bench/workload.py --shape ecs` (deterministic,
with attack chains planted at known places), loads them into memory, then times
`Engine.process` alone over the whole stream, on one core. Prints events/s and the chains
found, and exits 1 unless the chains are exactly the workload's truth file.

    .venv/bin/python scripts/bench_engine.py [--events 200000] [--seed 42] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connector.detection.engine import Engine  # noqa: E402
from connector.detection.rules import load_rules  # noqa: E402

WORKLOAD = REPO.parent / "shared" / "bench" / "workload.py"


def build_workload(events: int, seed: int, folder: Path) -> tuple[list[dict[str, Any]], Any]:
    """Run the workload generator; return the events and the truth file's content."""
    out = folder / "ecs.ndjson"
    subprocess.run(
        [
            sys.executable,
            str(WORKLOAD),
            "--shape",
            "ecs",
            "--events",
            str(events),
            "--seed",
            str(seed),
            "--out",
            str(out),
        ],
        check=True,
    )
    with out.open(encoding="utf-8") as handle:
        stream = [json.loads(line) for line in handle]
    truth = json.loads(Path(f"{out}.truth.json").read_text(encoding="utf-8"))
    return stream, truth


def run_once(stream: list[dict[str, Any]]) -> tuple[float, list[list[str]], Engine]:
    """Time one full pass of a fresh engine over `stream`."""
    engine = Engine(load_rules(builtin=True))
    started = time.perf_counter()
    matches = engine.process(stream)
    elapsed = time.perf_counter() - started
    chains = [[str(event["event.id"]) for event in match.events] for match in matches]
    return elapsed, chains, engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best one is reported")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stream, truth = build_workload(args.events, args.seed, Path(tmp))
    best = float("inf")
    chains: list[list[str]] = []
    engine = None
    for _ in range(args.repeat):
        elapsed, chains, engine = run_once(stream)
        best = min(best, elapsed)
    expected = sorted(truth["chains"])
    print(f"events:     {len(stream):,}")
    print(f"best time:  {best:.3f} s over {args.repeat} passes")
    print(f"events/s:   {len(stream) / best:,.0f}")
    print(f"chains:     {len(chains)} found, {len(expected)} in the truth file")
    if engine is not None:
        print(f"stats:      {engine.stats.as_dict()}")
    if sorted(chains) != expected:
        missing = [c for c in expected if c not in chains]
        extra = [c for c in chains if c not in expected]
        print(f"MISMATCH: missing {missing[:5]} extra {extra[:5]}")
        return 1
    print("chains match the truth file exactly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
