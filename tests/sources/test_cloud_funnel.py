"""Cloud Funnel source over a local folder and over S3 (moto), and the NDJSON decoder."""

from __future__ import annotations

import gzip
import json
import os
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from connector.config import CloudFunnelConfig
from connector.errors import ConfigError
from connector.sources.cloud_funnel import CloudFunnelSource, day_prefixes
from connector.sources.ndjson import decode_stream, gunzip_members, iter_lines
from connector.sources.objects import open_store
from connector.sources.query import Prefilter
from connector.timeutil import Window, to_epoch_ms

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
WINDOW = Window(T0, T0 + timedelta(hours=1))
CMD = Prefilter((((b"cmd.exe",),),))
DAY = "s1/cloud_funnel/2026/11/20/account_id=123"
BROKEN_MEMBER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 40


def record(n: int, name: str = "cmd.exe", at: datetime | None = None) -> dict[str, Any]:
    return {
        "event.id": f"TRACE_{n}",
        "event.time": to_epoch_ms(at or T0 + timedelta(minutes=n)),
        "event.type": "Process Creation",
        "tgt.process.name": name,
    }


def lines(*records: dict[str, Any] | bytes) -> bytes:
    out = b""
    for item in records:
        out += (item if isinstance(item, bytes) else json.dumps(item).encode()) + b"\n"
    return out


def export_object() -> tuple[bytes, list[dict[str, Any]]]:
    """Three gzip members: good, corrupt, good with a non-JSON line and a non-cmd record."""
    good = [record(1), record(2, "CMD.EXE"), record(3), record(4)]
    member1 = gzip.compress(lines(good[0], good[1]))
    member3 = gzip.compress(
        lines(good[2], b'{"tgt.process.name": "cmd.exe", broken', record(9, "notepad.exe"), good[3])
    )
    return member1 + BROKEN_MEMBER + member3, good


def ids(records: list[tuple[str, Any]]) -> list[str]:
    return [r["event.id"] for _, r in records]


# -- local folder ------------------------------------------------------------------------


@pytest.fixture
def export(tmp_path: Path) -> tuple[Path, list[dict[str, Any]]]:
    data, good = export_object()
    folder = tmp_path / DAY
    folder.mkdir(parents=True)
    (folder / "part-0001.gz").write_bytes(data)
    (folder / "part-0002.gz").write_bytes(
        gzip.compress(lines(record(5, at=T0 + timedelta(hours=2))))
    )
    old_day = tmp_path / "s1/cloud_funnel/2026/11/17/account_id=123"
    old_day.mkdir(parents=True)
    (old_day / "old.gz").write_bytes(gzip.compress(lines(record(7))))
    return tmp_path, good


def test_local_folder_reads_every_good_record_and_counts_the_rest(export):
    root, good = export
    source = CloudFunnelSource(CloudFunnelConfig(location=str(root)), CMD)
    got = list(source.fetch(WINDOW))
    assert got == [("cloud-funnel", r) for r in good]
    assert source.stats.skipped == Counter(
        {"corrupt-gzip": 1, "not-json": 1, "prefilter": 1, "outside-window": 1}
    )
    assert source.stats.objects == 2  # the 2026-11-17 folder is not read
    assert source.stats.records == 4
    assert source.stats.bytes == sum(p.stat().st_size for p in (root / DAY).iterdir())


def test_without_prefilter_every_json_line_is_parsed(export):
    root, _ = export
    source = CloudFunnelSource(CloudFunnelConfig(location=str(root)), None)
    got = ids(list(source.fetch(WINDOW)))
    assert got == ["TRACE_1", "TRACE_2", "TRACE_3", "TRACE_9", "TRACE_4"]
    assert "prefilter" not in source.stats.skipped


def test_location_may_already_end_with_the_prefix(export):
    root, good = export
    config = CloudFunnelConfig(location=str(root / "s1" / "cloud_funnel"))
    assert ids(list(CloudFunnelSource(config, CMD).fetch(WINDOW))) == ids(
        [("cloud-funnel", r) for r in good]
    )


