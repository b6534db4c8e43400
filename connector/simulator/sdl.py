"""SDL v2 long-running queries (`/sdl/v2/api/queries`): launch, poll, release.

Behaviour (sentinelone-api.md §6), with the simulator's choices where the reference is silent:

* POST validates the body like the console: `queryType` required (`Query type must be
  specified`), only `LOG` and `PQ` run here (others: `Unexpected value`), `tenant: true` with
  `accountIds` is a 400, and **neither gives 200 with zero matches** (the silent-empty trap).
  `startTime <= event.time < endTime`. The answer carries `X-Dataset-Query-Forward-Tag`.
* GET `/{id}?lastStepSeen=N` and DELETE need that header (400 without it, 404 with a wrong one).
  Steps advance over `status_delay_s`; with a delay of 0 the POST is already complete.
  Progress is sent as `totalSteps` (SentinelOne's own client reads it), `stepsTotal` (what
  OpenAEV reads) or both: `SdlSettings.progress`. Results (`SdlSettings.results`): `"end"` —
  `data` is `null` until `stepsCompleted` reaches the total, then holds everything (swagger,
  Scalyr clients); `"pieces"` — each answer holds the rows of the steps after `lastStepSeen`
  up to `stepsCompleted`, to be appended (purple-mcp's reading).
* PQ partial results (`SdlSettings.partial_above`): a PowerQuery matching more rows than that
  answers only that many and sets `partial_flag` (`partialResultsDueToTimeLimit`: true,
  `omittedEvents`: rows left out, or `discardedArrayItems`: rows left out).
* A query not polled for `expiry_s` (30 s, the swagger TTL) is gone: 404. DELETE answers 204.
* LOG: `data.matches[]` of `{"cursor", "values"}` (Cloud Funnel dicts), ordered by event time
  (newest first unless `log.ascending` is true: the default order may be descending), at
  most `min(log.limit (default 1000), sdl_limit, result_cap fault)`; `estimatedMatchCount`
  counts every match. Relaunching with `log.cursor` resumes at that match, inclusive.
* PQ: `data` = `{"columns": [{"name"}], "values": [[…]]}` (see `pq.py`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from connector.simulator.dataset import Dataset, Entry
from connector.simulator.faults import Decision
from connector.simulator.pq import compile_pq
from connector.simulator.query import QueryParseError, compile_sdl_filter
from connector.simulator.request import BadRequest, Request, parse_when
from connector.simulator.responses import Reply, json_reply, sdl_error
from connector.timeutil import to_epoch_ms

__all__ = ["FORWARD_TAG", "SdlApi", "SdlSettings"]

FORWARD_TAG = "X-Dataset-Query-Forward-Tag"
_QUERY_TYPES = ("PQ", "LOG", "TOP_FACETS", "FACET_VALUES", "PLOT", "DISTRIBUTION")
_STEPS = 4
PROGRESS_FIELDS = ("totalSteps", "stepsTotal", "both")
RESULT_MODES = ("end", "pieces")
PARTIAL_FLAGS = ("partialResultsDueToTimeLimit", "omittedEvents", "discardedArrayItems")


@dataclass(frozen=True)
class SdlSettings:
    """Timing and limits of the simulated long-running query engine."""

    status_delay_s: float = 1.0
    sdl_limit: int = 5000
    expiry_s: float = 30.0
    progress: str = "totalSteps"
    results: str = "end"
    partial_above: int | None = None
    partial_flag: str = "partialResultsDueToTimeLimit"

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("progress", self.progress, PROGRESS_FIELDS),
            ("results", self.results, RESULT_MODES),
            ("partial_flag", self.partial_flag, PARTIAL_FLAGS),
        ):
            if value not in allowed:
                raise ValueError(f"SDL {name} must be one of {', '.join(allowed)}, not {value!r}")


@dataclass
class _Query:
    id: str
    tag: str
    data: dict[str, Any]
    error: dict[str, Any] | None
    start_ns: int
    end_ns: int
    created: float
    last_poll: float


class SdlApi:
    """The three LRQ calls over one dataset. Thread-safe."""

    def __init__(
        self, data: Dataset, clock: Callable[[], float], settings: SdlSettings, *, seed: int = 0
    ) -> None:
        self._data = data
        self._clock = clock
        self.settings = settings
        self._seed = seed
        self._lock = threading.Lock()
        self._queries: dict[str, _Query] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        """Forget every query."""
        with self._lock:
            self._queries.clear()

    def open_queries(self) -> int:
        """Queries launched and not yet deleted or expired (an account budget in reality)."""
        now = self._clock()
        with self._lock:
            return sum(1 for q in self._queries.values() if now - q.last_poll <= self._ttl)

    @property
    def _ttl(self) -> float:
        return self.settings.expiry_s

    # -- POST ---------------------------------------------------------------------------

    def launch(self, request: Request, decision: Decision, result_cap: int | None) -> Reply:
        """POST /sdl/v2/api/queries."""
        try:
            body = request.json_object()
            start, end = _range(body)
            entries = self._data.between(to_epoch_ms(start), to_epoch_ms(end), include_start=True)
            data = self._run(body, entries if _scoped(body) else [], result_cap)
        except BadRequest as exc:
            return sdl_error(400, str(exc))
        except QueryParseError as exc:
            return sdl_error(400, str(exc))
        error = {"message": "Query execution failed (simulated)", "details": []}
        query = self._register(data, error if decision.fail else None, start, end)
        return json_reply(200, self._result(query), {FORWARD_TAG: query.tag})

    def _run(
        self,
        body: Mapping[str, Any],
        entries: list[Entry],
        result_cap: int | None,
    ) -> dict[str, Any]:
        kind = body.get("queryType")
        if kind is None:
            raise BadRequest("Query type must be specified")
        if kind not in _QUERY_TYPES:
            raise BadRequest(f"Unexpected value '{kind}'")
        if kind == "LOG":
            return self._run_log(_block(body, "log"), entries, result_cap)
        if kind == "PQ":
            return self._partial(_run_pq(_block(body, "pq"), [e.cf for e in entries]))
        raise BadRequest(f"queryType {kind} is not supported by the simulator (use LOG or PQ)")

    def _run_log(
        self,
        block: Mapping[str, Any],
        entries: list[Entry],
        result_cap: int | None,
    ) -> dict[str, Any]:
        text = block.get("filter", "")
        if not isinstance(text, str):
            raise BadRequest("log.filter must be a string")
        match = compile_sdl_filter(text) if text.strip() else (lambda _r: True)
        keyed = sorted(
            ((e.time_ms, str(e.cf.get("event.id", "")), e.cf) for e in entries),
            key=lambda item: (item[0], item[1]),
        )
        hits = [(t, i, r) for t, i, r in keyed if match(r)]
        ascending = block.get("ascending") is True
        resume = _read_cursor(block["cursor"]) if block.get("cursor") else None
        if resume is not None:
            # the cursor's match and those after it, in the order asked for
            hits = [
                h for h in hits if ((h[0], h[1]) >= resume if ascending else (h[0], h[1]) <= resume)
            ]
        if not ascending:
            hits.reverse()
        caps = (_log_limit(block), self.settings.sdl_limit, result_cap)
        cap = min(c for c in caps if c is not None)
        matches = [{"cursor": _make_cursor(t, i), "values": dict(r)} for t, i, r in hits[:cap]]
        return {"matches": matches, "estimatedMatchCount": len(hits)}

    def _partial(self, table: dict[str, Any]) -> dict[str, Any]:
        """Cut a PQ table at `partial_above` rows and flag it, as a console out of time does."""
        cap = self.settings.partial_above
        rows = table["values"]
        if cap is None or len(rows) <= cap:
            return table
        left_out = len(rows) - cap
        flag = self.settings.partial_flag
        value: Any = True if flag == "partialResultsDueToTimeLimit" else left_out
        if flag == "omittedEvents":
            value = float(left_out)
        return {**table, "values": rows[:cap], flag: value}

    def _register(
        self, data: dict[str, Any], error: dict[str, Any] | None, start: datetime, end: datetime
    ) -> _Query:
        now = self._clock()
        digest = hashlib.sha256(f"sdl:{self._seed}:{next(self._ids)}".encode()).hexdigest()
        query = _Query(
            id=digest[:24],
            tag=digest[24:40],
            data=data,
            error=error,
            start_ns=to_epoch_ms(start) * 1_000_000,
            end_ns=to_epoch_ms(end) * 1_000_000,
            created=now,
            last_poll=now,
        )
        with self._lock:
            self._queries[query.id] = query
        return query

    # -- GET / DELETE -------------------------------------------------------------------

    def poll(self, request: Request, query_id: str, decision: Decision) -> Reply:
        """GET /sdl/v2/api/queries/{id}?lastStepSeen=N."""
        if request.params.get("lastStepSeen") is None:
            return sdl_error(400, "lastStepSeen is required")
        found = self._find(request, query_id, decision)
        if isinstance(found, Reply):
            return found
        found.last_poll = self._clock()
        return json_reply(200, self._result(found, _int(request.params.get("lastStepSeen"))))

    def delete(self, request: Request, query_id: str, decision: Decision) -> Reply:
        """DELETE /sdl/v2/api/queries/{id}: release the query; 204."""
        found = self._find(request, query_id, decision)
        if isinstance(found, Reply):
            return found
        with self._lock:
            self._queries.pop(found.id, None)
        return Reply(204)

    def _find(self, request: Request, query_id: str, decision: Decision) -> _Query | Reply:
        tag = request.header(FORWARD_TAG)
        if not tag:
            return sdl_error(400, f"missing {FORWARD_TAG} header")
        with self._lock:
            query = self._queries.get(query_id)
            expired = query is not None and (
                decision.expire or self._clock() - query.last_poll > self._ttl
            )
            if expired:
                self._queries.pop(query_id, None)
        if query is None or expired or query.tag != tag:
            return sdl_error(404, f"query {query_id} not found")
        return query

    def _result(self, query: _Query, last_seen: int = 0) -> dict[str, Any]:
        delay = self.settings.status_delay_s
        elapsed = self._clock() - query.created
        done = delay <= 0 or elapsed >= delay
        completed = _STEPS if done else int(_STEPS * elapsed / delay)
        started = done or elapsed > 0
        total = _STEPS if started else 0
        names = (
            ("totalSteps", "stepsTotal")
            if self.settings.progress == "both"
            else (self.settings.progress,)
        )
        failed = query.error is not None
        if self.settings.results == "pieces" and not failed:
            data: dict[str, Any] | None = _piece(query.data, last_seen, completed, done)
        else:
            data = query.data if done and not failed else None
        return {
            "id": query.id,
            "stepsCompleted": completed,
            **dict.fromkeys(names, total),
            "cpuUsage": 1_250_000 * completed,
            "resolvedTimeRange": {"start": query.start_ns, "end": query.end_ns},
            "data": data,
            "error": query.error if done else None,
        }


def _piece(data: dict[str, Any], last_seen: int, completed: int, done: bool) -> dict[str, Any]:
    """The rows of steps `last_seen + 1 .. completed` (row i belongs to step i * steps // n
    + 1); everything else in `data` (columns, counts, partial flags) comes with the last."""
    key = "matches" if "matches" in data else "values"
    rows = data.get(key) or []
    count = len(rows)
    first = max(0, last_seen)
    piece = [r for i, r in enumerate(rows) if first < i * _STEPS // max(count, 1) + 1 <= completed]
    extra = {k: v for k, v in data.items() if k != key and (done or k == "columns")}
    return {**extra, key: piece}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _range(body: Mapping[str, Any]) -> tuple[datetime, datetime]:
    start = parse_when(body.get("startTime"), "startTime")
    end = parse_when(body.get("endTime"), "endTime")
    if end < start:
        raise BadRequest("endTime must not be earlier than startTime")
    return start, end


def _scoped(body: Mapping[str, Any]) -> bool:
    """True when the body names a scope; raise on the contradictory one (§6.2)."""
    tenant = body.get("tenant")
    accounts = body.get("accountIds")
    if tenant is True and accounts:
        raise BadRequest("tenant=false should be used when querying accountIds")
    return tenant is True or bool(accounts)


def _block(body: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    block = body.get(name)
    if not isinstance(block, Mapping):
        raise BadRequest(f"'{name}' must be an object for queryType {body.get('queryType')}")
    return block


def _log_limit(block: Mapping[str, Any]) -> int:
    limit = block.get("limit", 1000)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadRequest("log.limit must be a positive integer")
    return limit


def _run_pq(block: Mapping[str, Any], records: list[Mapping[str, Any]]) -> dict[str, Any]:
    text = block.get("query")
    if not isinstance(text, str):
        raise BadRequest("pq.query must be a string")
    table = compile_pq(text).run(records)
    return {"columns": [{"name": c} for c in table.columns], "values": table.rows}


def _make_cursor(time_ms: int, event_id: str) -> str:
    raw = json.dumps([time_ms, event_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: Any) -> tuple[int, str]:
    try:
        raw = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4))
        time_ms, event_id = json.loads(raw)
        return int(time_ms), str(event_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise BadRequest(f"invalid log.cursor {cursor!r}") from exc
