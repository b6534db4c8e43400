"""The HTTP layer: error bodies, Retry-After, TLS settings, the retry table, a real socket."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
import responses
from pydantic import SecretStr

from connector.config import ConsoleConfig
from connector.errors import ConfigError, Unavailable
from connector.sources.base import SourceStats
from connector.sources.http import (
    USER_AGENT,
    HttpClient,
    NotFound,
    RequestRejected,
    parse_error_body,
    parse_retry_after,
)
from tests.sources.fakes import BASE, FakeTime

TOKEN = "tok-SECRET-http-55555555"


def client(clock: FakeTime, url: str = BASE, **console: Any) -> HttpClient:
    return HttpClient(
        ConsoleConfig(url=url, max_retries=console.pop("max_retries", 2), **console),
        SecretStr(TOKEN),
        scheme="Bearer",
        stats=SourceStats(),
        clock=clock.monotonic,
        sleep=clock.sleep,
        wall=clock.wall,
    )


# -- parsing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "text", "codes"),
    [
        (
            {
                "errors": [
                    {
                        "code": 5000010,
                        "detail": "Server could not process the request.",
                        "title": "Internal server error",
                    }
                ]
            },
            "Internal server error: Server could not process the request.",
            (5000010,),
        ),
        (
            {"code": 400, "message": "Bad query", "details": [{"field": "log", "message": "x"}]},
            "Bad query; log: x",
            (),
        ),
        (
            {"error": {"message": "Query type must be specified"}},
            "Query type must be specified",
            (),
        ),
    ],
)
def test_error_bodies_are_summarised(body, text, codes):
    assert parse_error_body(json.dumps(body).encode()) == (text, codes)


def test_non_json_error_bodies_are_cut_and_redacted():
    text, codes = parse_error_body(
        b"<html>\n  proxy says no; Authorization: ApiToken abc123 " + b"x" * 500
    )
    assert text.startswith("<html> proxy says no")
    assert "abc123" not in text
    assert len(text) <= 300 and codes == ()
    assert parse_error_body(b"") == ("(empty body)", ())


def test_retry_after_seconds_and_http_dates():
    now = 1_800_000_000.0
    assert parse_retry_after("7", now) == 7.0
    assert parse_retry_after(" 1.5 ", now) == 1.5
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now) == pytest.approx(30, abs=1)
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# -- configuration ---------------------------------------------------------------------------


def test_session_carries_auth_user_agent_and_tls_settings(tmp_path: Path, caplog):
    clock = FakeTime()
    default = client(clock)
    assert default.session.headers["Authorization"] == f"Bearer {TOKEN}"
    assert default.session.headers["User-Agent"] == USER_AGENT
    assert default.session.verify is True
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    assert client(clock, ca_bundle=str(bundle)).session.verify == str(bundle)
    assert client(clock, verify_tls=False).session.verify is False
    assert "verification of the console is OFF" in caplog.text


def test_plain_http_only_to_loopback():
    clock = FakeTime()
    assert client(clock, url="http://127.0.0.1:8787").base_url == "http://127.0.0.1:8787"
    unsafe = ConsoleConfig.model_construct(url="http://example.com", allow_insecure_http=False)
    with pytest.raises(ConfigError, match="loopback"):
        HttpClient(unsafe, SecretStr(TOKEN), scheme="ApiToken", stats=SourceStats())
    with pytest.raises(ConfigError, match="url is not set"):
        client(clock, url="")


# -- the retry table ----------------------------------------------------------------------------


@pytest.fixture
def rsps():
    with responses.RequestsMock() as mock:
        yield mock


def test_tls_failure_is_a_config_error_without_retry(rsps):
    rsps.add("GET", BASE + "/x", body=requests.exceptions.SSLError("certificate verify failed"))
    with pytest.raises(ConfigError, match="ca_bundle"):
        client(FakeTime()).call("GET", "/x", label="x")
    assert len(rsps.calls) == 1


def test_timeouts_are_retried_then_unavailable(rsps):
    for _ in range(3):
        rsps.add("GET", BASE + "/x", body=requests.exceptions.ReadTimeout("read timed out"))
    http = client(FakeTime())
    with pytest.raises(Unavailable, match="read timed out after 2 retries"):
        http.call("GET", "/x", label="x")
    assert len(rsps.calls) == 3
    assert http.stats.retries == 2 and http.stats.api_calls["x"] == 3


@pytest.mark.parametrize(
    ("status", "error"), [(404, NotFound), (400, RequestRejected), (409, RequestRejected)]
)
def test_client_errors_are_never_retried(rsps, status, error):
    rsps.add("GET", BASE + "/x", status=status, json={"errors": [{"detail": "nope"}]})
    with pytest.raises(error, match="nope"):
        client(FakeTime()).call("GET", "/x", label="x")
    assert len(rsps.calls) == 1


def test_non_json_success_is_retried(rsps):
    rsps.add("GET", BASE + "/x", body="<html>maintenance</html>")
    rsps.add("GET", BASE + "/x", json={"ok": True})
    assert client(FakeTime()).call("GET", "/x", label="x") == {"ok": True}
    assert len(rsps.calls) == 2


def test_empty_success_body_is_none(rsps):
    rsps.add("DELETE", BASE + "/x", status=204)
    assert client(FakeTime()).call("DELETE", "/x", label="x") is None


def test_secrets_never_reach_messages_or_logs(rsps, caplog):
    echo = {"errors": [{"detail": f"bad header Authorization: Bearer {TOKEN}"}]}
    for _ in range(3):
        rsps.add("GET", BASE + "/x", status=500, json=echo)
    with pytest.raises(Unavailable) as info:
        client(FakeTime()).call("GET", "/x", label="x")
    assert TOKEN not in str(info.value)
    assert TOKEN not in caplog.text


# -- a real socket on loopback ----------------------------------------------------------------


class _Flaky(BaseHTTPRequestHandler):
    """First request: connection dropped; second: 503 Retry-After 0; then 200 JSON."""

    seen: ClassVar[list[dict[str, str]]] = []

    def do_GET(self) -> None:
        type(self).seen.append(dict(self.headers))
        count = len(type(self).seen)
        if count == 1:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if count == 2:
            self._reply(503, b'{"errors": [{"detail": "busy"}]}', {"Retry-After": "0"})
            return
        self._reply(200, b'{"data": {"ok": true}}', {})

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": "application/json", **headers}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        del format, args


@pytest.fixture
def loopback() -> Iterator[str]:
    _Flaky.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_dropped_connection_and_503_over_a_real_socket(loopback):
    http = client(FakeTime(), url=loopback)
    assert http.call("GET", "/dv/query-status", label="dv/query-status") == {"data": {"ok": True}}
    assert len(_Flaky.seen) == 3
    assert http.stats.retries == 2
    assert all(h["Authorization"] == f"Bearer {TOKEN}" for h in _Flaky.seen)
    http.close()
