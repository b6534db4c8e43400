"""The Cloud Funnel source with an object ledger (poll): each object once, whatever its
events' times; `StartAfter` listing when keys sort by time."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connector.config import CloudFunnelConfig
from connector.sources.cloud_funnel import CloudFunnelSource
from connector.sources.objects import ObjectInfo
from connector.timeutil import Window, to_epoch_ms

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
FOLDER = "s1/cloud_funnel/2026/11/20/account_id=123"


class Ledger:
    """An in-memory ledger, committed by hand like poll's store ledger."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[int, str]] = {}
        self.pending: list[ObjectInfo] = []
        self.gone_keys: list[str] = []

    def known(self, prefix: str) -> dict[str, tuple[int, str]]:
        return {k: v for k, v in self.rows.items() if k.startswith(prefix)}

    def read(self, info: ObjectInfo) -> None:
        self.pending.append(info)

    def gone(self, key: str) -> None:
        self.gone_keys.append(key)

    def commit(self) -> None:
        self.rows.update({i.key: (i.size, i.etag) for i in self.pending})
        self.pending = []


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="cf-export")
        yield client


def put(s3: Any, name: str, at: datetime) -> None:
    record = {"event.id": name, "event.time": to_epoch_ms(at), "event.type": "Process Creation"}
    s3.put_object(
        Bucket="cf-export",
        Key=f"{FOLDER}/{name}.gz",
        Body=gzip.compress(json.dumps(record).encode()),
    )


def fetch(source: CloudFunnelSource, ledger: Ledger) -> list[str]:
    window = Window(T0, T0 + timedelta(minutes=10))
    ids = [record["event.id"] for _, record in source.fetch(window)]
    ledger.commit()
    return ids


@pytest.mark.parametrize("sorted_keys", [False, True])
def test_each_object_once_old_events_included(s3: Any, sorted_keys: bool) -> None:
    config = CloudFunnelConfig(location="s3://cf-export", keys_sort_by_time=sorted_keys)
    source = CloudFunnelSource(config, s3_client=s3)
    source.ledger = ledger = Ledger()
    put(s3, "0001", T0 + timedelta(minutes=1))
    put(s3, "0002", T0 - timedelta(hours=3))  # a late upload: old events, read all the same
    assert fetch(source, ledger) == ["0001", "0002"]
    put(s3, "0003", T0 + timedelta(minutes=2))
    assert fetch(source, ledger) == ["0003"]
    assert fetch(source, ledger) == []
    assert source.object_counts["read"] == 3


def test_start_after_lists_only_newer_keys(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    config = CloudFunnelConfig(location="s3://cf-export", keys_sort_by_time=True)
    source = CloudFunnelSource(config, s3_client=s3)
    source.ledger = ledger = Ledger()
    for n in range(5):
        put(s3, f"{n:04d}", T0)
    fetch(source, ledger)
    put(s3, "0005", T0)
    calls: list[dict[str, Any]] = []
    real = s3.get_paginator

    def paginator(name: str) -> Any:
        pages = real(name)
        original = pages.paginate

        def paginate(**kwargs: Any) -> Any:
            calls.append(kwargs)
            return original(**kwargs)

        pages.paginate = paginate
        return pages

    monkeypatch.setattr(s3, "get_paginator", paginator)
    assert fetch(source, ledger) == ["0005"]
    assert {c.get("StartAfter") for c in calls if c["Prefix"].startswith(FOLDER[:26])} == {
        f"{FOLDER}/0004.gz"
    }
    assert source.object_counts["known"] == 0  # the five read ones are not even listed again
