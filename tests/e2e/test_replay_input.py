"""Replay of input it cannot use is an error (exit 65) that says what it saw; garbage lines
inside a good file are reported by reason, not hidden under `prefilter` (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from connector import cli
from connector.timeutil import to_datetime
from tests.e2e.support import chain


@pytest.fixture(autouse=True)
def _no_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_a_file_of_one_unrelated_object_exits_65(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "foo.json"
    path.write_text('{"foo":1}\n')
    assert cli.run(["replay", str(path)]) == 65
    err = capsys.readouterr().err
    assert f"{path}: 1 record(s), none mappable" in err
    assert "missing_event_id=1" in err


def test_a_hundred_unrelated_lines_exit_65_with_what_they_held(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "other.ndjson"
    path.write_text("".join(json.dumps({"user": f"u{n}", "n": n}) + "\n" for n in range(100)))
    assert cli.run(["replay", str(path)]) == 65
    err = capsys.readouterr().err
    # The first line is parsed and cannot be mapped; the 99 others hold no rule's keyword.
    assert "none mappable (missing_event_id=1, prefilter=99)" in err


def test_one_unusable_file_among_good_ones_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.ndjson"
    at = to_datetime("2026-11-20T10:00:00Z")
    assert at is not None
    good.write_text("".join(json.dumps(r) + "\n" for r in chain("A", at).records))
    bad = tmp_path / "bad.ndjson"
    bad.write_text('{"foo":1}\n')
    assert cli.run(["replay", str(good), str(bad)]) == 65
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1  # the good file's alert is still written
    assert str(bad) in err and str(good) not in err.split("none mappable")[0].split("in ")[-1]


def test_garbage_lines_in_a_good_file_are_counted_by_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    at = to_datetime("2026-11-20T10:00:00Z")
    assert at is not None
    lines = [json.dumps(r) for r in chain("A", at).records]
    lines[1:1] = ["not json at all", "[1, 2]", '{"truncated": ']
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n")
    assert cli.run(["replay", str(path)]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1
    summary = err.strip().splitlines()[-1]
    assert "not-json=2" in summary and "not-an-object=2" in summary
    assert "prefilter" not in summary
