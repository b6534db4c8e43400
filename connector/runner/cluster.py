"""`replay --cluster URL`: the replay as a Dask graph (map, shuffle by agent, evaluate).

The graph (a `dask.bag` pipeline; the work itself is in `cluster_tasks.py`):

```
objects ──map_objects──▶ candidates ──groupby(agent), task shuffle──▶ run_partition ──▶ alerts
   (one task per object)         │                                  (sort, engine, alerts)
                                 └──▶ counters of each object
```

The client lists the objects (in single-process read order), submits the graph, waits
(a progress bar on a TTY, from Dask's progress reporting), then merges every partition's
alerts into completion order and writes them; the run summary sums every task's counters.

Failures: Dask re-runs the tasks of a lost worker (and retries a failed task `RETRIES`
times); an object that cannot be read is left out and counted (`unreadable-object`) by the
map task itself; a partition that still failed is reported, the alerts of the others are
written, and the run exits 69.

Dask is imported only here, and only when `--cluster` is given (the `cluster` extra).
"""

from __future__ import annotations

import contextlib
import logging
import operator
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import click

from connector import __version__
from connector.config import Config
from connector.detection.model import Rule
from connector.detection.suppression import Suppressor
from connector.detection.tuning import Tuning
from connector.errors import BadInputError, ConfigError, Unavailable, UsageError
from connector.ops import RunSummary
from connector.pipeline import AlertWriter
from connector.runner.cluster_tasks import (
    Job,
    TaskStats,
    candidates_of,
    global_rule_indexes,
    group_of,
    map_objects,
    run_partition,
    stats_of,
)
from connector.runner.common import (
    finish_run,
    load_configured_rules,
    load_tuning,
    recording_exit,
)
from connector.sources.base import Shape
from connector.sources.fsobjects import Listing, list_objects
from connector.sources.query import Prefilter
from connector.timeutil import Window

__all__ = ["ClusterRequest", "make_job", "replay_on_cluster"]

log = logging.getLogger(__name__)
RETRIES = 2
"""Extra attempts for a task that raised (a lost worker's tasks are re-run regardless)."""
OBJECTS_PER_PARTITION = 8
"""Objects whose candidates make one shuffle (and evaluate) partition."""
_PROBLEMS_LOGGED = 10


@dataclass(frozen=True)
class ClusterRequest:
    """`--cluster URL` and the day selection (`--from`/`--to`, None: every object)."""

    url: str
    window: Window | None = None


def replay_on_cluster(
    config: Config, locations: Sequence[str], shape: Shape, request: ClusterRequest, out: TextIO
) -> int:
    """Run the rules over the objects at `locations` on the Dask cluster; alerts to `out`.

    Returns 0; raises Unavailable (exit 69) when a partition failed for good or the cluster
    cannot be reached, BadInputError (65) when records were read but none could be mapped.
    """
    summary = RunSummary("replay")
    writer = AlertWriter(out)
    try:
        with recording_exit(summary):
            rules = load_configured_rules(config)
            tuning = load_tuning(config, rules) if rules else None
            listing = list_objects(locations, request.window)
            log.info("%d object(s), %d bytes to read", len(listing.objects), listing.bytes)
            if listing.outside_days:
                log.info("%d object(s) outside the --from/--to days", listing.outside_days)
            job = make_job(rules, shape, request.window, tuning)
            with open_client(request.url) as client:
                outcome = _run(client, listing, job)
            suppressor = Suppressor(tuning.suppression if tuning else {}, live=False)
            for alert in _suppressed(outcome.alerts, suppressor):
                writer.write(alert)
            summary.suppressed = Counter(suppressor.suppressed)
            _fold(outcome, summary)
            outcome.raise_for_failures()
            if summary.records and not summary.mapped:
                raise BadInputError(
                    f"no record in {', '.join(locations)} could be mapped "
                    f"(skipped: {dict(summary.skipped)})"
                )
    finally:
        summary.alerts_new = writer.written
        finish_run(summary, None, None)
    return 0


