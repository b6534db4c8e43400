"""Deep Visibility v2.1: init-query → status polling → cursor pages → cancel when abandoned.

One combined S1QL query per window (the init-query limit is one per minute per token).
The source guarantees, per `fetch(window)`:

* every event whose `eventTime` lies in `[start, end)` is yielded once (events outside the
  window and repeats within the fetch are dropped and counted in `stats.skipped`);
* a result that reaches the per-query cap is discarded and the window bisected, down to
  `console.min_window`; below that the capped result is kept and reported loudly
  (`stats.truncated_windows`, a WARNING); `max_window` then shrinks to what worked;
* a query that expires, fails or is lost (404) is launched again (at most
  `MAX_RELAUNCHES` times); two `TIMED_OUT`s in a row bisect the window;
* a window older than the console's retention is clamped to it, with a warning;
* init-queries are spaced by `console.min_query_interval`, remembered across windows and
  exposed as `last_init_query_at` (epoch seconds) so a runner can persist it;
* no wait passes `deadline`: `RateLimited`/`DeadlineReached` are raised instead, and any
  live remote query is cancelled on every way out.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Generator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import SecretStr

from connector.config import ConsoleConfig
from connector.errors import ConfigError, ConnectorError, Unavailable
from connector.logsetup import once
from connector.sources.admit import Admission
from connector.sources.base import RawRecord, SourceStats
from connector.sources.http import Clock, HttpClient, NotFound, RequestRejected, RetryPolicy, Sleep
from connector.sources.query import Pushdown
from connector.timeutil import Window, format_utc

__all__ = ["DV_PREFIX", "FAILED_STATES", "IN_PROGRESS_STATES", "DeepVisibilitySource"]

log = logging.getLogger(__name__)

DV_PREFIX = "/web/api/v2.1/dv"
PAGE_SIZE = 1000
POLL_INTERVAL = 1.0  # query-status allows 1 request per second per token
MAX_RELAUNCHES = 3
IN_PROGRESS_STATES = frozenset(
    {"PLANNING", "RUNNING", "QUERY_RUNNING", "PROCESS_RUNNING", "EVENTS_RUNNING"}
)
FAILED_STATES = frozenset(
    {
        "FAILED",
        "FAILED_CLIENT",
        "ERROR",
        "TIMED_OUT",
        "QUERY_CANCEL",
        "QUERY_CANCELLED",
        "QUERY_EXPIRED",
        "QUERY_NOT_FOUND",
    }
)
DONE_STATES = frozenset({"FINISHED", "EMPTY_RESULTS"})
_RETENTION = re.compile(r"retains data for (\d+) days?", re.IGNORECASE)
_ONE_MS = timedelta(milliseconds=1)


class _Split(Exception):
    """The window must be bisected (capped result, repeated timeouts)."""


class _Relaunch(Exception):
    """The query is gone or failed; run the window again."""


class _Clamp(Exception):
    """The window starts before the console's retention; carries the new start."""

    def __init__(self, start: datetime, days: int) -> None:
        super().__init__(f"retention {days} days")
        self.start = start
        self.days = days


