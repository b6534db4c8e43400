#!/usr/bin/env python3
"""Benchmark `replay --cluster` (Dask) against single-process replay on a Cloud Funnel export.

    .venv/bin/python scripts/bench_backfill.py [--records 1000000] [--per-object 50000]
        [--workers 1,2] [--seed 42] [--repeat 1] [--dir DIR]

Writes `--records` Cloud Funnel records with `../shared/bench/workload.py`, cuts them into
gzip objects of `--per-object` lines under `s1/cloud_funnel/yyyy/mm/dd/account_id=…/` (into
`--dir`, or a temporary folder; an export of the same size and seed is reused), then
measures, best of `--repeat`:

* single-process `replay` over the export folder (`connector.runner.replay`, in-process);
* `replay --cluster` for each worker count of `--workers`: a `LocalCluster` of that many
  worker processes (one thread each) is started first and its start-up is printed
  separately, not timed; then `connector.runner.cluster.replay_on_cluster` runs against it
  (listing, graph, map, shuffle, evaluation, merge and writing the alerts all timed).

records/s = input records (lines of the export) / wall-clock seconds (`time.perf_counter`).
The alerts of every run are checked against the workload's truth file (each planted chain
exactly once) and the cluster's against the single-process alerts (same ids, same order);
the script exits 1 if any differ.

Not a test: the numbers depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from connector.config import Config  # noqa: E402
from connector.runner import replay  # noqa: E402
from connector.runner.cluster import ClusterRequest, replay_on_cluster  # noqa: E402

WORKLOAD = REPO.parent / "shared" / "bench" / "workload.py"


def build_export(folder: Path, records: int, per_object: int, seed: int) -> tuple[Path, Path]:
    """(export root, workload file); generated unless already there."""
    source = folder / f"cf-{records}-{seed}.ndjson"
    root = folder / f"export-{records}-{per_object}-{seed}"
    if not (source.is_file() and Path(f"{source}.truth.json").is_file()):
        command = [sys.executable, str(WORKLOAD), "--shape", "cloud-funnel",
                   "--events", str(records), "--seed", str(seed), "--out", str(source)]  # fmt: skip
        subprocess.run(command, check=True)
    if not (root / "done").is_file():
        _cut(source, root, per_object)
        (root / "done").write_text("", encoding="utf-8")  # not a data file: never read
    return root, source


def _cut(source: Path, root: Path, per_object: int) -> None:
    with source.open("rb") as handle:
        n = 0
        while chunk := [line for _, line in zip(range(per_object), handle, strict=False)]:
            first = datetime.fromtimestamp(json.loads(chunk[0])["event.time"] / 1000, UTC)
            folder = root / "s1" / "cloud_funnel" / f"{first:%Y/%m/%d}" / "account_id=1"
            folder.mkdir(parents=True, exist_ok=True)
            data = gzip.compress(b"".join(chunk), compresslevel=6)
            (folder / f"{n:05d}.ndjson.gz").write_bytes(data)
            n += 1


def truth_chains(source: Path) -> set[tuple[str, ...]]:
    truth = json.loads(Path(f"{source}.truth.json").read_text(encoding="utf-8"))
    return {tuple(str(i) for i in chain) for chain in truth["chains"]}


def check(alerts: list[dict[str, Any]], truth: set[tuple[str, ...]]) -> str:
    found = [tuple(str(e["event"]["id"]) for e in a["sequence"]["events"]) for a in alerts]
    if len(found) != len(set(found)):
        return "a chain reported twice"
    if set(found) != truth:
        return f"missed {len(truth - set(found))}, extra {len(set(found) - truth)}"
    return ""


def timed(run: Any) -> tuple[float, list[dict[str, Any]]]:
    sink = io.StringIO()
    with contextlib.redirect_stderr(io.StringIO()):
        start = time.perf_counter()
        run(sink)
        elapsed = time.perf_counter() - start
    return elapsed, [json.loads(line) for line in sink.getvalue().splitlines()]


def bench_single(config: Config, root: Path, repeat: int) -> tuple[float, list[dict[str, Any]]]:
    results = [timed(lambda out: replay(config, [root], "auto", "alerts", out))
               for _ in range(repeat)]  # fmt: skip
    return min(r[0] for r in results), results[-1][1]


def bench_cluster(
    config: Config, root: Path, workers: int, repeat: int
) -> tuple[float, float, list[dict[str, Any]]]:
    import distributed  # noqa: PLC0415 - the cluster extra

    local_cluster: Any = distributed.LocalCluster  # untyped
    client_class: Any = distributed.Client
    started = time.perf_counter()
    with local_cluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", host="127.0.0.1") as cluster:  # fmt: skip
        startup = time.perf_counter() - started
        request = ClusterRequest(cluster.scheduler_address)
        results = [timed(lambda out: replay_on_cluster(config, [str(root)], "auto", request, out))
                   for _ in range(repeat)]  # fmt: skip
        with client_class(cluster.scheduler_address) as client:
            peaks = client.run(_peak_rss_mib)
    print(f"  worker peak RSS (MiB): {', '.join(f'{v:.0f}' for v in peaks.values())}")
    return startup, min(r[0] for r in results), results[-1][1]


def _peak_rss_mib() -> float:
    import resource  # noqa: PLC0415 - runs on a worker

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def shuffle_volume(config: Config, objects: list[Path]) -> None:
    """What the shuffle moves, measured on the first object in-process: candidates per
    record and their pickled size (the basis of the README's memory arithmetic)."""
    import pickle  # noqa: PLC0415

    from connector.runner.cluster import make_job  # noqa: PLC0415
    from connector.runner.cluster_tasks import map_objects  # noqa: PLC0415
    from connector.runner.common import load_configured_rules  # noqa: PLC0415
    from connector.sources.fsobjects import ObjectRef  # noqa: PLC0415

    with contextlib.redirect_stderr(io.StringIO()):
        rules = load_configured_rules(config)
    job = make_job(rules, "auto", None)
    (output,) = map_objects([ObjectRef(0, str(objects[0]), objects[0].stat().st_size)], job)
    with gzip.open(objects[0]) as handle:
        lines = sum(1 for _ in handle)
    each = len(pickle.dumps(output.candidates)) / max(1, len(output.candidates))
    print(f"shuffle: {len(output.candidates)} candidates of {lines} records"
          f" ({len(output.candidates) / lines:.2%}), {each:,.0f} bytes each pickled")  # fmt: skip


def ids(alerts: list[dict[str, Any]]) -> list[str]:
    return [str(a["event"]["id"]) for a in alerts]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--per-object", type=int, default=50_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--dir", type=Path, help="keep the export here (default: temporary)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",") if n]
    with contextlib.ExitStack() as stack:
        folder = args.dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        folder.mkdir(parents=True, exist_ok=True)
        root, source = build_export(folder, args.records, args.per_object, args.seed)
        objects = sorted(root.rglob("*.gz"))
        size = sum(p.stat().st_size for p in objects)
        truth = truth_chains(source)
        config = Config.model_validate({})
        print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores; export: {args.records}"
              f" records in {len(objects)} gzip objects, {size / 2**20:.0f} MiB;"
              f" best of {args.repeat}, wall clock")  # fmt: skip
        shuffle_volume(config, objects)
        single_s, single = bench_single(config, root, args.repeat)
        problem = check(single, truth)
        print(f"single process      {args.records / single_s:>10,.0f} records/s ({single_s:.2f} s)"
              f" | {problem or f'alerts = truth ({len(truth)} chains)'}")  # fmt: skip
        ok = not problem
        for workers in counts:
            startup, seconds, alerts = bench_cluster(config, root, workers, args.repeat)
            wrong = check(alerts, truth) or ("" if ids(alerts) == ids(single) else "order differs")
            ok = ok and not wrong
            print(f"cluster {workers} worker(s) {args.records / seconds:>10,.0f} records/s"
                  f" ({seconds:.2f} s; cluster start {startup:.1f} s, not counted)"
                  f" | {wrong or 'alerts = single-process alerts (ids and order)'}")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
