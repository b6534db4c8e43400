"""Cloud Funnel poll reads each export object once (issue 12): 200 objects over 20 runs on a
moto S3 bucket, each read exactly once (counted), late uploads with three-hour-old events
still processed and their chain alerted once; changed and vanished objects are reported."""

from __future__ import annotations

import gzip
import json
import logging
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connector.sources import objects
from connector.state import StateStore
from tests.e2e.conftest import ConfigFactory
from tests.e2e.support import (
    ACCOUNT,
    CF_PREFIX,
    Record,
    chain,
    first_output_alerts,
    matched_ids,
    noise,
    poll_at,
)

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
RUNS = 20
OBJECTS_PER_RUN = 10
BUCKET = "cf-export"
FOLDER = f"{CF_PREFIX}/2026/11/20/account_id={ACCOUNT}"
POLL = {"initial_lookback": "10m", "lag": "1m", "max_window": "10m", "allowed_lateness": "2m"}


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each object was read (counted where the store reads it)."""
    counted: Counter[str] = Counter()
    real = objects.S3Store.read

    def read(self: objects.S3Store, key: str) -> Iterator[bytes]:
        counted[key] += 1
        return real(self, key)

    monkeypatch.setattr(objects.S3Store, "read", read)
    return counted


def put(s3: Any, key: str, records: list[Record]) -> None:
    body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
    s3.put_object(Bucket=BUCKET, Key=key, Body=gzip.compress(body.encode()))


def test_200_objects_over_20_runs_each_read_once_late_ones_too(
    s3: Any, reads: Counter[str], make_config: ConfigFactory
) -> None:
    _, config = make_config("cloud-funnel", poll=POLL, cloud_funnel={"location": f"s3://{BUCKET}"})
    laptop = chain("laptop", T0 - timedelta(hours=3), gap_s=4.0, host="LAPTOP-9")
    healthy = [chain(f"h{n}", T0 + timedelta(minutes=5 * n + 1)) for n in range(1, RUNS, 4)]
    keys: list[str] = []
    for run in range(1, RUNS + 1):
        now = T0 + timedelta(minutes=5 * run)
        for part in range(OBJECTS_PER_RUN):
            records = noise(f"r{run}p{part}", now - timedelta(minutes=3), 2, timedelta(seconds=7))
            if part == 0:
                records += [r for c in healthy if c.name == f"h{run - 1}" for r in c.records]
            if part == 1 and run == 5:  # the laptop comes online: first half of its chain
                records.append(laptop.start)
            if part == 1 and run == 6:  # ...and uploads the second half one run later
                records.append(laptop.connect)
            key = f"{FOLDER}/{now:%H%M}-{part:02d}.gz"
            put(s3, key, records)
            keys.append(key)
        assert poll_at(config, now) == 0
    assert len(keys) == RUNS * OBJECTS_PER_RUN == 200
    assert {f"{CF_PREFIX}/{k}" for k in reads} == set(keys)
    assert set(reads.values()) == {1}  # every object read, each exactly once
    found = [matched_ids(a) for a in first_output_alerts(config)]
    assert found.count(laptop.ids) == 1  # three hours late, across two runs, alerted once
    assert sorted(found) == sorted([laptop.ids, *(c.ids for c in healthy)])
    with StateStore.open(config.state.path) as store:
        overview = store.overview()
    assert sum(overview["processed_objects"].values()) == 200
    assert overview["lateness"]["late_events"] == 0


def test_changed_and_vanished_objects_are_reported(
    tmp_path: Path, make_config: ConfigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _, config = make_config("cloud-funnel", poll=POLL)
    folder = tmp_path / "cf" / FOLDER
    folder.mkdir(parents=True)
    first = chain("c1", T0 - timedelta(minutes=6))
    (folder / "a.gz").write_bytes(
        gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in first.records))
    )
    (folder / "b.gz").write_bytes(gzip.compress(b""))
    assert poll_at(config, T0) == 0
    assert [matched_ids(a) for a in first_output_alerts(config)] == [first.ids]
    second = chain("c2", T0 + timedelta(minutes=1))
    lines = [*first.records, *second.records]
    (folder / "a.gz").write_bytes(
        gzip.compress(b"".join(json.dumps(r).encode() + b"\n" for r in lines))
    )
    (folder / "b.gz").unlink()
    with caplog.at_level(logging.WARNING):
        assert poll_at(config, T0 + timedelta(minutes=5)) == 0
    assert "a.gz changed since it was read" in caplog.text
    assert "b.gz was read before and is no longer in the export" in caplog.text
    # The changed object was read again: its new chain alerts, the old one is not repeated.
    assert sorted(matched_ids(a) for a in first_output_alerts(config)) == sorted(
        [first.ids, second.ids]
    )
    with StateStore.open(config.state.path) as store:
        summary = store.last_run()["summary"]  # type: ignore[index]
    assert summary["objects"]["changed"] == 1 and summary["objects"]["gone"] == 1
