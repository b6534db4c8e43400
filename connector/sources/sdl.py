"""SDL v2 long-running queries (`/sdl/v2/api/queries`): launch → poll → read → DELETE.

The replacement for Deep Visibility after its 2027-02-15 sunset. Per `fetch(window)`:

* one query per window: `LOG` (raw events, yielded as `("cloud-funnel", values)`) or `PQ`
  (a table of the columns the mapper reads, yielded as `("pq", row)`);
* scope is explicit — `tenant: false` + `accountIds` when account ids are configured, else
  `tenant: true` — and the filter always carries the EDR data-source clause (without it
  LRQ can answer 200 with nothing) and, when configured, `site.id in (...)`;
* the forward tag from the launch response is echoed on every GET and DELETE;
* polls every second (a query expires about 30 s after the last poll), within
  `console.query_timeout` and the run's deadline; progress is read from `totalSteps` or
  `stepsTotal`, whichever the console sends, and result rows from every answer's `data`
  (consoles send them at the end or in pieces: `lrq.py`);
* `queryPriority` is `console.sdl_query_priority` (LOW by default, as SentinelOne's own client
  sends); LOG asks for `ascending: true` so a truncated result keeps the earliest rows;
* a result as large as the limit, or flagged partial by the console
  (`partialResultsDueToTimeLimit`, `omittedEvents`, `discardedArrayItems`,
  `truncatedAtLimit`), is treated as incomplete: the window is bisected down to
  `console.min_window`, then the loss is reported loudly (`DATA LOSS`, `truncated_windows`);
* epoch times in rows (`event.time`, process start times) may come in s, ms, µs or ns and are
  read as ms;
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
from connector.sources.lrq import Pieces, is_done, normalise_times, partial_reason, progress
from connector.sources.pushdown_ir import sdl_quote
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
        quoted = ", ".join(sdl_quote(s) for s in site_ids)
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
        mode: Literal["log", "pq"] | None = None,
        columns: Sequence[str] = PQ_COLUMNS,
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall: Clock = time.time,
        http: HttpClient | None = None,
    ) -> None:
        self.console = console
        self.query = query
        self.mode: Literal["log", "pq"] = mode or (
            "pq" if console.sdl_query_type == "PQ" else "log"
        )
        self.columns = tuple(columns)
        self.stats = SourceStats()
        if query.levels.get("sdl", "exact") != "exact":
            self.stats.pushdown = f"sdl:{query.levels['sdl']}"
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
                self._http.pause(2.0 * attempt, why="relaunching the SDL query")
            query_id, tag, first = self._launch(window)
            try:
                pieces, partial = self._await(query_id, tag, first)
                rows, returned = self._rows(pieces)
                self._check_complete(window, returned, partial)
                return rows
            except _Relaunch as why:
                log.warning("SDL query for %s: %s; launching it again", window, why)
            finally:
                self._delete(query_id, tag)
        raise Unavailable(f"SDL query for {window} failed {MAX_RELAUNCHES + 1} times; giving up")

    def _check_complete(self, window: Window, count: int, partial: str | None) -> None:
        """Bisect a result that is (or may be) incomplete; below the minimum window, say so."""
        limit = self.console.sdl_limit
        if count < limit and partial is None:
            return
        why = f"reached the {limit}-row limit" if partial is None else f"is partial ({partial})"
        if window.span >= 2 * self.console.min_window:
            log.info("SDL result for %s %s; narrowing the window and running it again", window, why)
            raise _Split
        self.stats.truncated_windows += 1
        log.warning(
            "DATA LOSS: SDL result for %s %s and the window is already at the %s minimum; "
            "rows the console left out are missing",
            window,
            why,
            self.console.min_window,
        )

    # -- one query -----------------------------------------------------------------------------

    def _body(self, window: Window) -> dict[str, Any]:
        body: dict[str, Any] = {
            "queryType": "LOG" if self.mode == "log" else "PQ",
            "startTime": format_utc(window.start),
            "endTime": format_utc(window.end),
            "queryPriority": self.console.sdl_query_priority,
        }
        if self.console.account_ids:
            body["tenant"] = False
            body["accountIds"] = list(self.console.account_ids)
        else:
            body["tenant"] = True
        limit = self.console.sdl_limit
        if self.mode == "log":
            # Scalyr's LRQ clients page LOG with ascending: true; the default may be newest
            # first (evidence page, difference 7).
            body["log"] = {"filter": self.filter, "limit": limit, "ascending": True}
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

    def _await(self, query_id: str, tag: str, doc: Mapping[str, Any]) -> tuple[Pieces, str | None]:
        """Poll until done; return the rows of every answer and the partial-result flag
        (None: complete as far as the console says). Raises _Relaunch / ConfigError."""
        started = self._clock()
        budget = self.console.query_timeout.total_seconds()
        pieces = Pieces()
        partial: str | None = None
        _log_answer(query_id, doc)
        while True:
            self._check_error(doc)
            data = doc.get("data")
            pieces.add(data)
            # a flag on any piece makes the whole result partial, not only one on the last
            partial = partial or partial_reason(doc, data if isinstance(data, Mapping) else None)
            if is_done(doc):
                if pieces.pieces > 1 or pieces.repeated:
                    log.debug(
                        "SDL query %s: rows came in %d pieces (%d repeated rows dropped)",
                        query_id, pieces.pieces, pieces.repeated,
                    )  # fmt: skip
                return pieces, partial
            if self._clock() - started + POLL_INTERVAL > budget:
                raise Unavailable(f"SDL query did not finish within {budget:.0f} s")
            self._http.pause(POLL_INTERVAL)
            doc = self._poll(query_id, tag, progress(doc)[0])

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

    def _rows(self, pieces: Pieces) -> tuple[list[dict[str, Any]], int]:
        """The usable rows, and how many the query returned (malformed ones included, since
        they count towards the limit). Malformed rows are counted in `stats.skipped`."""
        rows: list[dict[str, Any]] = []
        returned = 0
        if self.mode == "pq":
            for row in rows_from_table(pieces.columns, pieces.values):
                returned += 1
                self._keep(rows, normalise_times(row) if isinstance(row, dict) else row.reason)
            return rows, returned
        for match in pieces.matches:
            returned += 1
            values = match.get("values", match) if isinstance(match, Mapping) else None
            record = normalise_times(dict(values)) if isinstance(values, Mapping) else None
            self._keep(rows, "malformed_row" if record is None else record)
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


def _log_answer(query_id: str, doc: Mapping[str, Any]) -> None:
    """What the evidence leaves open (progress field names, extra keys) at debug level, so a
    first run against a real tenant tells us."""
    if log.isEnabledFor(logging.DEBUG):
        keys = ", ".join(sorted(str(k) for k in doc if k != "data"))
        log.debug("SDL launch answer for query %s carries: %s", query_id, keys)


def _tag_header(tag: str) -> dict[str, str]:
    return {FORWARD_TAG: tag} if tag else {}
