"""Every wait says why; a console that is down fails fast in one line (real sockets)."""

from __future__ import annotations

import logging
import socket
import time

import pytest
from pydantic import SecretStr

from connector.config import ConsoleConfig
from connector.errors import Unavailable
from connector.sources.base import SourceStats
from connector.sources.http import CONNECT_RETRIES, HttpClient


def _closed_port() -> int:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _client(url: str, waits: list[float]) -> HttpClient:
    console = ConsoleConfig(url=url, max_retries=5)
    return HttpClient(
        console,
        SecretStr("t0ken-value"),
        scheme="ApiToken",
        stats=SourceStats(),
        sleep=waits.append,
    )


def test_a_console_that_is_down_fails_fast_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    waits: list[float] = []
    client = _client(f"http://127.0.0.1:{_closed_port()}", waits)
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(Unavailable) as info:
        client.call("POST", "/web/api/v2.1/dv/init-query", label="dv/init-query")
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "\n" not in message and "connection refused" in message.lower()
    assert f"{CONNECT_RETRIES + 1} attempts" in message
    assert "HTTPConnectionPool" not in message and "object at 0x" not in message
    assert len(waits) == CONNECT_RETRIES and sum(waits) <= 3  # retries stay, briefly
    noisy = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert noisy == []  # the one line is the error itself
    assert all("object at 0x" not in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(("seconds", "logged"), [(33.0, True), (2.5, True), (1.5, False)])
def test_a_pause_over_2_s_says_what_it_waits_for(
    caplog: pytest.LogCaptureFixture, seconds: float, logged: bool
) -> None:
    waits: list[float] = []
    client = _client("https://console.example.net", waits)
    caplog.set_level(logging.INFO)
    client.pause(seconds, rate_limited=True, why="the next DV init-query")
    assert waits == [seconds]
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    expected = f"waiting {seconds:.0f} s for the next DV init-query"
    assert (expected in lines) is logged
