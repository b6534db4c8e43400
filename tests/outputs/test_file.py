"""The file output: JSON Lines appended and flushed per alert, or stdout."""

from __future__ import annotations

import io
import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from connector.config import FileOutputConfig
from connector.errors import OutputClosed, OutputFatal
from connector.outputs.base import Outcome, Pending
from connector.outputs.file import FileOutput


def cfg(path: str | Path) -> FileOutputConfig:
    return FileOutputConfig(type="file", name="jsonl", path=Path(path))


def test_appends_compact_lines_and_flushes_each_alert(
    tmp_path: Path, alert: dict[str, Any]
) -> None:
    path = tmp_path / "alerts.jsonl"
    path.write_text('{"earlier":true}\n', encoding="utf-8")
    alert["host"]["name"] = "hôte-日本"
    with FileOutput(cfg(path)) as output:
        body = output.render(alert)
        first = output.send([Pending("a", body)], time.monotonic() + 5)
        # Visible to a reader before the output is closed: flushed per alert.
        assert path.read_text(encoding="utf-8").splitlines()[1] == body.decode("utf-8")
        output.send([Pending("b", body)], time.monotonic() + 5)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert first[0].outcome is Outcome.DELIVERED
    assert len(lines) == 3 and json.loads(lines[0]) == {"earlier": True}
    assert json.loads(lines[2]) == alert
    assert "hôte-日本" in lines[2] and ", " not in lines[2] and '": ' not in lines[2]


def test_new_files_are_private(tmp_path: Path, alert: dict[str, Any]) -> None:
    path = tmp_path / "new.jsonl"
    with FileOutput(cfg(path)) as output:
        output.send([Pending("a", output.render(alert))], time.monotonic() + 5)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_missing_folder_is_fatal_with_the_path(tmp_path: Path) -> None:
    with pytest.raises(OutputFatal, match=r"missing/alerts\.jsonl"):
        FileOutput(cfg(tmp_path / "missing" / "alerts.jsonl")).__enter__()


def test_dash_writes_to_stdout(
    capsysbinary: pytest.CaptureFixture[bytes], alert: dict[str, Any]
) -> None:
    with FileOutput(cfg("-")) as output:
        assert output.is_stdout
        output.send([Pending("a", output.render(alert))] * 2, time.monotonic() + 5)
    out = capsysbinary.readouterr().out.decode("utf-8").splitlines()
    assert [json.loads(line)["event"]["id"] for line in out] == [alert["event"]["id"]] * 2


class _ClosedPipe(io.BytesIO):
    def write(self, data: Any) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_broken_pipe_becomes_output_closed(alert: dict[str, Any]) -> None:
    output = FileOutput(cfg("-"), stream=_ClosedPipe())
    with output, pytest.raises(OutputClosed):
        output.send([Pending("a", b"{}")], time.monotonic() + 5)


class _DiskFull(io.BytesIO):
    def write(self, data: Any) -> int:
        raise OSError(28, "No space left on device")


def test_write_errors_answer_retry_with_the_reason() -> None:
    with FileOutput(cfg("/var/x.jsonl"), stream=_DiskFull()) as output:
        answer = output.send([Pending("a", b"{}")], time.monotonic() + 5)[0]
    assert answer.outcome is Outcome.RETRY and "No space left on device" in answer.reason


def test_file_output_keeps_the_whole_alert(alert: dict[str, Any]) -> None:
    alert["process"]["command_line"] = "z" * 200_000
    assert json.loads(FileOutput(cfg("-")).render(alert)) == alert
