"""`check` predicts `poll`: each failure `poll` would meet, through the real CLI.

Receivers are real loopback servers (TCP, TLS with a test CA, HTTP); none may receive a
message, since `check` without `--send-test` only connects.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from connector import cli as cli_module
from tests.outputs.servers import Pki, StreamServer, make_pki

SECRET = "whsec_c2VjcmV0LWtleS1mb3ItdGhlLWNoZWNrLXRlc3Q="


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("rogue"), label="rogue")


class _Hook(BaseHTTPRequestHandler):
    posts: ClassVar[list[bytes]] = []

    def do_POST(self) -> None:
        self.posts.append(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[bytes]]]:
    posts: list[bytes] = []
    handler = type("Hook", (_Hook,), {"posts": posts})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", posts
    server.shutdown()
    server.server_close()


def _closed_port() -> int:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _config(tmp_path: Path, body: str, *, state: str = "state/s.db", rules: str = "") -> str:
    (tmp_path / "cf").mkdir(exist_ok=True)
    path = tmp_path / "c.toml"
    path.write_text(
        f'[source]\nkind = "cloud-funnel"\n[cloud_funnel]\nlocation = "cf"\n'
        f'[state]\npath = "{state}"\n[rules]\npaths = [{rules}]\n{body}'
    )
    return str(path)


def _webhook(url: str, secret_env: str = "S1_CHECK_SECRET") -> str:
    return (
        f'[[outputs]]\ntype = "webhook"\nname = "hook"\nurl = "{url}"\n'
        f'secret_env = "{secret_env}"\n'
    )


def _syslog(port: int, transport: str, ca: Path | None = None) -> str:
    extra = f'ca_bundle = "{ca}"\n' if ca else ""
    return (
        f'[[outputs]]\ntype = "syslog"\nname = "siem-{transport}"\nhost = "127.0.0.1"\n'
        f'port = {port}\ntransport = "{transport}"\n{extra}'
    )


def _run(config: str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, list[str]]:
    code = cli_module.run(["check", "--config", config, *extra])
    return code, capsys.readouterr().out.splitlines()


def _failed(lines: list[str]) -> list[str]:
    return [line for line in lines if "FAILED" in line]


def test_all_fine_exits_0_and_sends_nothing(
    tmp_path: Path,
    pki: Pki,
    webhook: tuple[str, list[bytes]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("S1_CHECK_SECRET", SECRET)
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "r.toml").write_text(
        (Path(cli_module.__file__).parent / "rules/command_prompt_network_connection.toml")
        .read_text()
        .replace("89f9a4b0-9f8f-4ee0-8823-c4751a6d6696", "copy-of-the-seed-rule")
    )
    url, posts = webhook
    with StreamServer() as tcp, StreamServer(context=pki.server_context()) as tls:
        body = _webhook(url) + _syslog(tcp.port, "tcp") + _syslog(tls.port, "tls", pki.ca)
        body += '[[outputs]]\ntype = "file"\npath = "out/alerts.jsonl"\n'
        code, lines = _run(_config(tmp_path, body, rules='"rules"'), capsys)
        assert tcp.wait_connections(1) == 1 and tls.wait_connections(1) == 1
        assert tcp.messages == [] and tls.messages == []
    assert code == 0, _failed(lines)
    assert lines[-1] == "check: all good"
    assert posts == []
    assert any("syslog/tls" in line and "TLS handshake ok" in line for line in lines)


@pytest.mark.parametrize(
    ("secret", "expected"),
    [
        (None, "webhook secret variable $S1_CHECK_SECRET is not set or empty"),
        ("c2VjcmV0", "does not start with 'whsec_'"),
        ("whsec_not*base64!", "not a Standard Webhooks secret"),
    ],
)
def test_secret_unset_or_malformed_is_78(
    tmp_path: Path,
    webhook: tuple[str, list[bytes]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    secret: str | None,
    expected: str,
) -> None:
    if secret is None:
        monkeypatch.delenv("S1_CHECK_SECRET", raising=False)
    else:
        monkeypatch.setenv("S1_CHECK_SECRET", secret)
    code, lines = _run(_config(tmp_path, _webhook(webhook[0])), capsys)
    assert code == 78
    (line,) = _failed(lines)
    assert line.startswith("output hook: FAILED") and expected in line
    if secret:
        assert secret.removeprefix("whsec_") not in "\n".join(lines)


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_syslog_connection_refused_is_69(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], transport: str
) -> None:
    code, lines = _run(_config(tmp_path, _syslog(_closed_port(), transport)), capsys)
    assert code == 69
    (line,) = _failed(lines)
    assert f"output siem-{transport}: FAILED" in line and "cannot connect" in line


def test_syslog_tls_handshake_failure_is_78(
    tmp_path: Path, pki: Pki, rogue_pki: Pki, capsys: pytest.CaptureFixture[str]
) -> None:
    with StreamServer(context=rogue_pki.server_context()) as server:
        code, lines = _run(_config(tmp_path, _syslog(server.port, "tls", pki.ca)), capsys)
        assert server.messages == []
    assert code == 78
    (line,) = _failed(lines)
    assert "TLS certificate verification failed" in line


def test_webhook_unreachable_is_69(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S1_CHECK_SECRET", SECRET)
    url = f"http://127.0.0.1:{_closed_port()}/hook"
    code, lines = _run(_config(tmp_path, _webhook(url)), capsys)
    assert code == 69
    (line,) = _failed(lines)
    assert "output hook: FAILED — webhook endpoint 127.0.0.1:" in line
    assert "cannot connect" in line


def test_state_path_not_writable_is_78(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "blocker").write_text("a file where the state folder should be")
    code, lines = _run(_config(tmp_path, "", state="blocker/s.db"), capsys)
    assert code == 78
    (line,) = _failed(lines)
    assert line.startswith("state: FAILED") and "blocker is not a folder" in line


def test_rules_path_with_nothing_loadable_is_78(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no rules here")
    code, lines = _run(_config(tmp_path, "", rules='"empty"'), capsys)
    assert code == 78
    (line,) = _failed(lines)
    assert line == f"rules: FAILED — {tmp_path / 'empty'} holds no loadable rule"


def test_json_report_for_automation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config(tmp_path, _syslog(_closed_port(), "tcp"))
    code, lines = _run(config, capsys, "--json")
    (line,) = lines
    doc = json.loads(line)
    assert code == doc["exit_code"] == 69 and doc["ok"] is False
    failed = [c for c in doc["checks"] if not c["ok"]]
    assert [c["check"] for c in failed] == ["output siem-tcp"]
    assert {"check": "config", "ok": True, "detail": f"ok ({config})"} in doc["checks"]
