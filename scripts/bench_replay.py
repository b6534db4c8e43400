#!/usr/bin/env python3
"""Benchmark `replay` against a plain `json.loads` loop over the same NDJSON file.

    .venv/bin/python scripts/bench_replay.py [--events 200000] [--seed 42] [--repeat 3]
        [--shapes cloud-funnel,dv,ecs] [--memory-sizes 100000,400000] [--dir DIR]
        [--order sorted|shuffled|reversed] [--sort-budget N]
        [--rules seed|all|all+sigma] [--whole-process]

`--rules all` loads the 408 Elastic rules of `../shared/fixtures/detection-rules-s1/rules`
instead of the bundled seed rule (the truth check then applies to the seed rule's alerts;
the seed rule is one of the 408); `--rules all+sigma` adds SigmaHQ's Windows rules of
`../shared/fixtures/sigmahq-windows/rules` (through the product's Sigma support).
`--whole-process` measures what a user waits for instead: a fresh `s1-connector replay`
process (console script, output to a file, rule cache and bytecode warm: one untimed run
first) against a fresh `python -c` process running the `json.loads` loop, and prints events/s
end to end
and the ratio replay / json.loads (lower is better).

Per shape, writes a workload file with `../shared/bench/workload.py` (into `--dir`, or a
temporary folder; an existing file of the same size and seed is reused), then measures,
`--repeat` times and alternately (so a busy neighbour slows both alike), keeping the best:

* a plain loop: `for line in open(path, "rb"): json.loads(line)`;
* the real replay path in-process: `connector.runner.replay(config, [path], shape,
  "alerts", sink)` with the bundled rules and the default config, alerts written as JSON
  Lines to an in-memory text sink (the run summary that replay prints to stderr is
  discarded). One warm-up replay of a 1,000-line file first compiles the rules (lark
  grammar and rule compilation, a one-time cost of about 0.1 s that does not grow with
  the input); its time is printed separately.

Both are wall-clock times (`time.perf_counter`) and read the file from the page cache.
After each replay the alerts are checked: their matched event ids must be exactly the
truth file's chains, each once; the script exits 1 otherwise.

`--order` rewrites each workload file shuffled (a fixed seed) or newest first before
measuring (console exports come newest first); replay's answer must not change.
`--sort-budget` is replay's in-memory candidate budget (beyond it, sorted runs go to disk).

Memory: for each size of `--memory-sizes` (Cloud Funnel, in `--order`), a fresh subprocess
replays the file and reports its peak resident set (`VmHWM` of `/proc/self/status`,
interpreter and imports included), and another reports the `tracemalloc` peak of the
replay alone. Streaming means both stay flat while the input grows.

Not a test: the numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connector.config import Config  # noqa: E402
from connector.runner import replay  # noqa: E402
from connector.runner.ordering import SORT_BUDGET  # noqa: E402

WORKLOAD = REPO.parent / "shared" / "bench" / "workload.py"
CORPUS = REPO.parent / "shared" / "fixtures" / "detection-rules-s1" / "rules"
SIGMA = REPO.parent / "shared" / "fixtures" / "sigmahq-windows" / "rules"
RULE_PATHS = {"seed": [], "all": [CORPUS], "all+sigma": [CORPUS, SIGMA]}
SEED_RULE_ID = "89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"
_LOADS_LOOP = "import json, sys\nfor line in open(sys.argv[1], 'rb'):\n    json.loads(line)\n"
SHAPES = ("cloud-funnel", "dv", "ecs")
WARM_UP_LINES = 1000

# Runs in a fresh interpreter: replay one file, print a JSON object with what it measured.
_MEMORY_PROBE = """
import contextlib, io, json, sys, tracemalloc
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from connector.config import Config
from connector.runner import replay
traced = sys.argv[3] == "tracemalloc"
config = Config.model_validate({})
sink = io.StringIO()
if traced:
    tracemalloc.start()
with contextlib.redirect_stderr(io.StringIO()):
    replay(config, [Path(sys.argv[2])], "cloud-funnel", "alerts", sink,
           sort_budget=int(sys.argv[4]))
out = {"alerts": sink.getvalue().count("\\n")}
if traced:
    out["traced_peak"] = tracemalloc.get_traced_memory()[1]
else:
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent through fork and
    # exec, so a parent that once held a big file would be charged to the probe.
    status = Path("/proc/self/status")
    hwm = [l for l in status.read_text().splitlines() if l.startswith("VmHWM:")]
    out["max_rss_kib"] = int(hwm[0].split()[1])
