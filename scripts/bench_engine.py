#!/usr/bin/env python3
"""Benchmark the detection engine on the seed rule or all rules (not a test: run it by hand).

Builds 200,000 flat ECS events with `../shared/bench/workload.py --shape ecs` (deterministic,
with attack chains planted at known places), loads them into memory, then times
`Engine.process` alone over the whole stream, on one core. Prints events/s and the chains
found, and exits 1 unless the chains are exactly the workload's truth file.

    .venv/bin/python scripts/bench_engine.py [--events 200000] [--seed 42] [--repeat 5]
        [--rules seed|all]

`--rules all` loads the 408 Elastic rules of `../shared/fixtures/detection-rules-s1/rules`
(the seed rule is one of them) instead of the bundled seed rule; the truth check then applies
to the seed rule's matches, and the other rules' match count is printed.
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
CORPUS = REPO.parent / "shared" / "fixtures" / "detection-rules-s1" / "rules"
SEED_RULE_ID = "89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"


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


def run_once(stream: list[dict[str, Any]], rules: Any) -> tuple[float, list[list[str]], Engine]:
    """Time one full pass of a fresh engine over `stream`; the seed rule's chains."""
    engine = Engine(rules)
    started = time.perf_counter()
    matches = engine.process(stream)
    elapsed = time.perf_counter() - started
    chains = [
        [str(event["event.id"]) for event in match.events]
        for match in matches
        if match.rule.rule_id == SEED_RULE_ID
    ]
    print(f"pass: {elapsed:.3f} s, {len(matches)} matches of {len(rules)} rules")
    return elapsed, chains, engine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=5, help="passes; the best one is reported")
    parser.add_argument("--rules", choices=["seed", "all"], default="seed")
    args = parser.parse_args()
    if args.rules == "all":
        rules = load_rules(builtin=False, paths=[CORPUS])
    else:
        rules = load_rules(builtin=True)
    with tempfile.TemporaryDirectory() as tmp:
        stream, truth = build_workload(args.events, args.seed, Path(tmp))
    best = float("inf")
    chains: list[list[str]] = []
    engine = None
    for _ in range(args.repeat):
        elapsed, chains, engine = run_once(stream, rules)
        best = min(best, elapsed)
    expected = sorted(truth["chains"])
    print(f"rules:      {len(rules)} ({args.rules})")
    print(f"events:     {len(stream):,}")
    print(f"best time:  {best:.3f} s over {args.repeat} passes")
    print(f"events/s:   {len(stream) / best:,.0f}")
    print(f"chains:     {len(chains)} of the seed rule found, {len(expected)} in the truth file")
    if engine is not None:
        stats = engine.stats.as_dict()
        fired = {rule: n for rule, n in stats.pop("hits").items() if n}
        print(f"stats:      {stats}")
        print(f"rules that fired: {len(fired)}, matches: {sum(fired.values())}")
    if sorted(chains) != expected:
        missing = [c for c in expected if c not in chains]
        extra = [c for c in chains if c not in expected]
        print(f"MISMATCH: missing {missing[:5]} extra {extra[:5]}")
        return 1
    print("chains match the truth file exactly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
