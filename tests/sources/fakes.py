"""Test doubles for the console sources: a fake clock and small stateful fake APIs.

The fake APIs are `responses` callbacks, so the code under test runs its real HTTP layer
(session, headers, retry policy) and the test reads the exact call sequence afterwards
from `rsps.calls`. `inject(endpoint, ...)` queues scripted answers (status, headers, body)
or exceptions that are served before the fake's normal behaviour.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from connector.timeutil import format_utc, to_datetime

BASE = "https://console.example.test"
DV = BASE + "/web/api/v2.1/dv"
SDL = BASE + "/sdl/v2/api/queries"
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)

Answer = tuple[int, dict[str, str], Any] | Exception | None
"""A scripted reply: (status, headers, body), an exception to raise, or None = normal."""


class FakeTime:
    """A monotonic clock, a wall clock and a sleep that only moves them forward."""

    def __init__(self, wall: datetime = T0 + timedelta(hours=1)) -> None:
        self.now = 1000.0
        self._wall0 = wall.timestamp() - self.now
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wall(self) -> float:
        return self._wall0 + self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += seconds


def dv_event(n: int, at: datetime, **extra: Any) -> dict[str, Any]:
    """A small DV Process Creation event with id `str(n)`."""
    return {
        "id": str(n),
        "eventType": "Process Creation",
        "eventTime": format_utc(at),
        "tgtProcName": "cmd.exe",
        **extra,
    }


def calls(rsps: responses.RequestsMock) -> list[str]:
    """The call sequence as `METHOD last-path-part` (`POST init-query`, `GET events`)."""
    out = []
    for call in rsps.calls:
        path = urlsplit(call.request.url or "").path
        out.append(f"{call.request.method} {path.rsplit('/', 1)[-1]}")
    return out


def body_of(call: Any) -> Any:
    return json.loads(call.request.body) if call.request.body else None


def _reply(answer: Answer) -> Any:
    assert answer is not None
    if isinstance(answer, Exception):
        return answer
    status, headers, body = answer
    text = body if isinstance(body, str | bytes) else json.dumps(body)
    return (status, headers, text)


@dataclass
class _Query:
    events: list[dict[str, Any]]
    total: int
    states: deque[str]


@dataclass
class FakeDV:
    """A Deep Visibility console holding `events`; honours (fromDate, toDate] and the cap.

    `states` is the responseState script each new query walks through (the last repeats).
    `report_total` False drops `totalItems` from pagination.
    """

    rsps: responses.RequestsMock
    events: list[dict[str, Any]]
    states: Iterable[str] = ("RUNNING", "FINISHED")
    page_size: int | None = None
    report_total: bool = True
    init_extra: dict[str, Any] = field(default_factory=dict)
    queries: dict[str, _Query] = field(default_factory=dict)
    injected: dict[str, deque[Answer]] = field(default_factory=lambda: defaultdict(deque))
    state_scripts: deque[list[str]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        for method, name, handler in (
            ("POST", "init-query", self._init),
            ("GET", "query-status", self._status),
            ("GET", "events", self._events),
            ("POST", "cancel-query", self._cancel),
        ):
            self.rsps.add_callback(
                method, f"{DV}/{name}", callback=self._wrap(name, handler), content_type=None
            )

    def inject(self, endpoint: str, *answers: Answer) -> None:
        self.injected[endpoint].extend(answers)

    def script_states(self, *scripts: list[str]) -> None:
        """State scripts for the next queries, in launch order (then `states` again)."""
        self.state_scripts.extend(scripts)

    def _wrap(self, name: str, handler: Callable[[requests.PreparedRequest], Answer]) -> Any:
        def callback(request: requests.PreparedRequest) -> Any:
            queue = self.injected.get(name)
            answer = queue.popleft() if queue else None
            return _reply(handler(request) if answer is None else answer)

        return callback

    def _init(self, request: requests.PreparedRequest) -> Answer:
        body = json.loads(request.body or b"{}")
        start, end = to_datetime(body["fromDate"]), to_datetime(body["toDate"])
        assert start is not None and end is not None
        hits = [e for e in self.events if start < _time(e) <= end]
        query_id = f"q{len(self.queries) + 1}"
        script = self.state_scripts.popleft() if self.state_scripts else list(self.states)
        self.queries[query_id] = _Query(hits[: body["limit"]], len(hits), deque(script))
        data = {"queryId": query_id, "queryModeInfo": {"mode": "scalyr"}}
        return 200, {}, {"data": data, **self.init_extra}

    def _status(self, request: requests.PreparedRequest) -> Answer:
        query = self.queries[_param(request, "queryId")]
        state = query.states.popleft() if len(query.states) > 1 else query.states[0]
        return 200, {}, {"data": {"responseState": state, "progressStatus": 50}}

    def _events(self, request: requests.PreparedRequest) -> Answer:
        query = self.queries.get(_param(request, "queryId"))
        if query is None:
            return 404, {}, {"errors": [{"code": 4040010, "detail": "QueryId not found"}]}
        size = min(int(_param(request, "limit")), self.page_size or 1000)
        offset = int(_param(request, "cursor") or 0)
        page = query.events[offset : offset + size]
        more = offset + size < len(query.events)
        pagination: dict[str, Any] = {"nextCursor": str(offset + size) if more else None}
        if self.report_total:
            pagination["totalItems"] = query.total
        return 200, {}, {"data": page, "pagination": pagination}

    def _cancel(self, request: requests.PreparedRequest) -> Answer:
        return 200, {}, {"data": {"success": True}}


def _param(request: requests.PreparedRequest, name: str) -> str:
    values = parse_qs(urlsplit(request.url or "").query).get(name, [""])
    return values[0]


def _time(event: Mapping[str, Any]) -> datetime:
    moment = to_datetime(event.get("eventTime") or event.get("event.time"))
    assert moment is not None
    return moment


@dataclass
class FakeSDL:
    """An SDL LRQ endpoint: LOG (`matches`) and PQ (`columns`/`values`) over CF records.

    Queries need `steps` polls to finish; GET/DELETE without the forward tag get 400.
    `progress` names the step-count field(s) sent: "stepsTotal", "totalSteps" or "both".
    `pieces`: each poll carries only the rows of the step it completed (purple-mcp's reading)
    instead of everything in the final answer. `partial_above`: a query matching more rows
    than this answers only that many, flagged `partial_flag` (PowerQuery's partial result).
    """

    rsps: responses.RequestsMock
    records: list[dict[str, Any]]
    steps: int = 2
    forward_tag: str = "fwd-7"
    injected: dict[str, deque[Answer]] = field(default_factory=lambda: defaultdict(deque))
    launched: list[dict[str, Any]] = field(default_factory=list)
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    polls: dict[str, int] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    progress: str = "stepsTotal"
    pieces: bool = False
    partial_above: int | None = None
    partial_flag: tuple[str, Any] = ("partialResultsDueToTimeLimit", True)

    def __post_init__(self) -> None:
        item = re.compile(re.escape(SDL) + r"/[^/?]+")
        self.rsps.add_callback("POST", SDL, callback=self._wrap("POST", self._post))
        self.rsps.add_callback("GET", item, callback=self._wrap("GET", self._get))
        self.rsps.add_callback("DELETE", item, callback=self._wrap("DELETE", self._delete))

    def inject(self, method: str, *answers: Answer) -> None:
        self.injected[method].extend(answers)

    def _wrap(self, name: str, handler: Callable[[requests.PreparedRequest], Answer]) -> Any:
        def callback(request: requests.PreparedRequest) -> Any:
            queue = self.injected.get(name)
            answer = queue.popleft() if queue else None
            return _reply(handler(request) if answer is None else answer)

        return callback

    def _post(self, request: requests.PreparedRequest) -> Answer:
        body = json.loads(request.body or b"{}")
        self.launched.append(body)
        start, end = to_datetime(body["startTime"]), to_datetime(body["endTime"])
        assert start is not None and end is not None
        hits = [r for r in self.records if start <= _time(r) < end]
        query_id = f"lrq{len(self.launched)}"
        self.results[query_id] = self._result(body, hits)
        self.polls[query_id] = 0
        doc = {"id": query_id, "stepsCompleted": 0, **self._total(0), "cpuUsage": 0, "data": None}
        return 200, {"X-Dataset-Query-Forward-Tag": self.forward_tag}, doc

    def _total(self, total: int) -> dict[str, int]:
        names = ("stepsTotal", "totalSteps") if self.progress == "both" else (self.progress,)
        return dict.fromkeys(names, total)

    def _result(self, body: Mapping[str, Any], hits: list[dict[str, Any]]) -> dict[str, Any]:
        partial = self.partial_above is not None and len(hits) > self.partial_above
        if partial:
            hits = hits[: self.partial_above]
        result = self._table(body, hits)
        if partial:
            result[self.partial_flag[0]] = self.partial_flag[1]
        return result

    def _table(self, body: Mapping[str, Any], hits: list[dict[str, Any]]) -> dict[str, Any]:
        if body["queryType"] == "LOG":
            limit = body["log"]["limit"]
            matches = [{"cursor": f"c{i}", "values": r} for i, r in enumerate(hits[:limit])]
            return {"matches": matches, "estimatedMatchCount": len(hits)}
        limit = int(body["pq"]["query"].rsplit("limit", 1)[1])
        columns = sorted({k for r in hits for k in r})
        values = [[r.get(c) for c in columns] for r in hits[:limit]]
        return {"columns": [{"name": c} for c in columns], "values": values}

    def _get(self, request: requests.PreparedRequest) -> Answer:
        query_id = _query_id(request)
        if request.headers.get("X-Dataset-Query-Forward-Tag") != self.forward_tag:
            return 400, {}, {"message": "missing forward tag"}
        if query_id not in self.results or query_id in self.deleted:
            return 404, {}, {"message": "query not found"}
        self.polls[query_id] += 1
        done = self.polls[query_id] >= self.steps
        doc = {
            "id": query_id,
            "stepsCompleted": self.polls[query_id],
            **self._total(self.steps),
            "data": self.results[query_id] if done else None,
            "error": None,
        }
        if self.pieces:
            doc["data"] = self._piece(self.results[query_id], self.polls[query_id], done)
        return 200, {}, doc

    def _piece(self, result: dict[str, Any], step: int, done: bool) -> dict[str, Any]:
        """Step `step`'s share of the rows (flags only in the last piece)."""
        key = "matches" if "matches" in result else "values"
        rows = result[key]
        size = -(-len(rows) // self.steps) if rows else 0
        piece = {k: v for k, v in result.items() if k != key and (done or k == "columns")}
        piece[key] = rows[(step - 1) * size : step * size]
        return piece

    def _delete(self, request: requests.PreparedRequest) -> Answer:
        if request.headers.get("X-Dataset-Query-Forward-Tag") != self.forward_tag:
            return 400, {}, {"message": "missing forward tag"}
        self.deleted.append(_query_id(request))
        return 204, {}, ""


def _query_id(request: requests.PreparedRequest) -> str:
    return urlsplit(request.url or "").path.rsplit("/", 1)[-1]
