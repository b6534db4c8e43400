"""File source for replay: every supported layout, shape detection, clear errors."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from connector.config import CloudFunnelConfig, ConsoleConfig
from connector.errors import BadInputError
from connector.sources.base import Source
from connector.sources.cloud_funnel import CloudFunnelSource
from connector.sources.deep_visibility import DeepVisibilitySource
from connector.sources.files import FileSource
from connector.sources.query import Pushdown
from connector.sources.sdl import SdlSource
from connector.timeutil import Window

CONSOLE = ConsoleConfig(url="https://console.example.test")
PUSHDOWN = Pushdown(s1ql='EventType = "IP Connect"', sdl_filter="")

DV_EVENTS = [
    {"id": "1", "eventType": "Process Creation", "eventTime": "2026-11-20T10:00:01.000Z"},
    {"id": "2", "eventType": "IP Connect", "eventTime": "2026-11-20T10:00:02.000Z"},
]
CF = {"event.id": "T_1", "event.time": 1795514401000, "event.type": "IP Connect"}
ECS = {"@timestamp": "2026-11-20T10:00:03.000Z", "process": {"name": "cmd.exe"}}


def body(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": events, "pagination": {"nextCursor": None, "totalItems": len(events)}}


def test_pretty_printed_dv_body(tmp_path: Path):
    path = tmp_path / "page.json"
    path.write_text(json.dumps(body(DV_EVENTS), indent=2))
    source = FileSource([path])
    assert list(source.records()) == [("dv", e) for e in DV_EVENTS]
    assert source.stats.records == 2


def test_list_of_dv_events_and_list_of_bodies(tmp_path: Path):
    events = tmp_path / "events.json"
    events.write_text(json.dumps(DV_EVENTS))
    bodies = tmp_path / "bodies.json"
    bodies.write_text(json.dumps([body(DV_EVENTS[:1]), body(DV_EVENTS[1:])], indent=1))
    for path in (events, bodies):
        assert [r for _, r in FileSource([path]).records()] == DV_EVENTS


def test_gzipped_ndjson_of_each_shape(tmp_path: Path):
    path = tmp_path / "mixed.ndjson.gz"
    lines = [json.dumps(x) for x in (DV_EVENTS[0], CF, ECS, body(DV_EVENTS[1:]))]
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    assert [s for s, _ in FileSource([path]).records()] == ["dv", "cloud-funnel", "ecs", "dv"]


def test_requested_shape_wins_over_detection(tmp_path: Path):
    path = tmp_path / "x.ndjson"
    path.write_text(json.dumps(CF) + "\n")
    assert list(FileSource([path], shape="pq").records()) == [("pq", CF)]


def test_bad_lines_in_ndjson_are_skipped_and_counted(tmp_path: Path, caplog):
    path = tmp_path / "cf.ndjson"
    path.write_text(json.dumps(CF) + "\n{broken\n\n[1]\n" + json.dumps(CF) + "\n")
    source = FileSource([path])
    assert len(list(source.records())) == 2
    assert source.stats.skipped == {"not-json": 1, "not-an-object": 1}
    assert f"{path}:2" in caplog.text


def test_unreadable_file_names_file_and_line(tmp_path: Path):
    path = tmp_path / "notes.json"
    path.write_text('{\n  "data": [\n    {"id": 1},\n    oops\n  ]\n}\n')
    with pytest.raises(BadInputError) as info:
        list(FileSource([path]).records())
    assert f"{path}:4:" in str(info.value)
    assert info.value.exit_code == 65


def test_binary_file_is_bad_input(tmp_path: Path):
    path = tmp_path / "blob.bin"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(BadInputError, match=r"blob\.bin:1"):
        list(FileSource([path]).records())


def test_missing_path_is_bad_input(tmp_path: Path):
    with pytest.raises(BadInputError, match="no such file"):
        list(FileSource([tmp_path / "nope.json"]).records())


def test_folder_is_read_recursively_in_order_skipping_other_files(tmp_path: Path):
    (tmp_path / "b").mkdir()
    (tmp_path / "a.json").write_text(json.dumps(DV_EVENTS[:1]))
    (tmp_path / "b" / "c.ndjson").write_text(json.dumps(CF))
    (tmp_path / "README.md").write_text("not data")
    (tmp_path / ".hidden.json").write_text("garbage")
    source = FileSource([tmp_path])
    assert [s for s, _ in source.records()] == ["dv", "cloud-funnel"]
    assert source.stats.objects == 2


def test_fetch_keeps_only_the_window(tmp_path: Path):
    path = tmp_path / "events.json"
    path.write_text(json.dumps(DV_EVENTS))
    start = datetime(2026, 11, 20, 10, 0, 2, tzinfo=UTC)
    source = FileSource([path])
    got = list(source.fetch(Window(start, start + timedelta(seconds=1))))
    assert [r["id"] for _, r in got] == ["2"]
    assert source.stats.skipped["outside-window"] == 1


def test_elastic_cloud_funnel_fixtures_read_as_cloud_funnel(shared: Path):
    folder = shared / "fixtures" / "elastic-cloud-funnel"
    paths = [folder / "test-process.log", folder / "test-network-action.log"]
    got = list(FileSource(paths).records())
    assert [s for s, _ in got] == ["cloud-funnel", "cloud-funnel"]
    assert got[0][1]["tgt.process.name"] == "nr-winpkg.exe"


def test_every_source_satisfies_the_protocol(tmp_path: Path):
    """Checked by mypy: each assignment below must type-check against `Source`."""
    sources: list[Source] = [
        FileSource([tmp_path]),
        CloudFunnelSource(CloudFunnelConfig(location=str(tmp_path))),
        DeepVisibilitySource(CONSOLE, SecretStr("t0ken-value"), PUSHDOWN),
        SdlSource(CONSOLE, SecretStr("t0ken-value"), PUSHDOWN),
    ]
    for source in sources:
        with source as entered:
            assert entered is source
            assert source.max_window is None
            assert source.stats.as_dict()["records"] == 0
