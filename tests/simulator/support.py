"""Helpers for the simulator tests: hand-made records and an HTTP client with auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from connector.timeutil import format_utc, to_epoch_ms

TOKEN = "sim-test-token"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DV = "/web/api/v2.1/dv/"
SDL = "/sdl/v2/api/queries"
CMD_QUERY = (
    'EndpointOS = "windows" AND ((EventType = "Process Creation" AND TgtProcName In Anycase '
    '("cmd.exe")) OR (EventType = "IP Connect" AND SrcProcName In Anycase ("cmd.exe")))'
)


def cf_record(n: int, **extra: Any) -> dict[str, Any]:
    """A Cloud Funnel record `n` seconds after T0: a cmd.exe start on host H<n % 3>."""
    record: dict[str, Any] = {
        "event.time": to_epoch_ms(T0 + timedelta(seconds=n)),
        "event.id": f"01TRACE{n:06d}_{n % 7 + 1}",
        "trace.id": f"01TRACE{n:06d}",
        "event.type": "Process Creation",
        "event.category": "process",
        "meta.event.name": "PROCESSCREATION",
        "endpoint.name": f"H{n % 3}",
        "endpoint.os": "windows",
        "agent.uuid": f"agent-{n % 3}",
        "site.id": "111" if n % 2 else "222",
        "account.id": "900",
        "dataSource.name": "SentinelOne",
        "dataSource.category": "security",
        "src.process.name": "explorer.exe",
        "tgt.process.name": "cmd.exe",
        "tgt.process.pid": 1000 + n,
        "tgt.process.uid": f"{n:016X}",
        "tgt.process.cmdline": f"cmd.exe /c echo {n}",
        "sca:ingestTime": to_epoch_ms(T0) // 1000 + n + 2,
    }
    record.update(extra)
    return record


def window(start_s: float, end_s: float) -> tuple[str, str]:
    """ISO bounds `start_s` and `end_s` seconds after T0."""
    return format_utc(T0 + timedelta(seconds=start_s)), format_utc(T0 + timedelta(seconds=end_s))


class Client:
    """A `requests` session against the simulator with the right auth per API."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.session = requests.Session()

    def dv(self, method: str, endpoint: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"ApiToken {TOKEN}", **kwargs.pop("headers", {})}
        return self.session.request(
            method, self.url + DV + endpoint, headers=headers, timeout=10, **kwargs
        )

    def sdl(self, method: str, suffix: str = "", **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {TOKEN}", **kwargs.pop("headers", {})}
        return self.session.request(
            method, self.url + SDL + suffix, headers=headers, timeout=10, **kwargs
        )

    def init(
        self, query: str = CMD_QUERY, start_s: float = -1, end_s: float = 100, **body: Any
    ) -> str:
        start, end = window(start_s, end_s)
        payload = {"query": query, "fromDate": start, "toDate": end, "isVerbose": True, **body}
        response = self.dv("POST", "init-query", json=payload)
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["queryId"])

    def state(self, query_id: str) -> str:
        response = self.dv("GET", "query-status", params={"queryId": query_id})
        assert response.status_code == 200, response.text
        return str(response.json()["data"]["responseState"])

    def all_events(self, query_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        params: dict[str, Any] = {"queryId": query_id, "limit": limit}
        while True:
            response = self.dv("GET", "events", params=params)
            assert response.status_code == 200, response.text
            body = response.json()
            events += body["data"]
            cursor = body["pagination"]["nextCursor"]
            if not cursor:
                return events
            params["cursor"] = cursor

    def launch(
        self, filter_: str = "", start_s: float = 0, end_s: float = 100, **body: Any
    ) -> requests.Response:
        start, end = window(start_s, end_s)
        payload: dict[str, Any] = {
            "queryType": "LOG",
            "tenant": True,
            "startTime": start,
            "endTime": end,
            "log": {"filter": filter_, "ascending": True},
        }
        payload.update(body)
        return self.sdl("POST", json=payload)
