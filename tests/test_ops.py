"""Run bookkeeping: summary line, Prometheus textfile, heartbeat pings (never failing a run)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from connector import cli as cli_module
from connector.ops import Heartbeat, RunSummary, write_textfile


class _Recorder(BaseHTTPRequestHandler):
    hits: list[tuple[str, str]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.server.hits.append((self.path, self.rfile.read(length).decode()))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        del args


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, str]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    server.hits = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/ping/abc", server.hits  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()


def test_summary_line_and_dict() -> None:
    summary = RunSummary("poll", windows=2, records=10, mapped=9, alerts_new=1, exit_code=3)
    summary.skipped["bad_timestamp"] = 1
    summary.delivered["hook"] = 1
    summary.failed["syslog"] = 1
    line = summary.line()
    assert line.startswith("poll: windows=2 ")
    assert "skipped=bad_timestamp=1" in line and "hook:1/0" in line and "syslog:0/1" in line
    assert line.endswith("exit=3")
    assert summary.as_dict()["delivered"] == {"hook": 1}


def test_textfile_is_written_atomically(tmp_path: Path) -> None:
    target = tmp_path / "metrics" / "s1.prom"
    summary = RunSummary("poll", records=5, alerts_new=2, outbox_size=1)
    summary.delivered["hook"] = 2
    write_textfile(target, summary)
    text = target.read_text()
    assert "s1_connector_last_run_alerts_new 2" in text
    assert 's1_connector_last_run_delivered{output="hook"} 2' in text
    assert "s1_connector_outbox_size 1" in text
    assert [p.name for p in target.parent.iterdir()] == ["s1.prom"]  # no temp file left


def test_textfile_failure_is_only_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    write_textfile(blocker / "sub" / "s1.prom", RunSummary("poll"))
    assert "could not write metrics textfile" in caplog.text


def test_heartbeat_pings_start_success_and_failure(
    receiver: tuple[str, list[tuple[str, str]]],
) -> None:
    url, hits = receiver
    beat = Heartbeat(url)
    beat.start()
    beat.finish(0, "poll: ok")
    beat.finish(69, "poll: down")
    assert [h[0] for h in hits] == ["/ping/abc/start", "/ping/abc", "/ping/abc/69"]
    assert hits[1][1] == "poll: ok"


def test_failing_heartbeat_never_fails(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    Heartbeat(f"http://127.0.0.1:{port}/ping?token=hb-secret-1", timeout=1).start()
    assert "heartbeat ping failed" in caplog.text
    assert "hb-secret-1" not in caplog.text


def test_poll_writes_metrics_and_pings(
    tmp_path: Path, receiver: tuple[str, list[tuple[str, str]]]
) -> None:
    url, hits = receiver
    (tmp_path / "cf").mkdir()
    config = tmp_path / "c.toml"
    config.write_text(
        '[source]\nkind = "cloud-funnel"\n[cloud_funnel]\nlocation = "cf"\n'
        f'[state]\npath = "s.db"\n[metrics]\ntextfile = "m.prom"\n[heartbeat]\nurl = "{url}"\n'
    )
    assert cli_module.run(["--config", str(config), "poll"]) == 0
    assert "s1_connector_last_run_exit_code 0" in (tmp_path / "m.prom").read_text()
    assert [h[0] for h in hits] == ["/ping/abc/start", "/ping/abc"]
    assert hits[1][1].startswith("poll: windows=1 ")
