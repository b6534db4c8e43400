"""The simulated console without sockets: routing, authentication, faults, admin, statistics.

`Console.handle(Request) -> Reply` is the whole server; `server.py` only moves bytes. Order
per API request: count it, draw its faults (a dropped connection, 5xx or 429 happens before
the console looks at the credentials, as a load balancer would), check auth, then run the
endpoint.

Admin endpoints (never faulted; unauthenticated only when the server listens on loopback,
otherwise they need the API token like any other call):

| call                    | body / answer                                                   |
|-------------------------|-----------------------------------------------------------------|
| `GET /_sim/faults`      | the current faults as JSON (`Faults.to_dict`)                   |
| `POST /_sim/faults`     | JSON object of fault settings (`Faults.from_mapping`); replaces all |
| `GET /_sim/stats`       | calls by endpoint, statuses, faults injected, open queries      |
| `POST /_sim/reset`      | zero the statistics, forget queries, clear faults               |
| `POST /_sim/records`    | NDJSON or a JSON list of Cloud Funnel records to add            |
"""

from __future__ import annotations

import hmac
import itertools
import json
import threading
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from connector.simulator.dataset import Dataset
from connector.simulator.dv import DvApi
from connector.simulator.faults import Decision, FaultInjector, Faults
from connector.simulator.request import Request
from connector.simulator.responses import (
    AUTH_FAILED,
    BAD_GATEWAY,
    SERVER_ERROR,
    TOO_MANY,
    UNAVAILABLE,
    VALIDATION,
    Reply,
    dv_error,
    json_reply,
    sdl_error,
)
from connector.simulator.scenario import parse_records
from connector.simulator.sdl import SdlApi

__all__ = ["DEPRECATION", "Console", "LogEntry", "Stats"]

DV_PREFIX = "/web/api/v2.1/"
SDL_QUERIES = "/sdl/v2/api/queries"
DEPRECATION = {
    "alternative": "/sdl/v2/api/queries",
    "deprecation_date": "2026-02-15",
    "message": "This Endpoint is deprecated and will be removed on February 15, 2027. "
    "Please use /sdl/v2/api/queries instead.",
    "sunset_date": "2027-02-15",
}
_NOT_FOUND = (404, 4040000, "Not Found", "Not found")
_FAILURES = {
    "http_500": lambda f: dv_error(SERVER_ERROR),
    "http_502": lambda f: dv_error(BAD_GATEWAY),
    "http_503": lambda f: dv_error(UNAVAILABLE),
    "http_429": lambda f: _with(dv_error(TOO_MANY), {"Retry-After": str(f.retry_after_s)}),
    "http_429_bare": lambda f: dv_error(TOO_MANY),
    "drop": lambda f: Reply(0, drop=True),
}


def _with(reply: Reply, headers: dict[str, str]) -> Reply:
    reply.headers.update(headers)
    return reply


@dataclass(frozen=True)
class LogEntry:
    """One answered request, for tests to assert on. `status` 0 = connection dropped;
    `fault` names the injected faults that took effect, comma-separated."""

    method: str
    path: str
    label: str
    status: int
    fault: str | None


class Stats:
    """Counters by endpoint label, status and fault, plus a bounded request log."""

    def __init__(self, log_size: int = 10000) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.statuses: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.log: deque[LogEntry] = deque(maxlen=log_size)

    def record(self, request: Request, label: str, reply: Reply, faults: list[str]) -> None:
        status = 0 if reply.drop else reply.status
        with self._lock:
            self.calls[label] += 1
            self.statuses[f"{label} {status}"] += 1
            self.faults.update(faults)
            fault = ",".join(faults) or None
            self.log.append(LogEntry(request.method, request.path, label, status, fault))

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.statuses.clear()
            self.faults.clear()
            self.log.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "statuses": dict(self.statuses),
                "faults": dict(self.faults),
                "requests": len(self.log),
            }


Handler = Callable[[Request, Decision], Reply]


