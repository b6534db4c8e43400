"""`replay --cluster` on real Dask clusters gives exactly the single-process alerts: over a
Cloud Funnel export folder with late-uploaded objects (`local://2`), over an `s3://` export
served by moto, with a worker killed mid-run, and with an unreadable object.

One 2-worker process cluster is shared by the module (started after the moto server, so
its workers inherit the S3 endpoint from the environment); `local://2` starts its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from distributed import Client, LocalCluster
from moto.server import ThreadedMotoServer

from tests.runner.cluster_support import (
    Export,
    comparable,
    run_replay,
    workload,
    write_export,
)

pytestmark = pytest.mark.slow

BUCKET = "cf-export"
_AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Export:
    folder = tmp_path_factory.mktemp("cluster-export")
    source = workload(folder, 30_000, seed=11)
    return write_export(source, folder / "export", per_object=2_500, late=(1, 5, 8))


@pytest.fixture(scope="module")
def reference(export: Export) -> list[dict[str, Any]]:
    """Single-process replay of the export folder (late objects and all); it agrees with
    single-process replay of the same records in time order."""
    capture = _Capture()
    code, alerts, err = capture.replay(str(export.root))
    assert code == 0, err
    assert len(alerts) >= 5, "the workload should plant chains to compare"
    code, in_order, err = capture.replay(str(export.source))
    assert code == 0, err
    assert comparable(in_order) == comparable(alerts)
    return comparable(alerts)


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    saved = {k: os.environ.get(k) for k in [*_AWS_ENV, "AWS_ENDPOINT_URL"]}
    os.environ.update({**_AWS_ENV, "AWS_ENDPOINT_URL": endpoint})
    try:
        yield endpoint
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        server.stop()


@pytest.fixture(scope="module")
def cluster(s3_endpoint: str) -> Iterator[LocalCluster]:
    """Two worker processes (with nannies, which restart a killed worker)."""
    with LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address="127.0.0.1:0",
        host="127.0.0.1",
    ) as local:
        yield local


class _Capture:
    """capsys is function-scoped; module fixtures capture through their own pytest hook."""

    def replay(self, *args: str) -> tuple[int, list[dict[str, Any]], str]:
        import contextlib  # noqa: PLC0415
        import io  # noqa: PLC0415
        import json  # noqa: PLC0415

        from connector import cli  # noqa: PLC0415

        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.run(["replay", *args])
        return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


def test_local_cluster_over_an_export_with_late_objects_gives_the_single_process_alerts(
    export: Export, reference: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, alerts, err = run_replay(capsys, str(export.root), "--cluster", "local://2")
    assert code == 0, err
    assert comparable(alerts) == reference  # same alerts, same ids, same order
    assert "replay cluster: objects=12 " in err
    assert "records=" in err and "alerts_new=" in err


def test_s3_export_served_by_moto_gives_the_single_process_alerts(
    export: Export,
    reference: list[dict[str, Any]],
    cluster: LocalCluster,
    s3_endpoint: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    s3.create_bucket(Bucket=BUCKET)
    for path in export.objects:
        s3.upload_file(str(path), BUCKET, path.relative_to(export.root).as_posix())
    code, alerts, err = run_replay(
        capsys, f"s3://{BUCKET}/s1/cloud_funnel", "--cluster", cluster.scheduler_address
    )
    assert code == 0, err
    assert comparable(alerts) == reference
    assert "replay cluster: objects=12 " in err


def test_a_worker_killed_mid_run_changes_nothing(
    export: Export,
    reference: list[dict[str, Any]],
    cluster: LocalCluster,
    capsys: pytest.CaptureFixture[str],
) -> None:
    killer = _WorkerKiller(cluster.scheduler_address)
    killer.start()
    try:
        code, alerts, err = run_replay(
            capsys, str(export.root), "--cluster", cluster.scheduler_address
        )
    finally:
        killer.stop()
    assert killer.killed, "no worker was killed while map tasks ran: the test proved nothing"
    assert code == 0, err
    assert comparable(alerts) == reference


def test_an_unreadable_object_is_skipped_and_counted(
    export: Export,
    reference: list[dict[str, Any]],
    cluster: LocalCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "export"
    _copy_tree(export.root, bad)
    broken = bad / "s1" / "cloud_funnel" / "2025" / "zz-broken.json"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_text('{"data": [1, 2', encoding="utf-8")  # not JSON, NDJSON or a body
    code, alerts, err = run_replay(capsys, str(bad), "--cluster", cluster.scheduler_address)
    assert code == 0, err
    assert comparable(alerts) == reference
    assert "unreadable-object=1" in err
    assert "zz-broken.json" in err


class _WorkerKiller(threading.Thread):
    """SIGKILLs the first worker seen running a map task (its nanny starts a new one)."""

    def __init__(self, address: str) -> None:
        super().__init__(daemon=True)
        self.client = Client(address)
        self.pids: dict[str, int] = self.client.run(os.getpid)
        self.killed = ""
        self.done = threading.Event()

    def run(self) -> None:
        deadline = time.monotonic() + 120
        while not self.done.is_set() and time.monotonic() < deadline:
            for worker, keys in self.client.processing().items():
                if any("map_objects" in str(key) for key in keys) and worker in self.pids:
                    os.kill(self.pids[worker], signal.SIGKILL)
                    self.killed = worker
                    return
            time.sleep(0.01)

    def stop(self) -> None:
        self.done.set()
        self.join(10)
        self.client.close()


def _copy_tree(source: Path, target: Path) -> None:
    import shutil  # noqa: PLC0415

    shutil.copytree(source, target)


CROSS_AGENT_RULE = """
[rule]
rule_id = "cross-agent-user-sequence"
name = "cmd.exe start then connection by the same user on any host"
description = "A sequence joined on user.name: its state spans agents."
risk_score = 21
severity = "low"
type = "eql"
language = "eql"
query = '''
sequence by user.name with maxspan=2s
  [process where event.type == "start" and process.name == "cmd.exe"]
  [network where process.name == "cmd.exe" and destination.port == 443]
'''
"""


def test_rules_whose_state_spans_agents_still_match_single_process(
    export: Export, cluster: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "cross.toml").write_text(CROSS_AGENT_RULE, encoding="utf-8")
    # the working folder (see `_no_config_file`): replay finds the config there
    config = tmp_path / "s1-connector.toml"
    config.write_text(f'[rules]\nbuiltin = true\npaths = ["{rules}"]\n', encoding="utf-8")
    code, single, err = run_replay(capsys, str(export.source))
    assert code == 0, err
    crossing = [a for a in single if a["rule"]["id"] == "cross-agent-user-sequence"]
    hosts = {e["host"]["id"] for a in crossing for e in a["sequence"]["events"]}
    assert crossing and len(hosts) > 1, "the rule should join events of several agents"
    code, alerts, err = run_replay(capsys, str(export.root), "--cluster", cluster.scheduler_address)
    assert code == 0, err
    assert comparable(alerts) == comparable(single)


def test_a_partition_that_fails_for_good_exits_69_and_keeps_the_other_alerts(
    export: Export,
    reference: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Threads in this process, so the patched evaluation is the one the workers run."""
    from connector.runner import cluster_tasks  # noqa: PLC0415

    doomed = reference[0]["host"]["id"]
    evaluate = cluster_tasks._evaluate

    def failing(job: Any, candidates: list[Any], stats: Any) -> Any:
        if any(event.get("host.id") == doomed for _, _, event, _ in candidates):
            raise RuntimeError("evaluation failed")
        return evaluate(job, candidates, stats)

    monkeypatch.setattr(cluster_tasks, "_evaluate", failing)
    with LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as local:
        code, alerts, err = run_replay(
            capsys, str(export.root), "--cluster", local.scheduler_address
        )
    assert code == 69, err
    assert "1 of 2 partition(s)" in err and "evaluation failed" in err  # 12 objects, 8 a part
    # The failed partition's agents (the doomed one and any hashed beside it) lose their
    # alerts; every alert written is a true one.
    kept = {a["event"]["id"] for a in alerts}
    assert kept < {a["event"]["id"] for a in reference}
    assert not [a for a in alerts if a["host"]["id"] == doomed]
    assert comparable(alerts) == [a for a in reference if a["event"]["id"] in kept]