print(json.dumps(out))
"""


def workload_file(folder: Path, shape: str, events: int, seed: int) -> Path:
    """The workload file of `shape` (generated unless it is already there)."""
    path = folder / f"{shape}-{events}-{seed}.ndjson"
    truth = Path(f"{path}.truth.json")
    if not (path.is_file() and truth.is_file()):
        command = [sys.executable, str(WORKLOAD), "--shape", shape, "--events", str(events),
                   "--seed", str(seed), "--out", str(path)]  # fmt: skip
        subprocess.run(command, check=True)
    return path


def reordered(path: Path, order: str) -> Path:
    """`path` itself (`sorted`), or a copy of it shuffled (seed 1) or reversed, made once."""
    if order == "sorted":
        return path
    target = path.with_name(f"{path.stem}.{order}{path.suffix}")
    if not target.is_file():
        lines = path.read_bytes().splitlines(keepends=True)
        if order == "reversed":
            lines.reverse()
        else:
            random.Random(1).shuffle(lines)
        target.write_bytes(b"".join(lines))
        Path(f"{target}.truth.json").write_bytes(Path(f"{path}.truth.json").read_bytes())
    return target


def truth_chains(path: Path) -> set[tuple[str, ...]]:
    truth = json.loads(Path(f"{path}.truth.json").read_text(encoding="utf-8"))
    return {tuple(str(i) for i in chain) for chain in truth["chains"]}


def time_loads(path: Path) -> float:
    loads = json.loads
    start = time.perf_counter()
    with path.open("rb") as handle:
        for line in handle:
            loads(line)
    return time.perf_counter() - start


def time_replay(
    config: Config, path: Path, shape: Any, budget: int = SORT_BUDGET
) -> tuple[float, list[dict[str, Any]]]:
    sink = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        replay(config, [path], shape, "alerts", sink, sort_budget=budget)
        elapsed = time.perf_counter() - start
    return elapsed, [json.loads(line) for line in sink.getvalue().splitlines()]


def check_alerts(path: Path, alerts: list[dict[str, Any]]) -> str:
    """'' when the seed rule's alerts are exactly the truth chains, each once; else what is
    wrong. (The other rules' alerts, with `--rules all`, are counted, not checked.)"""
    seed = [a for a in alerts if a["rule"]["id"] == SEED_RULE_ID]
    found = [tuple(str(e["event"]["id"]) for e in a["sequence"]["events"]) for a in seed]
    truth = truth_chains(path)
    if len(found) != len(set(found)):
        return f"{len(found) - len(set(found))} chain(s) reported twice"
    if set(found) != truth:
        return f"missed {len(truth - set(found))}, extra {len(set(found) - truth)}"
    return ""


def bench_shape(config: Config, path: Path, shape: str, repeat: int, budget: int) -> bool:
    lines = sum(1 for _ in path.open("rb"))
    loads_times: list[float] = []
    replay_times: list[float] = []
    problem = ""
    for _ in range(repeat):
        loads_times.append(time_loads(path))
        elapsed, alerts = time_replay(config, path, shape, budget)
        replay_times.append(elapsed)
        problem = problem or check_alerts(path, alerts)
    loads_s, replay_s = min(loads_times), min(replay_times)
    verdict = f"alerts = truth ({len(alerts)} chains)" if not problem else f"WRONG: {problem}"
    print(
        f"{shape:13s} {lines:>8d} lines {path.stat().st_size / 2**20:6.0f} MiB"
        f" | json.loads loop {lines / loads_s:>10,.0f} rec/s ({loads_s:.3f} s)"
        f" | replay {lines / replay_s:>10,.0f} rec/s ({replay_s:.3f} s)"
        f" | ratio {loads_s / replay_s:4.2f}x | {verdict}"
    )
    return not problem


def _timed_process(
    command: list[str], out: Path, env: dict[str, str] | None = None
) -> tuple[float, float]:
    """Wall-clock seconds, and CPU seconds (user + system) of the process and of every
    process it forked and reaped (replay chooses a big file's lines in a forked child)."""
    with out.open("wb") as sink:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=sink, stderr=subprocess.DEVNULL, env=env)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def bench_whole_process(config_file: Path, path: Path, shape: str, repeat: int) -> bool:
    """Fresh processes: `s1-connector replay` against the `json.loads` loop."""
    lines = sum(1 for _ in path.open("rb"))
    script = str(Path(sys.executable).parent / "s1-connector")
    replay_cmd = [script, "--config", str(config_file), "replay", "--format", shape, str(path)]
    loads_cmd = [sys.executable, "-c", _LOADS_LOOP, str(path)]
    out = config_file.parent / f"alerts-{shape}.jsonl"
    # Untimed: fills the rule cache and writes the package's bytecode, as any earlier run of
    # an installed package would (even where PYTHONDONTWRITEBYTECODE is set, as in some
    # sandboxes: every start would then compile our sources again).
    warm = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    _timed_process(replay_cmd, out, warm)
    loads_s = replay_s = replay_cpu = float("inf")
    for _ in range(repeat):
        loads_s = min(loads_s, _timed_process(loads_cmd, config_file.parent / "loads.out")[0])
        wall, cpu = _timed_process(replay_cmd, out)
        if wall < replay_s:
            replay_s, replay_cpu = wall, cpu
    alerts = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    problem = check_alerts(path, alerts)
    verdict = f"seed chains = truth, {len(alerts)} alerts" if not problem else f"WRONG: {problem}"
    print(
        f"{shape:13s} {lines:>8d} lines | whole process: json.loads loop {loads_s:.3f} s"
        f" | replay {replay_s:.3f} s = {lines / replay_s:>9,.0f} events/s end to end"
        f" ({replay_cpu:.2f} s CPU, its forked child included)"
        f" | replay / json.loads {replay_s / loads_s:4.2f} | {verdict}"
    )
    return not problem