def test_objects_written_before_the_window_are_not_read(export):
    root, _ = export
    for path in (root / DAY).iterdir():
        old = (T0 - timedelta(hours=3)).timestamp()
        os.utime(path, (old, old))
    source = CloudFunnelSource(CloudFunnelConfig(location=str(root)), CMD)
    assert list(source.fetch(WINDOW)) == []
    assert source.stats.skipped["object-before-window"] == 2
    assert source.stats.objects == 0


def test_account_filter_lists_only_those_accounts(export):
    root, _ = export
    source = CloudFunnelSource(CloudFunnelConfig(location=str(root)), CMD, account_ids=["999"])
    assert list(source.fetch(WINDOW)) == []
    assert source.stats.objects == 0


def test_day_prefixes_cover_the_slack_past_midnight():
    window = Window(
        datetime(2026, 11, 20, 23, 0, tzinfo=UTC), datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    )
    assert day_prefixes(window, timedelta(hours=1)) == ["2026/11/20/", "2026/11/21/"]
    assert day_prefixes(WINDOW, timedelta(0), ["1", "2"]) == [
        "2026/11/20/account_id=1/",
        "2026/11/20/account_id=2/",
    ]


def test_missing_location_is_a_config_error():
    with pytest.raises(ConfigError):
        open_store("", "s1/cloud_funnel")


# -- S3 (moto) ----------------------------------------------------------------------------


@pytest.fixture
def s3(monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="cf-export")
        yield client


def test_s3_reads_objects_by_date_prefix(s3):
    data, good = export_object()
    s3.put_object(Bucket="cf-export", Key=f"{DAY}/part-0001.gz", Body=data)
    s3.put_object(Bucket="cf-export", Key="s1/cloud_funnel/2026/11/18/account_id=123/x.gz",
                  Body=gzip.compress(lines(record(8))))  # fmt: skip
    config = CloudFunnelConfig(location="s3://cf-export")
    source = CloudFunnelSource(config, CMD, s3_client=s3)
    assert list(source.fetch(WINDOW)) == [("cloud-funnel", r) for r in good]
    assert source.stats.objects == 1
    assert source.stats.skipped["corrupt-gzip"] == 1
    assert source.stats.skipped["not-json"] == 1


def test_s3_missing_bucket_is_a_config_error(s3):
    config = CloudFunnelConfig(location="s3://no-such-bucket/s1/cloud_funnel")
    source = CloudFunnelSource(config, CMD, s3_client=s3)
    with pytest.raises(ConfigError, match="NoSuchBucket"):
        list(source.fetch(WINDOW))


# -- NDJSON decoding ----------------------------------------------------------------------


def one_byte_chunks(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def test_gzip_members_decode_even_in_one_byte_chunks():
    data = gzip.compress(b"a\nb") + gzip.compress(b"c\n")
    problems: list[str] = []
    text = b"".join(gunzip_members(one_byte_chunks(data), problems.append))
    assert text == b"a\nbc\n"
    assert problems == []


def test_corrupt_member_is_skipped_and_breaks_the_line():
    data = gzip.compress(b'{"a": 1}\n{"partial') + BROKEN_MEMBER + gzip.compress(b'{"b": 2}\n')
    problems: list[str] = []
    got = [line for _, line in iter_lines(gunzip_members([data], problems.append))]
    assert got == [b'{"a": 1}', b'{"partial', b'{"b": 2}']
    assert problems == ["corrupt-gzip"]


def test_truncated_member_is_reported():
    data = gzip.compress(b"x\n" * 1000)[:-12]
    problems: list[str] = []
    out = b"".join(gunzip_members([data], problems.append))
    assert out.startswith(b"x\nx\n")
    assert problems == ["truncated-gzip"]


def test_plain_text_passes_through_and_lines_keep_numbers():
    chunks = [b"one\r\ntw", b"o\n\nthree"]
    got = list(iter_lines(decode_stream(chunks, lambda reason: None)))
    assert got == [(1, b"one"), (2, b"two"), (3, b""), (4, b"three")]
