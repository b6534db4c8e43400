#!/usr/bin/env python3
"""Benchmark CLI start-up, whole process, against a bare Python start.

    .venv/bin/python scripts/bench_startup.py [--repeat 20] [--limit 4]

Runs, alternately (so a busy neighbour slows all alike) and `--repeat` times each:

* the bare start: `python -c "import json"` with this interpreter;
* `s1-connector --help` and `s1-connector rules list` (bundled seed rule);
* `s1-connector replay` of a one-record file: a Cloud Funnel record with the seed rule, and
  an ECS event with all 408 Elastic rules of `../shared/fixtures/detection-rules-s1/rules`
  (skipped when the fixtures are absent). The record maps and matches nothing, so the run
  is start-up: interpreter, imports, config, rule loading, engine, summary, exit.

Each is the console script installed next to the interpreter (what a user runs), a fresh
process (`subprocess.run`, output discarded), timed with `time.perf_counter` around the run
(wall clock). The best run of each is kept (the machine may be shared: the minimum is the
least disturbed measure) and printed with its ratio to the bare start.

Set up before timing, and printed: a temporary folder holds the configs, records and the rule
cache (`S1_CONNECTOR_CACHE_DIR`); one untimed run of each command fills that cache (a cold
cache parses every rule: that is the first run after an install or a rule edit, not the daily
start) and writes the package's bytecode (`__pycache__`, as `pip install` does; it is written
even when `PYTHONDONTWRITEBYTECODE` is set, which would otherwise make every start compile
the package's sources again).

Exits 1 when `--help` takes more than `--limit` times the bare start. Not a test: the numbers
depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "fixtures" / "detection-rules-s1" / "rules"
BARE = "bare python -c 'import json'"

# One record of each shape, as in `../shared/bench/workload.py` (a network connection).
CLOUD_FUNNEL = {
    "event.time": 1763900000007,
    "event.id": "01J00000000000000000001_001",
    "event.category": "ip",
    "event.type": "IP Connect",
    "endpoint.name": "WKS-0172",
    "endpoint.os": "windows",
    "agent.uuid": "11c58ef0dd463c09475287aa5408f9ac",
    "src.process.name": "Teams.exe",
    "src.process.uid": "000000009E3779B1",
    "src.process.cmdline": "Teams.exe -k netsvcs",
    "dst.ip.address": "2001:4860:4860::8888",
    "dst.port.number": 443,
}
ECS = {
    "@timestamp": "2025-11-23T12:13:20.007Z",
    "event.id": "00000000000000000001",
    "event.kind": "event",
    "host.name": "WKS-0172",
    "host.os.type": "windows",
    "event.category": ["network"],
    "event.type": ["start", "connection"],
    "process.name": "Teams.exe",
    "process.entity_id": "000000009E3779B1",
    "process.command_line": "Teams.exe -k netsvcs",
    "destination.ip": "2001:4860:4860::8888",
    "destination.port": 443,
}


def timed(command: list[str], env: dict[str, str]) -> float:
    """Wall-clock seconds of one run of `command` (must exit 0)."""
    start = time.perf_counter()
    subprocess.run(
        command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    return time.perf_counter() - start


def commands(script: str, folder: Path) -> dict[str, list[str]]:
    """The commands to time, their configs and records written into `folder`."""
    seed = folder / "seed.toml"
    seed.write_text("[rules]\nbuiltin = true\n", encoding="utf-8")
    (folder / "one-cf.ndjson").write_text(json.dumps(CLOUD_FUNNEL) + "\n", encoding="utf-8")
    found = {
        BARE: [sys.executable, "-c", "import json"],
        "s1-connector --help": [script, "--help"],
        "s1-connector rules list": [script, "--config", str(seed), "rules", "list"],
        "replay 1 record, seed rule": [
            *(script, "--config", str(seed), "replay", "--format", "cloud-funnel"),
            str(folder / "one-cf.ndjson"),
        ],
    }
    if CORPUS.is_dir():
        every = folder / "all.toml"
        every.write_text(
            f"[rules]\nbuiltin = false\npaths = [{json.dumps(str(CORPUS))}]\n", encoding="utf-8"
        )
        (folder / "one-ecs.ndjson").write_text(json.dumps(ECS) + "\n", encoding="utf-8")
        found["replay 1 record, 408 rules"] = [
            *(script, "--config", str(every), "replay", "--format", "ecs"),
            str(folder / "one-ecs.ndjson"),
        ]
    else:
        print(f"(no rule corpus at {CORPUS}: the 408-rule replay is left out)")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--limit", type=float, default=4.0, help="allowed --help / bare ratio")
    args = parser.parse_args()
    script = str(BIN / "s1-connector")
    if not os.access(script, os.X_OK):
        print(f"no console script at {script}: install the package (pip install -e .)")
        return 2
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        folder = Path(tmp)
        env = {**os.environ, "S1_CONNECTOR_CACHE_DIR": str(folder / "cache")}
        runs = commands(script, folder)
        warm = {**env, "PYTHONDONTWRITEBYTECODE": ""}
        warm.pop("PYTHONDONTWRITEBYTECODE")
        for command in runs.values():  # fills the rule cache, writes bytecode (untimed)
            timed(command, warm)
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(args.repeat):
            for name, command in runs.items():
                best[name] = min(best[name], timed(command, env))
    bare = best[BARE]
    print(
        f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, best of {args.repeat} runs"
        " each, wall clock, whole process (warm rule cache and bytecode):"
    )
    for name, seconds in best.items():
        print(f"  {name:32s} {seconds * 1000:7.1f} ms  {seconds / bare:5.2f}x bare")
    ratio = best["s1-connector --help"] / bare
    verdict = "ok" if ratio <= args.limit else "TOO SLOW"
    print(f"--help: {ratio:.2f}x a bare start (limit {args.limit:g}x): {verdict}")
    return 0 if ratio <= args.limit else 1


if __name__ == "__main__":
    sys.exit(main())