def memory_probe(path: Path, mode: str, budget: int) -> dict[str, Any]:
    command = [sys.executable, "-c", _MEMORY_PROBE, str(REPO), str(path), mode, str(budget)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def bench_memory(folder: Path, sizes: list[int], seed: int, order: str, budget: int) -> None:
    print(f"memory, Cloud Funnel replay ({order} input, sort budget {budget}) "
          "in a fresh subprocess per size:")  # fmt: skip
    for size in sizes:
        path = reordered(workload_file(folder, "cloud-funnel", size, seed), order)
        rss = memory_probe(path, "rss", budget)
        traced = memory_probe(path, "tracemalloc", budget)
        print(
            f"  {size:>8d} lines {path.stat().st_size / 2**20:6.0f} MiB"
            f" | max RSS {rss['max_rss_kib'] / 1024:6.1f} MiB"
            f" | tracemalloc peak {traced['traced_peak'] / 2**20:6.1f} MiB"
            f" | {rss['alerts']} alerts"
        )


def warm_up(config: Config, path: Path, folder: Path) -> None:
    sample = folder / "warm-up.ndjson"
    with path.open("rb") as source, sample.open("wb") as target:
        for _, line in zip(range(WARM_UP_LINES), source, strict=False):
            target.write(line)
    elapsed, _ = time_replay(config, sample, "auto")
    print(f"warm-up: replay of {WARM_UP_LINES} lines, rules compiled once: {elapsed:.3f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--memory-sizes", default="100000,400000")
    parser.add_argument("--dir", type=Path, help="keep workload files here (default: temporary)")
    parser.add_argument("--order", choices=("sorted", "shuffled", "reversed"), default="sorted")
    parser.add_argument("--sort-budget", type=int, default=SORT_BUDGET)
    parser.add_argument("--rules", choices=sorted(RULE_PATHS), default="seed")
    parser.add_argument("--whole-process", action="store_true")
    args = parser.parse_args()
    shapes = [s for s in args.shapes.split(",") if s]
    sizes = [int(n) for n in args.memory_sizes.split(",") if n]
    with contextlib.ExitStack() as stack:
        folder = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        paths = [str(path) for path in RULE_PATHS[args.rules]]
        rules = {"builtin": False, "paths": paths} if paths else {}
        config = Config.model_validate({"rules": rules})
        files = {
            shape: reordered(workload_file(folder, shape, args.events, args.seed), args.order)
            for shape in shapes
        }
        print(f"python {sys.version.split()[0]}, {args.events} events per shape "
              f"({args.order}), {args.rules} rules, best of {args.repeat} "
              "(wall clock, file in the page cache)")  # fmt: skip
        if args.whole_process:
            config_file = folder / f"bench-{args.rules}.toml"
            config_file.write_text(_config_text(args.rules), encoding="utf-8")
            ok = all(
                bench_whole_process(config_file, path, shape, args.repeat)
                for shape, path in files.items()
            )
            return 0 if ok else 1
        warm_up(config, next(iter(files.values())), folder)
        results = [
            bench_shape(config, path, shape, args.repeat, args.sort_budget)
            for shape, path in files.items()
        ]
        ok = all(results)
        if sizes:
            bench_memory(folder, sizes, args.seed, args.order, args.sort_budget)
    return 0 if ok else 1


def _config_text(rules: str) -> str:
    if RULE_PATHS[rules]:
        paths = ", ".join(f'"{path}"' for path in RULE_PATHS[rules])
        return f"[rules]\nbuiltin = false\npaths = [{paths}]\n"
    return "[rules]\nbuiltin = true\n"


if __name__ == "__main__":
    sys.exit(main())