class DeepVisibilitySource:
    """Fetch DV events window by window (see the module docstring for the guarantees)."""

    name = "deep-visibility"

    def __init__(
        self,
        console: ConsoleConfig,
        token: SecretStr,
        query: Pushdown,
        *,
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall: Clock = time.time,
        last_init_query_at: float | None = None,
        http: HttpClient | None = None,
    ) -> None:
        self.console = console
        self.query = query
        self.stats = SourceStats()
        if query.levels.get("s1ql", "exact") != "exact":
            self.stats.pushdown = f"s1ql:{query.levels['s1ql']}"
        self.deadline = deadline
        self.last_init_query_at = last_init_query_at
        self._clock, self._sleep, self._wall = clock, sleep, wall
        self._http = http or HttpClient(
            console,
            token,
            scheme="ApiToken",
            stats=self.stats,
            deadline=deadline,
            clock=clock,
            sleep=sleep,
            wall=wall,
            min_interval=0.5,  # dv/events is undocumented: stay at <= 2 requests/s
        )
        self._init_policy = RetryPolicy(max_retries=console.max_retries, rate_limit_initial=60.0)
        self._max_window: timedelta | None = None
        self._open_query: str | None = None
        self._noted_deprecation = False

    @property
    def max_window(self) -> timedelta | None:
        """None until a window had to be bisected; then the widest span that fit the cap."""
        return self._max_window

    def __enter__(self) -> DeepVisibilitySource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._open_query is not None:
            self._cancel(self._open_query)
        self._http.close()

    # -- windows -------------------------------------------------------------------------

    def fetch(self, window: Window) -> Generator[RawRecord, None, None]:
        admission = Admission(self.stats)
        pending = [window]
        while pending:
            current = pending.pop()
            try:
                with contextlib.closing(self._query_window(current)) as events:
                    for event in events:
                        if self._accept(event, current, admission):
                            yield ("dv", event)
            except _Split:
                self._bisect(current, pending)
            except _Clamp as clamp:
                self._clamp(current, clamp, pending)

    def _bisect(self, window: Window, pending: list[Window]) -> None:
        first, second = window.halves()
        self.stats.bisections += 1
        if self._max_window is None or first.span < self._max_window:
            self._max_window = first.span
        log.info("DV result for %s reached the cap of %d; bisecting", window, self._limit)
        pending.extend((second, first))  # a stack: the earlier half runs first

    def _clamp(self, window: Window, clamp: _Clamp, pending: list[Window]) -> None:
        self.stats.clamped_windows += 1
        if clamp.start <= window.start:
            raise ConfigError(
                f"the console keeps {clamp.days} days of DV data but rejected {window}, "
                "which is within that retention"
            )
        if clamp.start >= window.end:
            log.warning(
                "DV window %s is older than the console's %d-day retention: its events are lost",
                window,
                clamp.days,
                extra=once("dv-retention-lost"),
            )
            return
        log.warning(
            "DV keeps %d days of data: window %s clamped, [%s, %s) is lost",
            clamp.days,
            window,
            format_utc(window.start),
            format_utc(clamp.start),
            extra=once("dv-retention-clamped"),
        )
        pending.append(Window(clamp.start, window.end))

    def _accept(self, event: object, window: Window, admission: Admission) -> bool:
        if not isinstance(event, dict):
            self.stats.skipped["not-an-object"] += 1
            return False
        when = event.get("eventTime") or event.get("createdAt")
        return admission.admit(window, when, event.get("id"))

    @property
    def _limit(self) -> int:
        return self.console.query_limit

    def _can_split(self, window: Window) -> bool:
        return window.span >= 2 * self.console.min_window

    # -- one window: launch, wait, page, relaunch ----------------------------------------

    def _query_window(self, window: Window) -> Generator[dict[str, Any], None, None]:
        timeouts = 0
        for attempt in range(MAX_RELAUNCHES + 1):
            if attempt:
                self.stats.relaunches += 1
                self._http.pause(2.0 * attempt, why="relaunching the DV query")
            query_id = self._launch(window)
            live = True
            try:
                status = self._await(query_id)
                state = str(status.get("responseState"))
                unflagged = 0
                if state == "FINISHED":
                    unflagged = yield from self._pages(query_id, window)
                live = False
                if unflagged >= self._limit:
                    self._truncated(window, f"{unflagged} events read")
                if state in DONE_STATES:
                    return
                timeouts = timeouts + 1 if state == "TIMED_OUT" else 0
                self._judge_failure(window, state, status, timeouts)
            except _Relaunch as why:
                live = False
                log.warning("DV query for %s: %s; launching it again", window, why)
            finally:
                if live:
                    self._cancel(query_id)
                self._open_query = None
        raise Unavailable(f"DV query for {window} failed {MAX_RELAUNCHES + 1} times; giving up")

    def _judge_failure(
        self, window: Window, state: str, status: Mapping[str, Any], timeouts: int
    ) -> None:
        """Decide what a failed state means: config error, bisection, or relaunch."""
        error = _response_error(status)
        if state == "FAILED_CLIENT" and "pars" in error.lower():
            raise ConfigError(f"DV could not parse the query ({error}); query: {self.query.s1ql}")
        if state == "TIMED_OUT" and timeouts >= 2 and self._can_split(window):
            raise _Split
        raise _Relaunch(f"state {state}" + (f" ({error})" if error else ""))

    def _launch(self, window: Window) -> str:
        self._respect_rate_limit()
        try:
            doc = self._http.call(
                "POST",
                f"{DV_PREFIX}/init-query",
                label="dv/init-query",
                body=self._init_body(window),
                policy=self._init_policy,
            )
        except RequestRejected as exc:
            raise self._rejected(exc) from exc
        finally:
            self.last_init_query_at = self._wall()
        self._note_deprecation(doc)
        data = doc.get("data") if isinstance(doc, Mapping) else None
        query_id = data.get("queryId") if isinstance(data, Mapping) else None
        if not isinstance(query_id, str) or not query_id:
            raise Unavailable("dv/init-query answered without data.queryId")
        self._open_query = query_id
        return query_id

    def _init_body(self, window: Window) -> dict[str, Any]:
        # DV filters (fromDate, toDate]; one ms earlier makes the start inclusive, and
        # events stamped exactly `end` are dropped by `_accept` (next window's).
        body: dict[str, Any] = {
            "query": self.query.s1ql,
            "fromDate": format_utc(window.start - _ONE_MS),
            "toDate": format_utc(window.end),
            "limit": self._limit,
            "queryType": ["events"],
            "isVerbose": True,
        }
        if self.console.account_ids:
            body["accountIds"] = list(self.console.account_ids)
        if self.console.site_ids:
            body["siteIds"] = list(self.console.site_ids)
        return body

    def _rejected(self, exc: RequestRejected) -> Exception:
        text = exc.detail.text
        match = _RETENTION.search(text)
        if match:
            days = int(match.group(1))
            now = datetime.fromtimestamp(self._wall(), UTC)
            return _Clamp(now - timedelta(days=max(days - 1, 0)), days)
        if "could not parse query" in text.lower():
            return ConfigError(f"DV could not parse the query ({text}); query: {self.query.s1ql}")
        return exc

    def _respect_rate_limit(self) -> None:
        interval = self.console.min_query_interval.total_seconds()
        if self.last_init_query_at is None or interval <= 0:
            return
        wait = self.last_init_query_at + interval - self._wall()
        if wait > 0:
            self._http.pause(wait, rate_limited=True, why="the next DV init-query")

    def _await(self, query_id: str) -> Mapping[str, Any]:
        """Poll query-status until a done or failed state; return the status `data`."""
        started = self._clock()
        budget = self.console.query_timeout.total_seconds()
        unknown: set[str] = set()
        while True:
            status = self._status(query_id)
            state = str(status.get("responseState") or "")
            if state in DONE_STATES or state in FAILED_STATES:
                log.debug("DV query %s ended %s: %s", query_id, state, dict(status))
                return status
            if state not in IN_PROGRESS_STATES and state not in unknown:
                unknown.add(state)
                log.warning("DV query state %r is unknown; treating it as in progress", state)
            if self._clock() - started + POLL_INTERVAL > budget:
                raise Unavailable(
                    f"DV query did not finish within {budget:.0f} s (last state {state})"
                )
            self._http.pause(POLL_INTERVAL)

    def _status(self, query_id: str) -> Mapping[str, Any]:
        try:
            doc = self._http.call(
                "GET",
                f"{DV_PREFIX}/query-status",
                label="dv/query-status",
                params={"queryId": query_id},
            )
        except NotFound as exc:
            raise _Relaunch("query id not found (expired)") from exc
        data = doc.get("data") if isinstance(doc, Mapping) else None
        return data if isinstance(data, Mapping) else {}

    # -- pages -----------------------------------------------------------------------------

    def _pages(self, query_id: str, window: Window) -> Generator[dict[str, Any], None, int]:
        """Yield every event of a finished query; return how many were read, or 0 when a
        truncation was already reported (so the caller checks the count only once)."""
        cursor: str | None = None
        cursors: set[str] = set()
        read = 0
        flagged = False
        while True:
            events, pagination = self._page(query_id, cursor)
            total = pagination.get("totalItems")
            if cursor is None:
                # Unconfirmed (evidence page): whether totalItems is capped; say what came.
                log.debug("DV query %s, first page: pagination %s", query_id, dict(pagination))
            if cursor is None and isinstance(total, int) and total >= self._limit:
                flagged = self._truncated(window, f"totalItems {total}")
            read += len(events)
            yield from events
            cursor = _next_cursor(pagination, events, cursors)
            if cursor is None:
                break
        return 0 if flagged else read

    def _truncated(self, window: Window, why: str) -> bool:
        """Split the window if it may be split; else report the loss and go on."""
        if self._can_split(window):
            raise _Split
        self.stats.truncated_windows += 1
        log.warning(
            "DATA LOSS: DV result for %s hit the %d-event cap (%s) and the window is "
            "already at the %s minimum; events beyond the cap are missing",
            window,
            self._limit,
            why,
            self.console.min_window,
        )
        return True

    def _page(
        self, query_id: str, cursor: str | None
    ) -> tuple[list[dict[str, Any]], Mapping[str, Any]]:
        params: dict[str, Any] = {"queryId": query_id, "limit": PAGE_SIZE}
        if cursor:
            params["cursor"] = cursor
        try:
            doc = self._http.call("GET", f"{DV_PREFIX}/events", label="dv/events", params=params)
        except NotFound as exc:
            raise _Relaunch("query expired while paging (404)") from exc
        except RequestRejected as exc:
            if "expired" in exc.detail.text.lower() or 4040010 in exc.detail.codes:
                raise _Relaunch(f"query expired while paging ({exc.detail})") from exc
            raise
        self.stats.pages += 1
        if not isinstance(doc, Mapping):
            raise Unavailable("dv/events answered without a JSON object")
        data = doc.get("data")
        pagination = doc.get("pagination")
        return (
            data if isinstance(data, list) else [],
            pagination if isinstance(pagination, Mapping) else {},
        )

    def _cancel(self, query_id: str) -> None:
        """Best effort: a failed cancel only wastes console resources, so log and go on."""
        self._open_query = None
        try:
            self._http.call(
                "POST",
                f"{DV_PREFIX}/cancel-query",
                label="dv/cancel-query",
                body={"queryId": query_id},
                policy=RetryPolicy(max_retries=1, initial=0.5),
            )
        except ConnectorError as exc:
            log.warning("could not cancel DV query %s: %s", query_id, exc)

    def _note_deprecation(self, doc: object) -> None:
        if self._noted_deprecation or not isinstance(doc, Mapping):
            return
        for where in (doc, doc.get("data")):
            if isinstance(where, Mapping):
                keys = [k for k in where if str(k).startswith(("deprecat", "sunset"))]
                if keys:
                    self._noted_deprecation = True
                    log.warning(
                        "the console marks DV as deprecated (%s); plan the move to SDL "
                        '(source.kind = "sdl")',
                        ", ".join(f"{k}={where[k]}" for k in keys),
                    )
                    return


def _next_cursor(
    pagination: Mapping[str, Any], events: list[dict[str, Any]], seen: set[str]
) -> str | None:
    """The cursor of the next page, or None to stop (end, loop, or empty page)."""
    cursor = pagination.get("nextCursor")
    if not isinstance(cursor, str) or not cursor:
        return None
    if cursor in seen:
        log.warning("DV returned a cursor it already gave; stopping paging")
        return None
    if not events:
        log.warning("DV returned an empty page with a cursor; stopping paging")
        return None
    seen.add(cursor)
    return cursor


def _response_error(status: Mapping[str, Any]) -> str:
    error = status.get("responseError")
    if isinstance(error, Mapping):
        return str(error.get("message") or error.get("detail") or error)
    return str(error) if error else ""