class Console:
    """Routes requests to the DV and SDL engines, with auth, faults and statistics."""

    def __init__(
        self,
        data: Dataset,
        dv: DvApi,
        sdl: SdlApi,
        injector: FaultInjector,
        *,
        token: str,
        clock: Callable[[], float],
        admin_open: bool,
        deprecation_notice: bool = False,
    ) -> None:
        self.data, self.dv, self.sdl, self.injector = data, dv, sdl, injector
        self._clock = clock
        self._token = token
        self._admin_open = admin_open
        self._deprecation = deprecation_notice
        self.stats = Stats()
        self._rqid = itertools.count(1)

    def handle(self, request: Request) -> Reply:
        """Answer one request (never raises for bad input: that is a 4xx)."""
        admin = request.path.startswith("/_sim/")
        reply = self._admin(request) if admin else self._api(request)
        reply.headers.setdefault("X-RQID", f"sim-{next(self._rqid):08d}")
        return reply

    # -- API ----------------------------------------------------------------------------

    def _api(self, request: Request) -> Reply:
        route = self._route(request)
        if route is None:
            return dv_error(_NOT_FOUND, f"no route for {request.method} {request.path}")
        label, scheme, handler = route
        decision = self.injector.decide(label)
        reply = self._failure(decision) or self._authorised(request, scheme, handler, decision)
        if decision.delay_s and not reply.drop:
            reply.delay_s = decision.delay_s
        self.stats.record(request, label, reply, _effects(label, decision))
        if self._deprecation and label.startswith("dv/") and reply.status == 200:
            reply = _add_notice(reply)
        return reply

    def _failure(self, decision: Decision) -> Reply | None:
        if decision.failure is None:
            return None
        return _FAILURES[decision.failure](self.injector.faults)

    def _authorised(
        self, request: Request, scheme: str, handler: Handler, decision: Decision
    ) -> Reply:
        problem = self._auth_problem(request.header("Authorization") or "", scheme)
        return problem or handler(request, decision)

    def _auth_problem(self, header: str, scheme: str) -> Reply | None:
        given_scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if scheme == "Bearer" and credential and given_scheme != "Bearer":
            # What LRQ answers to an ApiToken header (sentinelone-api.md §2.1): a 500. Only
            # the scheme is echoed (a header without one gets a plain 401, never token text).
            return sdl_error(
                500, f'Header must start with Bearer, but actually starts with "{given_scheme[:6]}"'
            )
        same = hmac.compare_digest(credential.encode(), self._token.encode())
        if given_scheme != scheme or not same:
            return dv_error(AUTH_FAILED)
        return None

    def _route(self, request: Request) -> tuple[str, str, Handler] | None:
        method, path = request.method, request.path.rstrip("/")
        if path.startswith(DV_PREFIX):
            return self._dv_route(method, path[len(DV_PREFIX) :])
        if path == SDL_QUERIES and method == "POST":
            return "sdl/queries:POST", "Bearer", self._sdl_launch
        if path.startswith(SDL_QUERIES + "/") and method in ("GET", "DELETE"):
            query_id = path[len(SDL_QUERIES) + 1 :]
            if method == "GET":
                return "sdl/queries:GET", "Bearer", lambda r, d: self.sdl.poll(r, query_id, d)
            return "sdl/queries:DELETE", "Bearer", lambda r, d: self.sdl.delete(r, query_id, d)
        return None

    def _dv_route(self, method: str, rest: str) -> tuple[str, str, Handler] | None:
        routes: dict[tuple[str, str], Handler] = {
            ("POST", "dv/init-query"): self._dv_init,
            ("GET", "dv/query-status"): self.dv.query_status,
            ("GET", "dv/events"): self.dv.events,
            ("POST", "dv/cancel-query"): self.dv.cancel,
            ("GET", "system/status"): lambda r, d: json_reply(200, {"data": {"health": "ok"}}),
            ("POST", "users/api-token-details"): self._token_details,
        }
        handler = routes.get((method, rest))
        return None if handler is None else (rest, "ApiToken", handler)

    def _dv_init(self, request: Request, decision: Decision) -> Reply:
        if not self.injector.init_query_allowed(self._clock()):
            return dv_error(TOO_MANY, "init-query rate limit exceeded for this token")
        return self.dv.init_query(request, decision, self.injector.faults.result_cap)

    def _sdl_launch(self, request: Request, decision: Decision) -> Reply:
        return self.sdl.launch(request, decision, self.injector.faults.result_cap)

    @staticmethod
    def _token_details(request: Request, decision: Decision) -> Reply:
        now = datetime.now(UTC)
        data = {
            "createdAt": (now - timedelta(days=30)).isoformat(timespec="seconds"),
            "expiresAt": (now + timedelta(days=150)).isoformat(timespec="seconds"),
        }
        return json_reply(200, {"data": data})

    # -- admin --------------------------------------------------------------------------

    def _admin(self, request: Request) -> Reply:
        if not self._admin_open and self._auth_problem(
            request.header("Authorization") or "", "ApiToken"
        ):
            return dv_error(AUTH_FAILED)
        key = (request.method, request.path.rstrip("/"))
        if key == ("GET", "/_sim/faults"):
            return json_reply(200, self.injector.faults.to_dict())
        if key == ("POST", "/_sim/faults"):
            return self._set_faults(request)
        if key == ("GET", "/_sim/stats"):
            return json_reply(200, self.snapshot())
        if key == ("POST", "/_sim/reset"):
            self.reset()
            return json_reply(200, {"reset": True})
        if key == ("POST", "/_sim/records"):
            return self._add_records(request)
        return dv_error(_NOT_FOUND, f"no admin route for {request.method} {request.path}")

    def _set_faults(self, request: Request) -> Reply:
        try:
            faults = Faults.from_mapping(json.loads(request.body or b"{}"))
        except (ValueError, TypeError, AttributeError) as exc:
            return dv_error(VALIDATION, f"bad faults: {exc}")
        self.injector.set(faults)
        return json_reply(200, faults.to_dict())

    def _add_records(self, request: Request) -> Reply:
        try:
            records = parse_records(request.body.decode("utf-8"), "request body")
            added = self.data.add(records)
        except (UnicodeDecodeError, ValueError) as exc:
            return dv_error(VALIDATION, f"bad records: {exc}")
        return json_reply(200, {"added": added, "records": len(self.data)})

    def snapshot(self) -> dict[str, Any]:
        """Statistics plus open query counts and the record count."""
        out = self.stats.snapshot()
        out["open_queries"] = {"dv": self.dv.open_queries(), "sdl": self.sdl.open_queries()}
        out["records"] = len(self.data)
        return out

    def reset(self) -> None:
        """Zero statistics, forget queries, clear faults."""
        self.stats.reset()
        self.dv.reset()
        self.sdl.reset()
        self.injector.set(Faults())


_LAUNCHES = ("dv/init-query", "sdl/queries:POST")


def _effects(label: str, decision: Decision) -> list[str]:
    """The faults that took effect on a request (a failure pre-empts the others)."""
    if decision.failure:
        return [decision.failure]
    effects = ["slow"] if decision.delay_s else []
    if decision.fail and label in _LAUNCHES:
        effects.append("fail")
    if decision.expire and label not in _LAUNCHES and label.startswith(("dv/", "sdl/")):
        effects.append("expire")
    return effects


def _add_notice(reply: Reply) -> Reply:
    payload = reply.json()
    if isinstance(payload, dict):
        payload["deprecation"] = DEPRECATION
        return json_reply(reply.status, payload, {**reply.headers})
    return reply