def make_job(
    rules: Sequence[Rule], shape: Shape, window: Window | None, tuning: Tuning | None = None
) -> Job:
    """What every task needs: the rules, the raw prefilter, the window, the rule split."""
    prefilter = _prefilter(rules)
    return Job(tuple(rules), shape, prefilter, window, global_rule_indexes(rules), tuning)


def _suppressed(alerts: list[tuple[Any, dict[str, Any]]], suppressor: Suppressor) -> Iterator[Any]:
    """The alerts in completion order, through alert suppression as single-process replay
    applies it (each group once, final; the open groups at the end)."""
    ordered = [alert for _, alert in sorted(alerts, key=operator.itemgetter(0))]
    if not suppressor.specs:
        yield from ordered
        return
    for alert in ordered:
        yield from suppressor.offer(alert)
    yield from suppressor.flush()


def _prefilter(rules: Sequence[Rule]) -> Prefilter | None:
    if not rules:
        return None
    from connector.sources.pushdown import build_pushdown  # noqa: PLC0415 - parser is heavy

    built = build_pushdown(rules).prefilter
    # A fresh copy: the compiled test is cached on the instance and cannot be pickled.
    return Prefilter(built.alternatives, built.description)


# --- the cluster -----------------------------------------------------------------------------


@contextlib.contextmanager
def open_client(url: str) -> Iterator[Any]:
    """A Dask client for `url`: `local://N` starts N worker processes for the run (and
    stops them after); `tcp://…` / `tls://…` connect to a running scheduler."""
    distributed = _distributed()
    if not log.isEnabledFor(logging.DEBUG):
        # Dask logs every worker start and connection at INFO: noise on a run's stderr.
        logging.getLogger("distributed").setLevel(logging.WARNING)
    with contextlib.ExitStack() as stack:
        if url.startswith("local://"):
            workers = _local_workers(url)
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address="127.0.0.1:0",
                    host="127.0.0.1",
                    silence_logs=logging.ERROR,
                )
            )
            address = cluster.scheduler_address
        elif url.startswith(("tcp://", "tls://")):
            address = url
        else:
            raise UsageError(f"--cluster {url!r}: use local://N, tcp://HOST:PORT or tls://…")
        try:
            client = stack.enter_context(distributed.Client(address, timeout="30s"))
        except (OSError, TimeoutError) as exc:
            raise Unavailable(f"cannot reach the Dask scheduler at {address} ({exc})") from exc
        _check_workers(client)
        yield client


def _local_workers(url: str) -> int:
    text = url.removeprefix("local://")
    if not text.isdigit() or int(text) < 1:
        raise UsageError(f"--cluster {url!r}: local://N needs a worker count N ≥ 1")
    return int(text)


def _check_workers(client: Any) -> None:
    """Every worker must run this connector version (the tasks are its functions)."""
    try:
        versions = client.run(_worker_version)
    except ImportError as exc:
        raise ConfigError(
            "a Dask worker cannot import the connector: install s1-dv-connector[cluster] "
            f"{__version__} on every worker ({exc})"
        ) from exc
    wrong = {address: v for address, v in versions.items() if v != __version__}
    if wrong:
        raise ConfigError(f"Dask workers run another connector version than {__version__}: {wrong}")
    if not versions:
        log.warning("the Dask cluster has no worker yet; tasks wait for one")


def _worker_version() -> str:
    from connector import __version__ as version  # noqa: PLC0415 - runs on the worker

    return version


def _distributed() -> Any:
    try:
        import distributed  # noqa: PLC0415 - the `cluster` extra, only for --cluster
    except ImportError as exc:
        raise ConfigError(
            "--cluster needs the cluster extra: pip install 's1-dv-connector[cluster]'"
        ) from exc
    return distributed


# --- the graph -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What came back: alerts with their completion keys, every task's counters, failures."""

    alerts: list[tuple[Any, dict[str, Any]]]
    stats: list[TaskStats]
    failed_partitions: list[str]
    failed_maps: list[str]
    partitions: int

    def raise_for_failures(self) -> None:
        if self.failed_partitions or self.failed_maps:
            first = (self.failed_maps or self.failed_partitions)[0]
            raise Unavailable(
                f"{len(self.failed_partitions)} of {self.partitions} partition(s) and "
                f"{len(self.failed_maps)} map task(s) failed on the cluster after retries; "
                f"their alerts are missing (first failure: {first})"
            )


