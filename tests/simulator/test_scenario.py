"""Scenario files: NDJSON or a JSON array of Cloud Funnel records; clear errors otherwise."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connector.errors import BadInputError
from connector.simulator import demo_records, load_scenario, scenario_records
from tests.simulator.support import cf_record


def test_ndjson_with_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "day.ndjson"
    path.write_text(json.dumps(cf_record(1)) + "\n\n" + json.dumps(cf_record(2)) + "\n")
    assert load_scenario(path) == [cf_record(1), cf_record(2)]


def test_json_array(tmp_path: Path) -> None:
    path = tmp_path / "day.json"
    path.write_text(json.dumps([cf_record(1)]))
    assert load_scenario(path) == [cf_record(1)]


def test_iso_event_time_is_readable(tmp_path: Path) -> None:
    path = tmp_path / "iso.ndjson"
    path.write_text(json.dumps(cf_record(1, **{"event.time": "2026-11-20T10:00:00Z"})))
    assert len(load_scenario(path)) == 1


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"event.time": 1}\n{oops\n', "day.ndjson:2: not valid JSON"),
        ('{"event.time": 1}\n[1]\n', "line 2: a record must be a JSON object"),
        ('{"event.id": "x"}\n', "line 1: record has no readable event.time"),
        ("[1, 2", "not valid JSON"),
        ('[{"event.time": "soon"}]', "item 1: record has no readable event.time"),
    ],
)
def test_bad_files_name_the_file_and_line(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "day.ndjson"
    path.write_text(text)
    with pytest.raises(BadInputError) as info:
        load_scenario(path)
    assert fragment in str(info.value)
    assert str(path) in str(info.value)


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="cannot read scenario"):
        load_scenario(tmp_path / "absent.ndjson")
    binary = tmp_path / "x.gz"
    binary.write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")
    with pytest.raises(BadInputError, match="cannot read scenario"):
        load_scenario(binary)


def test_scenario_records_demo_or_path(tmp_path: Path) -> None:
    now = datetime(2026, 11, 20, tzinfo=UTC)
    assert scenario_records("demo", now=now) == demo_records(now)[0]
    path = tmp_path / "one.ndjson"
    path.write_text(json.dumps(cf_record(3)))
    assert scenario_records(str(path)) == [cf_record(3)]
    with pytest.raises(BadInputError):
        scenario_records(str(tmp_path / "nope.ndjson"))