def test_progress_bar_on_a_tty_goes_to_stderr(
    export: Export, reference: list[dict[str, Any]], cluster: LocalCluster, tmp_path: Path
) -> None:
    import pty  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    primary, secondary = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:  # read while it runs: a full pty would block the child
        with contextlib.suppress(OSError):  # EIO once the child's side is closed
            while chunk := os.read(primary, 65536):
                chunks.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with subprocess.Popen(
        [sys.executable, "-m", "connector", "replay", str(export.root),
         "--cluster", cluster.scheduler_address],
        stdout=subprocess.PIPE, stderr=secondary, cwd=tmp_path,
    ) as child:  # fmt: skip
        os.close(secondary)
        out, _ = child.communicate(timeout=240)
    reader.join(10)
    os.close(primary)
    screen = b"".join(chunks)
    done = child
    text = screen.decode("utf-8", "replace")
    assert done.returncode == 0, text
    assert "] 100% of " in text and " tasks" in text  # Dask's progress, drawn on stderr
    alerts = [json.loads(line) for line in out.decode().splitlines()]
    assert comparable(alerts) == reference  # stdout holds the alerts and nothing else


WORD_EXPORT = Path(__file__).parent.parent / "detection" / "data" / "exceptions"
EXCEPTIONS = '[[rules.exceptions]]\nfile = "excel.ndjson"\nrules = ["*"]\n'
SUPPRESSION = '[[rules.suppress]]\nrules = ["*"]\ngroup_by = ["host.name"]\nduration = "1h"\n'


@pytest.mark.parametrize("tuning", [EXCEPTIONS, SUPPRESSION], ids=["exceptions", "suppression"])
def test_exceptions_and_suppression_match_single_process(
    export: Export,
    reference: list[dict[str, Any]],
    cluster: LocalCluster,
    tmp_path: Path,
    tuning: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The Word export of the tuning tests, for Excel: this workload has an Excel chain.
    word = (WORD_EXPORT / "word_parent.ndjson").read_text(encoding="utf-8")
    (tmp_path / "excel.ndjson").write_text(word.replace("WINWORD", "EXCEL"), encoding="utf-8")
    (tmp_path / "s1-connector.toml").write_text(tuning, encoding="utf-8")  # the working folder
    code, single, err = run_replay(capsys, str(export.source))
    assert code == 0, err
    assert single and comparable(single) != reference, "the tuning should change the alerts"
    counters = err.split("excepted=")[1].split()[:2]
    code, alerts, err = run_replay(capsys, str(export.root), "--cluster", cluster.scheduler_address)
    assert code == 0, err
    assert comparable(alerts) == comparable(single)
    assert err.split("excepted=")[1].split()[:2] == counters  # excepted=N suppressed=N