def _run(client: Any, listing: Listing, job: Job) -> Outcome:
    if not listing.objects:
        return Outcome([], [], [], [], 0)
    from dask import bag  # noqa: PLC0415 - the `cluster` extra
    from dask.delayed import delayed  # noqa: PLC0415

    job_node = delayed(job, pure=True)
    from_sequence: Any = bag.from_sequence  # untyped in dask
    objects = from_sequence(listing.objects, npartitions=len(listing.objects))
    mapped = objects.map_partitions(map_objects, job_node)
    # The task shuffle costs partitions² tasks; candidates are a small part of the records,
    # so the candidates of OBJECTS_PER_PARTITION objects share one shuffle partition.
    partitions = max(1, -(-len(listing.objects) // OBJECTS_PER_PARTITION))
    candidates = mapped.map_partitions(candidates_of).repartition(npartitions=partitions)
    grouped = candidates.groupby(group_of, shuffle="tasks")
    evaluated = grouped.map_partitions(run_partition, job_node)
    map_nodes = mapped.map_partitions(stats_of).to_delayed(optimize_graph=False)
    part_nodes = evaluated.to_delayed(optimize_graph=False)
    futures = client.compute([*map_nodes, *part_nodes], retries=RETRIES)
    _wait(futures)
    map_futures, part_futures = futures[: len(map_nodes)], futures[len(map_nodes) :]
    outcome = Outcome([], [], [], [], len(part_futures))
    for future in map_futures:
        if future.status == "finished":
            outcome.stats.extend(future.result())
        else:
            outcome.failed_maps.append(_failure(future))
    for future in part_futures:
        if future.status == "finished":
            for part in future.result():
                outcome.alerts.extend(part.alerts)
                outcome.stats.append(part.stats)
        else:
            outcome.failed_partitions.append(_failure(future))
    return outcome


def _wait(futures: list[Any]) -> None:
    distributed = _distributed()
    if sys.stderr.isatty():
        from connector.runner.cluster_progress import show_progress  # noqa: PLC0415

        show_progress(futures)
    distributed.wait(futures)


def _failure(future: Any) -> str:
    try:
        exc = future.exception()
    except Exception as error:  # the future itself could not be asked (cancelled, lost)
        return f"{type(error).__name__}: {error}"
    return f"{type(exc).__name__}: {exc}"


# --- the summary -----------------------------------------------------------------------------


def _fold(outcome: Outcome, summary: RunSummary) -> None:
    """Sum every task's counters into the run summary; one more stderr line for the cluster."""
    engine: Counter[str] = Counter()
    per_worker: defaultdict[str, float] = defaultdict(float)
    tasks: Counter[str] = Counter()
    objects = nbytes = 0
    problems: list[str] = []
    for stats in outcome.stats:
        summary.records += stats.records
        summary.mapped += stats.mapped
        summary.skipped.update(stats.skipped)
        summary.bad_fields.update(stats.bad_fields)
        engine.update(stats.engine)
        summary.excepted.update(stats.excepted)
        per_worker[stats.worker] += stats.seconds
        tasks[stats.worker] += 1
        objects += stats.objects
        nbytes += stats.bytes
        problems.extend(stats.problems)
    for problem in problems[:_PROBLEMS_LOGGED]:
        log.warning("replay: skipped an unreadable object: %s", problem)
    summary.engine = dict(engine)
    workers = " ".join(
        f"{address}={seconds:.1f}s/{tasks[address]}"
        for address, seconds in sorted(per_worker.items())
    )
    click.echo(
        f"replay cluster: objects={objects} bytes={nbytes} late={engine['late_events']} "
        f"partitions={outcome.partitions} failed={len(outcome.failed_partitions)} "
        f"failed_maps={len(outcome.failed_maps)} worker_time(s/tasks)={workers or '-'}",
        err=True,
    )
