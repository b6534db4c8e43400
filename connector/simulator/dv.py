"""Deep Visibility v2.1 (`/web/api/v2.1/dv/*`): init-query, query-status, events, cancel-query.

Behaviour (sentinelone-api.md §3), with the simulator's choices where the reference is silent:

* init-query validates the body (`query`, `fromDate`, `toDate` required; dates ISO or epoch ms;
  `limit` 1–100000; `queryType` only `["events"]`; `siteIds`/`accountIds` filter), compiles the
  S1QL (400 `4000040` "could not parse query" otherwise), and selects events with
  `fromDate < eventTime <= toDate`. Results are capped at `min(limit, query_cap, result_cap
  fault)`; `totalItems` reports the capped count. With `isVerbose` false, non-priority fields
  (uids, storylines, parents, hashes) are left out, as the real console does since 2022.
* query-status walks `PLANNING` → `RUNNING` → `FINISHED` (`EMPTY_RESULTS` with no events,
  `FAILED` under the `fail` fault) over `status_delay_s`; a query idle for `expiry_s`
  answers `QUERY_EXPIRED` with progress 100; unknown ids get 404 `4040010`.
* events pages with an opaque cursor (`limit` 1–1000, else the verbatim 400 `4000010`),
  newest `createdAt` first (the API gives no ordering promise); paging a query that is not
  finished is a 400, an expired, cancelled, failed or unknown one a 404 `4040010`.
* cancel-query answers `{"data": {"success": true}}` and the query reads `QUERY_CANCELLED`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.mapping.fields import DV_TO_CF
from connector.simulator.convert import DV_EXTRA_KEYS
from connector.simulator.dataset import Dataset
from connector.simulator.faults import Decision
from connector.simulator.query import QueryParseError, compile_s1ql
from connector.simulator.request import BadRequest, Request, parse_when
from connector.simulator.responses import (
    BAD_LIMIT,
    COULD_NOT_PARSE,
    QUERY_NOT_FOUND,
    VALIDATION,
    Reply,
    dv_error,
    json_reply,
)
from connector.timeutil import to_epoch_ms

__all__ = ["DvApi", "DvSettings"]

_IN_PROGRESS = ("PLANNING", "RUNNING")
_NON_PRIORITY = ("Uid", "StorylineId", "Parent", "Sha1", "Sha256", "Md5", "storyline")


@dataclass(frozen=True)
class DvSettings:
    """Timing and limits of the simulated DV engine."""

    status_delay_s: float = 1.0
    query_cap: int = 20000
    expiry_s: float = 300.0
    retention_days: int | None = 14


@dataclass
class _Query:
    id: str
    results: list[Mapping[str, Any]]
    created: float
    last_seen: float
    fail: bool = False
    cancelled: bool = False
    expired: bool = False
    stamp: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


class DvApi:
    """The four DV endpoints over one dataset. Thread-safe."""

    def __init__(
        self,
        data: Dataset,
        clock: Callable[[], float],
        settings: DvSettings,
        *,
        seed: int = 0,
        extra_fields: Collection[str] = (),
    ) -> None:
        self._data = data
        self._clock = clock
        self.settings = settings
        self._seed = seed
        self._extra_fields = set(extra_fields)
        self._lock = threading.Lock()
        self._queries: dict[str, _Query] = {}
        self._ids = itertools.count(1)

    def reset(self) -> None:
        """Forget every query."""
        with self._lock:
            self._queries.clear()

    # -- init-query ---------------------------------------------------------------------

    def init_query(self, request: Request, decision: Decision, result_cap: int | None) -> Reply:
        """POST /dv/init-query."""
        try:
            body = request.json_object()
            predicate, rows = self._select(body)
            limit = self._limit(body)
        except BadRequest as exc:
            return dv_error(VALIDATION, str(exc))
        except QueryParseError as exc:
            return dv_error(COULD_NOT_PARSE, str(exc))
        cap = min(c for c in (limit, self.settings.query_cap, result_cap) if c is not None)
        verbose = body.get("isVerbose") is True
        matched = [_shape(row, verbose) for row in rows if predicate(row)]
        matched.sort(key=lambda r: str(r.get("createdAt", "")), reverse=True)
        query = self._register(matched[:cap], fail=decision.fail)
        return json_reply(200, {"data": {"queryId": query.id, "queryModeInfo": _mode(query)}})

    def _select(self, body: Mapping[str, Any]) -> tuple[Callable[[Any], bool], list[Any]]:
        query = body.get("query")
        if not isinstance(query, str) or not query.strip():
            raise BadRequest("query is required")
        start = parse_when(body.get("fromDate"), "fromDate")
        end = parse_when(body.get("toDate"), "toDate")
        if end < start:
            raise BadRequest("toDate must not be earlier than fromDate")
        self._check_retention(start)
        self._check_query_type(body.get("queryType"))
        predicate = compile_s1ql(query, fields=self._known_fields())
        scope = _scope(body)
        entries = self._data.between(to_epoch_ms(start), to_epoch_ms(end), include_start=False)
        return predicate, [e.dv for e in entries if scope(e.cf)]

    def _check_retention(self, start: datetime) -> None:
        days = self.settings.retention_days
        if days is not None and start < datetime.now(UTC) - timedelta(days=days):
            raise BadRequest(f"fromDate is too old: your account retains data for {days} days")

    @staticmethod
    def _check_query_type(value: Any) -> None:
        if value is not None and value != ["events"]:
            raise BadRequest(f'queryType must be ["events"], not {json.dumps(value)}')

    @staticmethod
    def _limit(body: Mapping[str, Any]) -> int | None:
        limit = body.get("limit")
        if limit is None:
            return None
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100000:
            raise BadRequest("limit must be an integer between 1 and 100000")
        return limit

    def _known_fields(self) -> set[str]:
        return set(DV_TO_CF) | DV_EXTRA_KEYS | self._data.field_names() | self._extra_fields

    def _register(self, results: list[Mapping[str, Any]], *, fail: bool) -> _Query:
        now = self._clock()
        digest = hashlib.sha256(f"{self._seed}:{next(self._ids)}".encode()).hexdigest()
        query = _Query("q" + digest[:31], results, created=now, last_seen=now, fail=fail)
        with self._lock:
            self._queries[query.id] = query
        return query

    # -- query-status -------------------------------------------------------------------

    def query_status(self, request: Request, decision: Decision) -> Reply:
        """GET /dv/query-status?queryId=…"""
        query = self._touch(request.params.get("queryId"), decision)
        if query is None:
            return dv_error(QUERY_NOT_FOUND)
        state, progress = self._state(query)
        data = {
            "progressStatus": progress,
            "queryModeInfo": _mode(query),
            "responseState": state,
            "responseError": "Query failed: simulated engine error" if state == "FAILED" else None,
            "warnings": None,
        }
        return json_reply(200, {"data": data})

    def _touch(self, query_id: str | None, decision: Decision) -> _Query | None:
        with self._lock:
            query = self._queries.get(query_id or "")
        if query is None:
            return None
        now = self._clock()
        if decision.expire or now - query.last_seen > self.settings.expiry_s:
            query.expired = True
        if not query.expired:
            query.last_seen = now
        return query

    def _state(self, query: _Query) -> tuple[str, int]:
        if query.cancelled:
            return "QUERY_CANCELLED", 100
        if query.expired:
            return "QUERY_EXPIRED", 100
        delay = self.settings.status_delay_s
        elapsed = self._clock() - query.created
        if elapsed < delay:
            state = "PLANNING" if elapsed < delay / 4 else "RUNNING"
            return state, min(99, int(100 * elapsed / delay))
        if query.fail:
            return "FAILED", 100
        return ("FINISHED" if query.results else "EMPTY_RESULTS"), 100

    # -- events -------------------------------------------------------------------------

    def events(self, request: Request, decision: Decision) -> Reply:
        """GET /dv/events?queryId=…&limit=…&cursor=…"""
        try:
            limit = _int_param(request.params, "limit", 10)
            skip = _int_param(request.params, "skip", 0)
        except BadRequest as exc:
            return dv_error(VALIDATION, str(exc))
        if not 1 <= limit <= 1000:
            return dv_error(BAD_LIMIT)
        if not 0 <= skip <= 1000:
            return dv_error(VALIDATION, "skip must be between 0 and 1000")
        query = self._touch(request.params.get("queryId"), decision)
        if query is None:
            return dv_error(QUERY_NOT_FOUND)
        state, _ = self._state(query)
        if state in _IN_PROGRESS:
            return dv_error(VALIDATION, f"query is not finished yet (responseState {state})")
        if state not in ("FINISHED", "EMPTY_RESULTS"):
            return dv_error(QUERY_NOT_FOUND)
        return self._page(query, request.params.get("cursor"), limit, skip)

    def _page(self, query: _Query, cursor: str | None, limit: int, skip: int) -> Reply:
        try:
            offset = _read_cursor(cursor, query.id) if cursor else skip
        except BadRequest as exc:
            return dv_error(VALIDATION, str(exc))
        page = query.results[offset : offset + limit]
        end = offset + len(page)
        next_cursor = _make_cursor(query.id, end) if end < len(query.results) else None
        pagination = {"nextCursor": next_cursor, "totalItems": len(query.results)}
        return json_reply(200, {"data": page, "pagination": pagination})

    # -- cancel-query -------------------------------------------------------------------

    def cancel(self, request: Request, decision: Decision) -> Reply:
        """POST /dv/cancel-query {"queryId": …}"""
        try:
            body = request.json_object()
        except BadRequest as exc:
            return dv_error(VALIDATION, str(exc))
        query_id = body.get("queryId")
        if not isinstance(query_id, str):
            return dv_error(VALIDATION, "queryId is required")
        query = self._touch(query_id, decision)
        if query is None:
            return dv_error(QUERY_NOT_FOUND)
        query.cancelled = True
        return json_reply(200, {"data": {"success": True}})

    def open_queries(self) -> int:
        """Queries neither cancelled nor expired (for stats)."""
        with self._lock:
            return sum(1 for q in self._queries.values() if not (q.cancelled or q.expired))


def _mode(query: _Query) -> dict[str, str]:
    return {"lastActivatedAt": query.stamp, "mode": "scalyr"}


def _shape(row: Mapping[str, Any], verbose: bool) -> Mapping[str, Any]:
    if verbose:
        return row
    return {k: v for k, v in row.items() if not any(part in k for part in _NON_PRIORITY)}


def _scope(body: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    sites = _id_list(body, "siteIds")
    accounts = _id_list(body, "accountIds")

    def in_scope(record: Mapping[str, Any]) -> bool:
        site_ok = sites is None or str(record.get("site.id")) in sites
        return site_ok and (accounts is None or str(record.get("account.id")) in accounts)

    return in_scope


def _id_list(body: Mapping[str, Any], name: str) -> set[str] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, list) or not 1 <= len(value) <= 500:
        raise BadRequest(f"{name} must be a list of 1 to 500 ids")
    return {str(v) for v in value}


def _int_param(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequest(f"{name} must be an integer, not {raw!r}") from exc


def _make_cursor(query_id: str, offset: int) -> str:
    raw = json.dumps({"q": query_id, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _read_cursor(cursor: str, query_id: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        offset = int(data["o"])
        owner = data["q"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"invalid cursor {cursor!r}") from exc
    if owner != query_id or offset < 0:
        raise BadRequest(f"cursor {cursor!r} does not belong to query {query_id}")
    return offset
