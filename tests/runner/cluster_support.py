"""Cloud Funnel exports for the cluster tests, built from `../shared/bench/workload.py`.

An export is the workload's records cut into gzip objects under
`s1/cloud_funnel/yyyy/mm/dd/account_id=…/`; some objects are *late-uploaded*: they hold early
events but are named (and so read) after every other object, so the read order is not time
order. The reference for every comparison is single-process `replay` of the same export
(order-independent since #12), checked against single-process replay of the time-ordered
workload file.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from connector import cli
from tests.conftest import SHARED

ACCOUNT = "1600000000000000001"


@dataclass(frozen=True)
class Export:
    root: Path  # the folder that holds `s1/cloud_funnel/…`
    source: Path  # the workload file, in time order
    objects: list[Path]


def workload(folder: Path, events: int, seed: int) -> Path:
    path = folder / f"cf-{events}-{seed}.ndjson"
    script = SHARED / "bench" / "workload.py"
    command = [sys.executable, str(script), "--shape", "cloud-funnel", "--events", str(events),
               "--seed", str(seed), "--out", str(path)]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def write_export(source: Path, root: Path, per_object: int, late: tuple[int, ...]) -> Export:
    """Cut `source` into objects of `per_object` lines; the chunks numbered in `late` are
    written last (their names sort after every other object)."""
    lines = source.read_bytes().splitlines()
    chunks = [lines[i : i + per_object] for i in range(0, len(lines), per_object)]
    order = [i for i in range(len(chunks)) if i not in late] + list(late)
    objects: list[Path] = []
    for n, index in enumerate(order):
        first = datetime.fromtimestamp(json.loads(chunks[index][0])["event.time"] / 1000, UTC)
        folder = root / "s1" / "cloud_funnel" / f"{first:%Y/%m/%d}" / f"account_id={ACCOUNT}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{n:05d}-{index:05d}.ndjson.gz"
        path.write_bytes(gzip.compress(b"\n".join(chunks[index]) + b"\n"))
        objects.append(path)
    return Export(root, source, objects)


def run_replay(capsys: Any, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    """`s1-connector replay ARGS` in-process: exit code, alerts, stderr."""
    code = cli.run(["replay", *args])
    out, err = capsys.readouterr()
    return code, [json.loads(line) for line in out.splitlines()], err


def comparable(alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The alerts without `event.created` (the one field that says when, not what)."""
    result = []
    for alert in alerts:
        event = {k: v for k, v in alert["event"].items() if k != "created"}
        result.append({**alert, "event": event})
    return result
