"""The one HTTP layer for console sources: session, auth, pacing, retries, error mapping.

Every console request goes through `HttpClient.call`. It owns the only retry policy
(tenacity) and the only place where a status code becomes "retry" or "give up":

| outcome                                   | what happens                                        |
|-------------------------------------------|-----------------------------------------------------|
| 2xx                                       | returned (parsed JSON, or None for an empty body)   |
| connection error, timeout, 429, 500/502/503/504, 2xx with a non-JSON body | retried with backoff |
| 401, 403                                  | `AuthError` at once (exit 77), with the API detail  |
| 404                                       | `NotFound` at once (query expired: callers relaunch)|
| other 4xx                                 | `RequestRejected` at once (a `ConfigError`, exit 78)|
| retries spent on 429                      | `RateLimited` (exit 75)                             |
| retries spent otherwise                   | `Unavailable` (exit 69)                             |
| next wait would pass the run deadline     | `RateLimited` (429) or `DeadlineReached` (exit 75)  |
| TLS certificate failure                   | `ConfigError` at once (fix `ca_bundle`/`verify_tls`)|

Waits honour `Retry-After` (seconds or an HTTP date, capped at five minutes) and otherwise
grow exponentially with jitter. The token is read from its `SecretStr` only to build the
Authorization header; messages are built from our own context and the API's error detail.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import requests
from pydantic import SecretStr
from tenacity import RetryCallState, Retrying, retry_if_exception

from connector import __version__
from connector.config import ConsoleConfig, is_loopback_url
from connector.errors import (
    AuthError,
    ConfigError,
    ConnectorError,
    DeadlineReached,
    RateLimited,
    Unavailable,
)
from connector.logsetup import redact, register_secret
from connector.sources.base import SourceStats
from connector.sources.http_replies import parse_error_body, parse_retry_after

__all__ = [
    "USER_AGENT",
    "ApiDetail",
    "HttpClient",
    "NotFound",
    "RequestRejected",
    "RetryPolicy",
    "parse_error_body",
    "parse_retry_after",
]

log = logging.getLogger(__name__)

USER_AGENT = f"s1-dv-connector/{__version__} (+https://github.com/; python-requests)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
AUTH_STATUSES = frozenset({401, 403})
_MAX_TEXT = 300
LOUD_WAIT_S = 2.0  # waits longer than this are logged at info
CONNECT_RETRIES = 2  # a console that refuses connections is down: fail fast

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying one request.

    `initial`/`max_wait` shape the backoff after errors; `rate_limit_initial` is where the
    backoff starts after a 429 without `Retry-After` (60 s for DV init-query, 2 s elsewhere);
    `max_retry_after` caps any wait, including a server's `Retry-After`.
    """

    max_retries: int = 5
    initial: float = 1.0
    max_wait: float = 60.0
    rate_limit_initial: float = 2.0
    max_retry_after: float = 300.0
    jitter: float = 1.0


@dataclass(frozen=True)
class ApiDetail:
    """What an error response said, already safe to show."""

    status: int
    text: str
    codes: tuple[int, ...] = ()
    request_id: str = ""

    def __str__(self) -> str:
        rqid = f" (request id {self.request_id})" if self.request_id else ""
        return f"HTTP {self.status}: {self.text}{rqid}"


class RequestRejected(ConfigError):
    """The console refused the request as malformed (4xx other than 401/403/404)."""

    def __init__(self, message: str, detail: ApiDetail) -> None:
        super().__init__(message)
        self.detail = detail


class NotFound(Unavailable):
    """404: the query id expired or is unknown; the caller may relaunch."""

    def __init__(self, message: str, detail: ApiDetail) -> None:
        super().__init__(message)
        self.detail = detail


class _Transient(Exception):
    """A retriable response (429/5xx/bad body); private to the retry loop."""

    def __init__(self, detail: ApiDetail, retry_after: float | None) -> None:
        super().__init__(str(detail))
        self.detail = detail
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    label: str
    params: Mapping[str, Any] | None
    body: Any
    headers: Mapping[str, str] | None
    on_response: Callable[[requests.Response], None] | None


