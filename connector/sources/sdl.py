"""SDL v2 long-running queries (`/sdl/v2/api/queries`): launch → poll → read → DELETE.

The replacement for Deep Visibility after its 2027-02-15 sunset. Per `fetch(window)`:

* one query per window: `LOG` (raw events, yielded as `("cloud-funnel", values)`) or `PQ`
  (a table of the columns the mapper reads, yielded as `("pq", row)`);
* scope is explicit — `tenant: false` + `accountIds` when account ids are configured, else
  `tenant: true` — and the filter always carries the EDR data-source clause (without it
  LRQ can answer 200 with nothing) and, when configured, `site.id in (...)`;
* the forward tag from the launch response is echoed on every GET and DELETE;
* polls every second (a query expires about 30 s after the last poll), within
  `console.query_timeout` and the run's deadline;
* a result as large as the limit is treated as truncated: the window is bisected down to
  `console.min_window`, then the loss is reported loudly;
* a query that expired (404) or failed is launched again (at most `MAX_RELAUNCHES` times);
  an error that reads like a syntax error is a `ConfigError` naming the filter;
* every launched query is DELETEd, also after errors and aborts;
* records outside `[start, end)` and repeats of an `event.id` are dropped and counted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any, Literal

import requests
from pydantic import SecretStr

from connector.config import ConsoleConfig
from connector.errors import ConfigError, ConnectorError, Unavailable
from connector.mapping import rows_from_table
from connector.sources.admit import Admission
from connector.sources.base import RawRecord, Shape, SourceStats
from connector.sources.http import Clock, HttpClient, NotFound, RetryPolicy, Sleep
from connector.sources.query import EDR_FILTER, Pushdown
from connector.timeutil import Window, format_utc

__all__ = ["FORWARD_TAG", "PQ_COLUMNS", "SDL_PATH", "SdlSource", "scoped_filter"]

log = logging.getLogger(__name__)

SDL_PATH = "/sdl/v2/api/queries"
FORWARD_TAG = "X-Dataset-Query-Forward-Tag"
POLL_INTERVAL = 1.0
MAX_RELAUNCHES = 3
_SYNTAX_WORDS = ("parse", "syntax", "unexpected", "invalid filter", "unknown function")

PQ_COLUMNS: tuple[str, ...] = (
    "event.time", "event.id", "event.type", "event.category", "meta.event.name", "trace.id",
    "endpoint.name", "endpoint.os", "endpoint.type", "os.name", "agent.uuid", "agent.version",
    "site.id", "site.name", "account.id", "group.id",
    "src.process.uid", "src.process.pid", "src.process.name", "src.process.image.path",
    "src.process.cmdline", "src.process.displayName", "src.process.startTime",
    "src.process.image.md5", "src.process.image.sha1", "src.process.image.sha256",
    "src.process.user", "src.process.signedStatus", "src.process.verifiedStatus",
    "src.process.publisher", "src.process.storyline.id", "src.process.integrityLevel",
    "src.process.parent.uid", "src.process.parent.pid", "src.process.parent.name",
    "src.process.parent.image.path", "src.process.parent.cmdline",
    "src.process.parent.displayName", "src.process.parent.startTime",
    "src.process.parent.image.md5", "src.process.parent.image.sha1",
    "src.process.parent.image.sha256", "src.process.parent.user",
    "src.process.parent.signedStatus", "src.process.parent.publisher",
    "src.process.parent.storyline.id",
    "tgt.process.uid", "tgt.process.pid", "tgt.process.name", "tgt.process.image.path",
    "tgt.process.cmdline", "tgt.process.displayName", "tgt.process.startTime",
    "tgt.process.image.md5", "tgt.process.image.sha1", "tgt.process.image.sha256",
    "tgt.process.user", "tgt.process.signedStatus", "tgt.process.verifiedStatus",
    "tgt.process.publisher", "tgt.process.storyline.id", "tgt.process.integrityLevel",
    "src.ip.address", "src.port.number", "dst.ip.address", "dst.port.number",
    "event.network.direction", "event.network.connectionStatus",
    "event.network.protocolName", "event.repetitionCount",
    "tgt.process.image.originalFileName", "src.process.image.originalFileName",
    "src.process.parent.image.originalFileName", "tgt.process.eUserUid", "src.process.eUserUid",
    "src.process.parent.eUserUid", "src.process.parent.integrityLevel",
)  # fmt: skip
"""The Cloud Funnel keys the mapper reads; PQ projects them without aliases."""


class _Split(Exception):
    """The result reached the limit: bisect the window."""


class _Relaunch(Exception):
    """The query expired or failed: run it again."""


def scoped_filter(base: str, site_ids: Sequence[str] = ()) -> str:
    """The LOG/PQ filter with the EDR clause (added if missing) and the site restriction."""
    parts = [] if "dataSource.name" in base else [EDR_FILTER]
    if base.strip():
        parts.append(f"({base.strip()})" if parts else base.strip())
    if site_ids:
        quoted = ", ".join("'" + s.replace("'", "") + "'" for s in site_ids)
        parts.append(f"site.id in ({quoted})")
    return " and ".join(parts)


class SdlSource:
    """Fetch SDL telemetry with long-running queries (see the module docstring)."""

    name = "sdl"

    def __init__(
        self,
        console: ConsoleConfig,
        token: SecretStr,
        query: Pushdown,
        *,
        mode: Literal["log", "pq"] = "log",
        columns: Sequence[str] = PQ_COLUMNS,
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall: Clock = time.time,
        http: HttpClient | None = None,
    ) -> None:
        self.console = console
        self.query = query
        self.mode = mode
        self.columns = tuple(columns)
        self.stats = SourceStats()
        self.deadline = deadline
        self._clock, self._sleep = clock, sleep
        self._http = http or HttpClient(
            console,
            token,
            scheme="Bearer",
            stats=self.stats,
            deadline=deadline,
            clock=clock,
            sleep=sleep,
            wall=wall,
            min_interval=0.4,  # LRQ: measured ~3 requests/s per user; stay at 2.5
        )
        self.filter = scoped_filter(query.sdl_filter, console.site_ids)
        self._max_window: timedelta | None = None
        self._open: tuple[str, str] | None = None

    @property
    def max_window(self) -> timedelta | None:
        """None until a window had to be bisected; then the widest span that fit the limit."""
        return self._max_window

    def __enter__(self) -> SdlSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._open is not None:
            self._delete(*self._open)
        self._http.close()

    @property
    def _shape(self) -> Shape:
        return "cloud-funnel" if self.mode == "log" else "pq"

    # -- windows -----------------------------------------------------------------------------

    def fetch(self, window: Window) -> Iterator[RawRecord]:
        admission = Admission(self.stats)
        pending = [window]
        while pending:
            current = pending.pop()
            try:
                rows = self._run(current)
            except _Split:
                first, second = current.halves()
                self.stats.bisections += 1
                if self._max_window is None or first.span < self._max_window:
                    self._max_window = first.span
                pending.extend((second, first))
                continue
            for row in rows:
                if self._accept(row, current, admission):
                    yield (self._shape, row)

    def _accept(self, row: Mapping[str, Any], window: Window, admission: Admission) -> bool:
        if not row:
            self.stats.skipped["malformed_row"] += 1
            return False
        return admission.admit(window, row.get("event.time"), row.get("event.id"))

    def _run(self, window: Window) -> list[dict[str, Any]]:
        for attempt in range(MAX_RELAUNCHES + 1):
            if attempt:
                self.stats.relaunches += 1
                self._http.pause(2.0 * attempt)
            query_id, tag, first = self._launch(window)
            try:
                rows, returned = self._rows(self._await(query_id, tag, first))
                self._check_limit(window, returned)
                return rows
            except _Relaunch as why:
                log.warning("SDL query for %s: %s; launching it again", window, why)
            finally:
                self._delete(query_id, tag)
        raise Unavailable(f"SDL query for {window} failed {MAX_RELAUNCHES + 1} times; giving up")

    def _check_limit(self, window: Window, count: int) -> None:
        limit = self.console.sdl_limit
        if count < limit:
            return
        if window.span >= 2 * self.console.min_window:
            log.info("SDL result for %s reached the limit of %d; bisecting", window, limit)
            raise _Split
        self.stats.truncated_windows += 1
        log.warning(
            "DATA LOSS: SDL result for %s hit the %d-row limit and the window is already at "
            "the %s minimum; rows beyond the limit are missing",
            window,
            limit,
            self.console.min_window,
        )

    # -- one query -----------------------------------------------------------------------------

    def _body(self, window: Window) -> dict[str, Any]:
        body: dict[str, Any] = {
            "queryType": "LOG" if self.mode == "log" else "PQ",
            "startTime": format_utc(window.start),
            "endTime": format_utc(window.end),
            "queryPriority": "HIGH",
        }
        if self.console.account_ids:
            body["tenant"] = False
            body["accountIds"] = list(self.console.account_ids)
        else:
            body["tenant"] = True
        limit = self.console.sdl_limit
        if self.mode == "log":
            body["log"] = {"filter": self.filter, "limit": limit}
        else:
            columns = ", ".join(self.columns)
            query = f"{self.filter} | columns {columns} | limit {limit}"
            body["pq"] = {"query": query, "resultType": "TABLE"}
        return body

    def _launch(self, window: Window) -> tuple[str, str, Mapping[str, Any]]:
        tags: list[str] = []

        def keep_tag(response: requests.Response) -> None:
            tags.append(response.headers.get(FORWARD_TAG, ""))

        try:
            doc = self._http.call(
                "POST", SDL_PATH, label="sdl/queries:POST", body=self._body(window),
                on_response=keep_tag,
            )  # fmt: skip
        except ConfigError as exc:
            raise ConfigError(f"{exc}; filter: {self.filter}") from exc
        query_id = doc.get("id") if isinstance(doc, Mapping) else None
        if not isinstance(query_id, str) or not query_id:
            raise Unavailable("SDL answered the launch without a query id")
        tag = tags[-1] if tags else ""
        if not tag:
            log.warning("SDL launch answered without %s; polling without it", FORWARD_TAG)
        self._open = (query_id, tag)
        return query_id, tag, doc

    def _await(self, query_id: str, tag: str, doc: Mapping[str, Any]) -> Mapping[str, Any]:
        """Poll until done; return the finished `data`. Raises _Relaunch / ConfigError."""
        started = self._clock()
        budget = self.console.query_timeout.total_seconds()
        while True:
            self._check_error(doc)
            if _is_done(doc):
                data = doc.get("data")
                return data if isinstance(data, Mapping) else {}
            if self._clock() - started + POLL_INTERVAL > budget:
                raise Unavailable(f"SDL query did not finish within {budget:.0f} s")
            self._http.pause(POLL_INTERVAL)
            doc = self._poll(query_id, tag, _int(doc.get("stepsCompleted")))

    def _poll(self, query_id: str, tag: str, last_step: int) -> Mapping[str, Any]:
        try:
            doc = self._http.call(
                "GET", f"{SDL_PATH}/{query_id}", label="sdl/queries:GET",
                params={"lastStepSeen": last_step}, headers=_tag_header(tag),
            )  # fmt: skip
        except NotFound as exc:
            raise _Relaunch("query expired (404)") from exc
        return doc if isinstance(doc, Mapping) else {}

    def _check_error(self, doc: Mapping[str, Any]) -> None:
        error = doc.get("error")
        if not error:
            return
        message = str(error.get("message") if isinstance(error, Mapping) else error)
        if isinstance(error, Mapping) and isinstance(error.get("details"), list):
            message += "; " + "; ".join(str(d) for d in error["details"])
        if any(word in message.lower() for word in _SYNTAX_WORDS):
            raise ConfigError(f"SDL rejected the query ({message}); filter: {self.filter}")
        raise _Relaunch(f"query failed: {message}")

    def _rows(self, data: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
        """The usable rows, and how many the query returned (malformed ones included, since
        they count towards the limit). Malformed rows are counted in `stats.skipped`."""
        rows: list[dict[str, Any]] = []
        returned = 0
        if self.mode == "pq":
            for row in rows_from_table(data.get("columns") or [], data.get("values") or []):
                returned += 1
                self._keep(rows, row if isinstance(row, dict) else row.reason)
            return rows, returned
        for match in data.get("matches") or []:
            returned += 1
            values = match.get("values", match) if isinstance(match, Mapping) else None
            self._keep(rows, dict(values) if isinstance(values, Mapping) else "malformed_row")
        return rows, returned

    def _keep(self, rows: list[dict[str, Any]], row: dict[str, Any] | str) -> None:
        if isinstance(row, str):
            self.stats.skipped[row] += 1
        else:
            rows.append(row)

    def _delete(self, query_id: str, tag: str) -> None:
        """Release the query (they count against a per-account budget); never raises."""
        self._open = None
        try:
            self._http.call(
                "DELETE", f"{SDL_PATH}/{query_id}", label="sdl/queries:DELETE",
                headers=_tag_header(tag), policy=RetryPolicy(max_retries=1, initial=0.5),
            )  # fmt: skip
        except NotFound:
            log.debug("SDL query %s was already gone when deleted", query_id)
        except ConnectorError as exc:
            log.warning("could not delete SDL query %s: %s", query_id, exc)


def _is_done(doc: Mapping[str, Any]) -> bool:
    total, done = _int(doc.get("stepsTotal")), _int(doc.get("stepsCompleted"))
    return total > 0 and done >= total


def _int(value: object) -> int:
    """A step counter as an int; anything unusable counts as 0 (not done yet)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return 0


def _tag_header(tag: str) -> dict[str, str]:
    return {FORWARD_TAG: tag} if tag else {}
