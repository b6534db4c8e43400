"""The webhook output: POST the rendered JSON body, signed per attempt, retried by policy.

`render` produces the body once (template `ecs`, `slack` or `teams`; see `templates`), and
every attempt in this run and later runs sends exactly those bytes with the same
`webhook-id`. Each attempt gets a fresh `webhook-timestamp` and signature (see `signing`).
Status codes are interpreted only by `webhook_policy.classify`; redirects are never followed.

Per-run state: after a 410 the output answers GONE without sending, after a 401/403 AUTH,
and after a TLS verification failure REJECTED, so one broken endpoint costs one request.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import requests
from pydantic import SecretStr

from connector import __version__
from connector.config import WebhookOutputConfig
from connector.outputs.base import Delivery, Outcome, Pending
from connector.outputs.signing import Signer, webhook_id
from connector.outputs.templates import render_body
from connector.outputs.webhook_policy import RetryLater, Verdict, classify, retry_policy

__all__ = ["WebhookOutput"]

log = logging.getLogger(__name__)
CONNECT_TIMEOUT_S = 5.0
_PROTOCOL_HEADERS = {
    "content-type",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "idempotency-key",
    "x-hub-signature-256",
    "stripe-signature",
}
_TLS_FAILED = Verdict(
    Outcome.REJECTED,
    "TLS verification of the endpoint failed; check the URL, ca_bundle and the certificate",
)


class WebhookOutput:
    """Delivers alerts to one HTTP endpoint. Use as a context manager (one session per run)."""

    def __init__(
        self,
        config: WebhookOutputConfig,
        secret: SecretStr | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = config.name
        self._config = config
        self._signer = Signer(config.signature, secret, where=f"output {config.name!r}")
        self._session = session
        self._own_session = session is None
        self._sleep, self._clock, self._monotonic = sleep, clock, monotonic
        self._stopped: Verdict | None = None
        self._extra_headers = _custom_headers(config.headers, config.name)

    def __enter__(self) -> WebhookOutput:
        if self._session is None:
            self._session = requests.Session()
        verify: bool | str = self._config.verify_tls
        if self._config.ca_bundle is not None:
            verify = str(self._config.ca_bundle)
        self._session.verify = verify
        if not self._config.verify_tls:
            log.warning("output %s: TLS certificate verification is OFF", self.name)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._own_session and self._session is not None:
            self._session.close()
            self._session = None

    def render(self, alert: dict[str, Any]) -> bytes:
        """The request body for this output's template (deterministic)."""
        return render_body(self._config.template, alert)

    def send(self, batch: Sequence[Pending], deadline: float) -> list[Delivery]:
        """POST each item in order; one Delivery each. Never sleeps past `deadline`."""
        return [self._deliver(item, deadline) for item in batch]

    def _deliver(self, item: Pending, deadline: float) -> Delivery:
        if self._stopped is not None:
            return _answer(item, self._stopped)
        if self._monotonic() >= deadline:
            return Delivery(item.alert_id, Outcome.RETRY, "run deadline reached before sending")
        verdict = self._attempts(item, deadline)
        if verdict.outcome in (Outcome.GONE, Outcome.AUTH) or verdict is _TLS_FAILED:
            self._stopped = verdict
        if verdict.outcome is not Outcome.DELIVERED:
            log.warning(
                "output %s: alert %s %s: %s",
                self.name,
                item.alert_id,
                verdict.outcome.value,
                verdict.reason,
            )
        return _answer(item, verdict)

    def _attempts(self, item: Pending, deadline: float) -> Verdict:
        policy = retry_policy(
            deadline=deadline,
            max_retry_time=self._config.max_retry_time.total_seconds(),
            monotonic=self._monotonic,
            sleep=self._sleep,
            label=f"output {self.name}: alert {item.alert_id}",
        )
        try:
            verdict: Verdict = policy(self._post, item, deadline)
        except RetryLater as exc:
            return exc.verdict
        except requests.exceptions.SSLError:
            return _TLS_FAILED
        except requests.RequestException as exc:
            # The exception text can contain the URL (a credential for Slack/Teams): type only.
            return Verdict(Outcome.RETRY, f"network error: {type(exc).__name__}")
        return verdict

    def _post(self, item: Pending, deadline: float) -> Verdict:
        """One request. Raises RetryLater for a retriable status; requests errors pass up.

        The read timeout is cut to what is left of the run (at least 1 s), so a slow
        receiver cannot hold the run far past its deadline.
        """
        assert self._session is not None, "use the output as a context manager"
        headers = {**self._extra_headers, **self._base_headers()}
        headers.update(
            self._signer.headers(
                webhook_id(item.alert_id, self.name), int(self._clock()), item.body
            )
        )
        response = self._session.post(
            self._config.url,
            data=item.body,
            headers=headers,
            timeout=(CONNECT_TIMEOUT_S, self._read_timeout(deadline)),
            allow_redirects=False,
        )
        with response:
            verdict = classify(
                response.status_code,
                response.headers,
                _text(response),
                datetime.fromtimestamp(self._clock(), UTC),
            )
        if verdict.outcome is Outcome.RETRY:
            raise RetryLater(verdict)
        return verdict

    def _read_timeout(self, deadline: float) -> float:
        left = deadline - self._monotonic()
        return max(1.0, min(self._config.timeout.total_seconds(), left))

    @staticmethod
    def _base_headers() -> dict[str, str]:
        return {"Content-Type": "application/json", "User-Agent": f"s1-connector/{__version__}"}


def _text(response: requests.Response) -> str:
    """The start of the response body, for a rejection reason; never raises."""
    try:
        return response.content[:1024].decode("utf-8", "replace")
    except requests.RequestException:
        return ""


def _answer(item: Pending, verdict: Verdict) -> Delivery:
    return Delivery(item.alert_id, verdict.outcome, verdict.reason, verdict.retry_after)


def _custom_headers(headers: Mapping[str, str], name: str) -> dict[str, str]:
    """The configured extra headers, minus any that would override the protocol headers."""
    kept = {}
    for key, value in headers.items():
        if key.lower() in _PROTOCOL_HEADERS:
            log.warning("output %s: header %r is set by the connector; ignoring it", name, key)
            continue
        kept[key] = value
    return kept