@dataclass
class _CallState:
    """Why a retry loop stopped (set by the stop strategy, read when converting errors)."""

    deadline_hit: bool = False
    last_wait: float = 0.0
    attempts: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class HttpClient:
    """A `requests.Session` for one console API with the connector's retry policy.

    `scheme` is `ApiToken` (management/DV) or `Bearer` (SDL). `min_interval` spaces
    consecutive requests (client-side rate limit). `deadline` is a `clock()` value no wait
    may pass. `clock`, `sleep` and `wall` (epoch seconds, for HTTP-date Retry-After) are
    injectable so tests never sleep.
    """

    def __init__(
        self,
        console: ConsoleConfig,
        token: SecretStr,
        *,
        scheme: Literal["ApiToken", "Bearer"],
        stats: SourceStats,
        deadline: float | None = None,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        wall: Clock = time.time,
        min_interval: float = 0.0,
        session: requests.Session | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.base_url = _check_base_url(console)
        self.stats = stats
        self.deadline = deadline
        self.clock, self.sleep, self.wall = clock, sleep, wall
        self.min_interval = min_interval
        self.max_retries = console.max_retries
        self._rng = rng or random.Random()
        self._last_sent: float | None = None
        self._timeout = _timeouts(console.timeout.total_seconds())
        register_secret(token.get_secret_value())  # masked in every log line from now on
        self.session = session or requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"{scheme} {token.get_secret_value()}",
                "User-Agent": USER_AGENT,
                "Accept": "application/json",
            }
        )
        self.session.verify = _verify_setting(console)

    def close(self) -> None:
        self.session.close()

    def pause(self, seconds: float, *, rate_limited: bool = False, why: str = "") -> None:
        """Sleep `seconds`, unless that would pass the deadline: then raise `RateLimited`
        (when the wait is the API's rate limit) or `DeadlineReached`. A wait over
        `LOUD_WAIT_S` is logged at info with what it waits for."""
        if self.deadline is not None and self.clock() + seconds > self.deadline:
            if rate_limited:
                raise RateLimited(
                    f"{why or 'the rate limit'} needs a {seconds:.0f} s wait, "
                    "beyond this run's time budget",
                    retry_after=seconds,
                )
            raise DeadlineReached(f"the run's time budget cannot cover a {seconds:.0f} s wait")
        _say_wait(seconds, why or "the console")
        self.sleep(seconds)

    def call(
        self,
        method: str,
        path: str,
        *,
        label: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        on_response: Callable[[requests.Response], None] | None = None,
    ) -> Any:
        """Send one request with retries; return the parsed JSON body (None when empty).

        `on_response` sees every successful response (e.g. to read a header).
        Raises the connector errors listed in the module docstring.
        """
        policy = policy or RetryPolicy(max_retries=self.max_retries)
        state = _CallState()
        retrying = Retrying(
            retry=retry_if_exception(_is_retriable),
            wait=lambda rs: self._wait(rs, policy),
            stop=lambda rs: self._stop(rs, policy, state),
            sleep=self.sleep,
            before_sleep=lambda rs: self._before_sleep(rs, label),
            reraise=True,
        )
        request = _Request(method, path, label, params, body, headers, on_response)
        try:
            return retrying(self._attempt, request)
        except _Transient as exc:
            raise _exhausted(label, exc, state) from exc
        except requests.exceptions.SSLError as exc:
            raise ConfigError(
                f"{label}: TLS verification with {self.base_url} failed ({type(exc).__name__}); "
                "check [console] ca_bundle / verify_tls"
            ) from exc
        except (requests.ConnectionError, requests.Timeout) as exc:
            if state.deadline_hit:
                raise DeadlineReached(
                    f"{label}: {_describe(exc)}; the run's time budget does not cover another try"
                ) from exc
            if _connect_failure(exc):
                raise Unavailable(
                    f"console unreachable at {self.base_url}: {_describe(exc)} "
                    f"({state.attempts} attempts; {label})"
                ) from exc
            raise Unavailable(
                f"{label}: {_describe(exc)} after {self.max_retries} retries ({self.base_url})"
            ) from exc
        except requests.RequestException as exc:
            raise Unavailable(f"{label}: request failed: {_describe(exc)}") from exc

    # -- one attempt -------------------------------------------------------------------

    def _attempt(self, request: _Request) -> Any:
        self._pace()
        self.stats.api_calls[request.label] += 1
        response = self.session.request(
            request.method,
            self.base_url + request.path,
            params=request.params,
            json=request.body,
            headers=dict(request.headers or {}),
            timeout=self._timeout,
        )
        self.stats.bytes += len(response.content)
        _classify(response, request.label, self.wall())
        if request.on_response is not None:
            request.on_response(response)
        return _parse_body(response)

    def _pace(self) -> None:
        """Keep at least `min_interval` between requests (the API's per-token rate)."""
        now = self.clock()
        if self._last_sent is not None and self.min_interval > 0:
            gap = self._last_sent + self.min_interval - now
            if gap > 0:
                _say_wait(gap, f"the client-side request spacing ({self.min_interval:g} s)")
                self.sleep(gap)
                now = self.clock()
        self._last_sent = now

    # -- tenacity hooks ------------------------------------------------------------------

    def _wait(self, retry_state: RetryCallState, policy: RetryPolicy) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if _connect_failure(exc):  # nobody listening: a long backoff only delays the news
            return float(min(policy.initial * retry_state.attempt_number, 2.0))
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            return float(min(exc.retry_after, policy.max_retry_after))
        rate_limited = isinstance(exc, _Transient) and exc.detail.status == 429
        base = policy.rate_limit_initial if rate_limited else policy.initial
        cap = policy.max_retry_after if rate_limited else policy.max_wait
        backoff = min(cap, base * 2.0 ** (retry_state.attempt_number - 1))
        return min(cap, backoff + self._rng.uniform(0, policy.jitter))

    def _stop(self, retry_state: RetryCallState, policy: RetryPolicy, state: _CallState) -> bool:
        state.last_wait = retry_state.upcoming_sleep
        state.attempts = retry_state.attempt_number
        if retry_state.attempt_number > policy.max_retries:
            return True
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if _connect_failure(exc) and retry_state.attempt_number > CONNECT_RETRIES:
            return True
        if self.deadline is not None and self.clock() + retry_state.upcoming_sleep > self.deadline:
            state.deadline_hit = True
            return True
        return False

    def _before_sleep(self, retry_state: RetryCallState, label: str) -> None:
        self.stats.retries += 1
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        if _connect_failure(exc):  # the final error says it all, in one line
            log.debug("%s: %s; retry %d", label, _describe(exc), retry_state.attempt_number)
            return
        log.warning(
            "%s: %s; retry %d in %.1f s",
            label,
            _describe(exc),
            retry_state.attempt_number,
            retry_state.upcoming_sleep,
        )


