"""`replay --cluster` options: usage errors, the optional extra stays optional, day
selection of `--from`/`--to`, and the rule split by what their state is keyed on."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector import cli
from connector.detection.model import Rule
from connector.runner.cluster_tasks import global_rule_indexes
from connector.sources.fsobjects import list_objects
from connector.timeutil import Window


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "-1d"], "use them with --cluster"),
        (["--cluster", "local://0"], "worker count"),
        (["--cluster", "http://x:1"], "use local://N"),
        (["--cluster", "local://1", "--emit", "events"], "--emit events runs on one machine"),
        (["--cluster", "local://1", "--to", "now"], "--to needs --from"),
    ],
)
def test_usage_errors_exit_2(
    tmp_path: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "a.ndjson").write_text("{}\n", encoding="utf-8")
    assert cli.run(["replay", str(tmp_path / "a.ndjson"), *args]) == 2
    assert message in capsys.readouterr().err


def test_s3_needs_the_cluster(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.run(["replay", "s3://bucket/s1/cloud_funnel"]) == 2
    assert "--cluster" in capsys.readouterr().err


def test_single_process_replay_never_imports_dask(tmp_path: Path) -> None:
    sample = tmp_path / "a.ndjson"
    sample.write_text('{"event.time": 1, "event.id": "x"}\n', encoding="utf-8")
    probe = (
        "import contextlib, io, json, sys\n"
        "from connector.cli import run\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    with contextlib.redirect_stderr(io.StringIO()):\n"
        "        code = run(sys.argv[1:])\n"
        "print(json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "replay", str(sample)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["code"] == 0
    assert not [m for m in result["modules"] if m.split(".")[0] in {"dask", "distributed", "s3fs"}]


def _object(root: Path, relative: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(b"{}\n"))


def test_from_to_select_day_folders_in_read_order(tmp_path: Path) -> None:
    root = tmp_path / "s1" / "cloud_funnel"
    for day in ("2026/11/19", "2026/11/20", "2026/11/21", "2026/11/22"):
        _object(root, f"{day}/account_id=1/b.gz")
        _object(root, f"{day}/account_id=1/a.gz")
    _object(root, "2026/11/20/.hidden/x.gz")
    _object(root, "2026/11/20/account_id=1/notes.txt")
    _object(root, "loose.gz")
    window = Window(
        datetime(2026, 11, 20, 6, tzinfo=UTC), datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    )
    listing = list_objects([str(tmp_path)], window)
    names = [o.url.split("cloud_funnel/")[1] for o in listing.objects]
    # the window's day, and the next (objects land up to an hour after their events)
    assert names == [
        "2026/11/20/account_id=1/a.gz",
        "2026/11/20/account_id=1/b.gz",
        "2026/11/21/account_id=1/a.gz",
        "2026/11/21/account_id=1/b.gz",
    ]
    assert [o.index for o in listing.objects] == [0, 1, 2, 3]
    assert listing.outside_days == 5  # two days of two objects, and the loose one
    everything = list_objects([str(tmp_path)], None)
    assert len(everything.objects) == 9 and everything.outside_days == 0


def test_sequences_joined_across_agents_go_to_one_group() -> None:
    def rule(rule_id: str, query: str) -> Rule:
        return Rule(rule_id=rule_id, name=rule_id, query=query)

    rules = [
        rule("entity", "sequence by process.entity_id [process where true] [network where true]"),
        rule("host", "sequence by host.id [process where true] [network where true]"),
        rule("user", "sequence by user.name [process where true] [network where true]"),
        rule("single", 'process where process.name == "cmd.exe"'),
        rule(
            "mixed",
            "sequence [process where true] by process.entity_id "
            "[network where true] by destination.ip",
        ),
    ]
    assert global_rule_indexes(rules) == frozenset({2, 4})
