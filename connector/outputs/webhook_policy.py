"""The one place that turns a webhook response into an outcome, and the retry policy.

| response                                 | outcome                                           |
|------------------------------------------|---------------------------------------------------|
| 2xx                                      | DELIVERED                                         |
| 408, 425, 429, 5xx                       | RETRY (honour `Retry-After`)                      |
| connect error, timeout, reset            | RETRY (raised by requests, retried by the policy) |
| 3xx                                      | REJECTED: "endpoint redirects to <Location>"      |
| 410                                      | GONE: the output is disabled for the run          |
| 401, 403                                 | AUTH                                              |
| other 4xx (400, 404, 413, 422, …)        | REJECTED with the start of the response text      |

`Retry-After` is delay-seconds or an HTTP-date (RFC 9110 §10.2.3), floored at 0 and capped at
300 s. The policy (tenacity) retries only `RetryLater` and requests' connection and timeout
errors (never TLS verification failures), waits `Retry-After` when given and exponential
backoff with jitter otherwise, and stops after 5 attempts, after `max_retry_time`, or when
the next wait would cross the run deadline. Sleeping is injectable so tests never sleep.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import requests
import tenacity

from connector.logsetup import redact
from connector.outputs.base import Outcome

__all__ = [
    "MAX_RETRY_AFTER_S",
    "RetryLater",
    "Verdict",
    "classify",
    "parse_retry_after",
    "retry_policy",
]

log = logging.getLogger(__name__)
MAX_RETRY_AFTER_S = 300.0
MAX_ATTEMPTS = 5
_RETRY_STATUSES = frozenset({408, 425, 429})
_TEXT_CHARS = 200


@dataclass(frozen=True)
class Verdict:
    """What one response means: the outcome, why, and how long the receiver asked to wait."""

    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None


class RetryLater(Exception):
    """Raised inside the retry loop for a retriable response."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__(verdict.reason)
        self.verdict = verdict


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` value; None when absent or unreadable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text)
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _snippet(text: str) -> str:
    return redact(" ".join(text[:_TEXT_CHARS].split()))


def classify(
    status: int, headers: Mapping[str, str], text: str, now: datetime | None = None
) -> Verdict:
    """Map one HTTP response to a Verdict (see the module table)."""
    if 200 <= status < 300:
        return Verdict(Outcome.DELIVERED)
    if status in _RETRY_STATUSES or status >= 500:
        wait = parse_retry_after(headers.get("Retry-After"), now)
        return Verdict(Outcome.RETRY, f"HTTP {status}", wait)
    if 300 <= status < 400:
        where = redact(headers.get("Location", "") or "an unspecified location")
        reason = f"HTTP {status}: endpoint redirects to {where}; update the URL"
        return Verdict(Outcome.REJECTED, reason)
    if status == 410:
        return Verdict(Outcome.GONE, "HTTP 410: the endpoint is gone; output disabled for this run")
    if status in (401, 403):
        return Verdict(Outcome.AUTH, f"HTTP {status}: the receiver refused our credentials")
    detail = _snippet(text)
    return Verdict(Outcome.REJECTED, f"HTTP {status}" + (f": {detail}" if detail else ""))


def _retriable(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate problem does not heal by retrying
    return isinstance(exc, RetryLater | requests.ConnectionError | requests.Timeout)


_backoff = tenacity.wait_exponential_jitter(initial=1, max=60, jitter=2)


def _wait(state: tenacity.RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RetryLater) and exc.verdict.retry_after is not None:
        return exc.verdict.retry_after
    return float(_backoff(state))


class _StopAtDeadline(tenacity.stop.stop_base):
    """Stop when the next wait would end after the run deadline (checked after `wait`)."""

    def __init__(self, deadline: float, monotonic: Callable[[], float]) -> None:
        self._deadline = deadline
        self._monotonic = monotonic

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self._monotonic() + retry_state.upcoming_sleep > self._deadline


def retry_policy(
    *,
    deadline: float,
    max_retry_time: float,
    monotonic: Callable[[], float],
    sleep: Callable[[float], None],
    label: str,
) -> tenacity.Retrying:
    """The tenacity policy for one webhook delivery; re-raises the last exception."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        why = str(exc) if isinstance(exc, RetryLater) else type(exc).__name__
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1f s",
            label,
            state.attempt_number,
            why,
            state.upcoming_sleep,
        )

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(_retriable),
        wait=_wait,
        stop=(
            tenacity.stop_after_attempt(MAX_ATTEMPTS)
            | tenacity.stop_after_delay(max_retry_time)
            | _StopAtDeadline(deadline, monotonic)
        ),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