# -- helpers -----------------------------------------------------------------------------


def _say_wait(seconds: float, why: str) -> None:
    """Every wait long enough to be noticed says what it waits for (info)."""
    if seconds > LOUD_WAIT_S:
        log.info("waiting %.0f s for %s", seconds, why)


def _check_base_url(console: ConsoleConfig) -> str:
    url = console.url.rstrip("/")
    if not url:
        raise ConfigError("[console] url is not set")
    if url.startswith("http://") and not (console.allow_insecure_http or is_loopback_url(url)):
        raise ConfigError("[console] url: plain http is allowed only to loopback")
    return url


def _verify_setting(console: ConsoleConfig) -> bool | str:
    if console.ca_bundle is not None:
        return str(console.ca_bundle)
    if not console.verify_tls:
        log.warning("TLS verification of the console is OFF ([console] verify_tls = false)")
    return console.verify_tls


def _timeouts(total: float) -> tuple[float, float]:
    """(connect, read): connecting should never take the whole read budget."""
    return (min(10.0, total), total)


def _is_retriable(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate problem does not heal by retrying
    return isinstance(exc, _Transient | requests.ConnectionError | requests.Timeout)


def _classify(response: requests.Response, label: str, now: float) -> None:
    """The one place a status code becomes retry / give up / fine."""
    status = response.status_code
    if status < 400:
        return
    text, codes = parse_error_body(response.content)
    detail = ApiDetail(status, text, codes, response.headers.get("X-RQID", ""))
    if status in RETRY_STATUSES:
        raise _Transient(detail, parse_retry_after(response.headers.get("Retry-After"), now))
    if status in AUTH_STATUSES:
        what = "authentication failed" if status == 401 else "permission denied"
        raise AuthError(f"{label}: {what} ({detail}); check the API token and its role")
    if status == 404:
        raise NotFound(f"{label}: not found ({detail})", detail)
    raise RequestRejected(f"{label}: request rejected ({detail})", detail)


def _parse_body(response: requests.Response) -> Any:
    if not response.content.strip():
        return None
    try:
        return response.json()
    except ValueError as exc:
        text, _ = parse_error_body(response.content[:_MAX_TEXT])
        detail = ApiDetail(response.status_code, f"body is not JSON: {text}")
        raise _Transient(detail, None) from exc


def _exhausted(label: str, exc: _Transient, state: _CallState) -> ConnectorError:
    detail = exc.detail
    if detail.status == 429:
        wait = exc.retry_after if exc.retry_after is not None else state.last_wait
        why = "beyond the run's time budget" if state.deadline_hit else "after retries"
        return RateLimited(f"{label}: rate limited {why} ({detail})", retry_after=wait)
    if state.deadline_hit:
        return DeadlineReached(f"{label}: {detail}; the run's time budget does not cover a retry")
    return Unavailable(f"{label}: console unavailable after retries ({detail})")


_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _connect_failure(exc: BaseException | None) -> bool:
    """True when no connection could be made (refused, unresolvable, connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.ConnectionError):
        return False
    text = str(exc)
    return any(mark in text for mark in ("NewConnectionError", "NameResolution", "resolve"))


def _describe(exc: BaseException | None) -> str:
    """A short reason: the API's detail, or the network error without urllib3's wrapping."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, _Transient):
        return str(exc.detail)
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.Timeout):
        return "read timed out"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        if "NameResolution" in text or "resolve" in text:
            return "host name does not resolve"
        found = _ERRNO.search(text)
        if found:
            return found.group(1).strip().lower()
        if "RemoteDisconnected" in text or "Connection aborted" in text:
            return "the console closed the connection"
    return redact(f"{type(exc).__name__}: {exc}")[:_MAX_TEXT]
