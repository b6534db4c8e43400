"""The server's life cycle: start, stop, restart on the same port, bad settings."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connector.errors import ConfigError
from connector.simulator import Simulator
from tests.simulator.support import TOKEN, Client


def test_restart_on_the_same_port_serves_again(records: list[dict[str, Any]]) -> None:
    first = Simulator(records, token=TOKEN, status_delay_s=0, retention_days=None).start()
    url, port = first.url, first.port
    assert url == f"http://127.0.0.1:{port}"
    first.stop()
    first.stop()  # twice is fine
    with pytest.raises(requests.ConnectionError):
        requests.get(url + "/_sim/stats", timeout=2)
    with Simulator(records, token=TOKEN, port=port, retention_days=None) as second:
        assert second.url == url
        assert Client(url).dv("GET", "query-status", params={"queryId": "x"}).status_code == 404


def test_a_busy_port_is_a_config_error(sim: Simulator, records: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{sim.port}"):
        Simulator(records, token=TOKEN, port=sim.port).start()


def test_an_empty_token_is_refused(records: list[dict[str, Any]]) -> None:
    with pytest.raises(ConfigError, match="non-empty API token"):
        Simulator(records, token="")


def test_records_without_event_time_are_refused() -> None:
    with pytest.raises(ValueError, match=r"record 1: no readable event\.time"):
        Simulator([{"event.time": 1}, {"event.id": "x"}], token=TOKEN)


def test_ipv6_loopback(records: list[dict[str, Any]]) -> None:
    try:
        sim = Simulator(records, token=TOKEN, host="::1", retention_days=None).start()
    except ConfigError:
        pytest.skip("no IPv6 loopback on this machine")
    with sim:
        assert sim.url.startswith("http://[::1]:")
        assert requests.get(sim.url + "/_sim/stats", timeout=5).status_code == 200
