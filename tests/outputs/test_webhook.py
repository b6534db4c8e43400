"""The webhook output with `responses`: signing, retries, outcomes, redirects, templates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
import requests
import responses
import standardwebhooks
from pydantic import SecretStr

from connector.config import WebhookOutputConfig
from connector.errors import SecretError
from connector.outputs import open_output
from connector.outputs.base import Delivery, Outcome, Pending
from connector.outputs.signing import webhook_id
from connector.outputs.webhook import WebhookOutput
from connector.outputs.webhook_policy import classify, parse_retry_after

URL = "https://hooks.example.com/s1"
KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
NOW = 1_795_169_702.0  # 2026-11-20T10:15:02Z


def cfg(**extra: Any) -> WebhookOutputConfig:
    values: dict[str, Any] = {"type": "webhook", "name": "soc", "url": URL} | extra
    return WebhookOutputConfig(**values)


class Run:
    """One output run with recorded sleeps and a fixed clock."""

    def __init__(self, config: WebhookOutputConfig | None = None, secret: str | None = SECRET):
        self.sleeps: list[float] = []
        self.output = WebhookOutput(
            config or cfg(),
            SecretStr(secret) if secret else None,
            sleep=self.sleeps.append,
            clock=lambda: NOW,
        )

    def send(self, *items: Pending, budget: float = 60.0) -> list[Delivery]:
        with self.output as output:
            return output.send(list(items), time.monotonic() + budget)


def pending(alert: dict[str, Any], output: WebhookOutput | None = None) -> Pending:
    body = (output or WebhookOutput(cfg())).render(alert)
    return Pending(alert["event"]["id"], body)


def verify_standard(headers: Any, body: bytes, secret: str) -> bool:
    """Standard Webhooks verification written from the spec: HMAC over `id.timestamp.body`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(sig, expected) for sig in headers["webhook-signature"].split(" ")
    )


def calls() -> list[Any]:
    return list(responses.calls)


# --- signing ----------------------------------------------------------------------------------


@responses.activate
def test_signature_verifies_with_an_independent_implementation(alert: dict[str, Any]) -> None:
    responses.post(URL, status=204)
    item = pending(alert)
    assert Run().send(item)[0].outcome is Outcome.DELIVERED
    request = calls()[0].request
    assert request.body == item.body
    assert verify_standard(request.headers, item.body, SECRET)
    assert not verify_standard(request.headers, item.body + b" ", SECRET)
    assert request.headers["webhook-timestamp"] == str(int(NOW))
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"].startswith("s1-connector/")


@responses.activate
def test_signature_verifies_with_the_standardwebhooks_package(alert: dict[str, Any]) -> None:
    responses.post(URL, status=200)
    item = pending(alert)
    output = WebhookOutput(cfg(), SecretStr(SECRET))  # real clock: the package checks freshness
    with output:
        assert output.send([item], time.monotonic() + 30)[0].outcome is Outcome.DELIVERED
    headers = dict(calls()[0].request.headers)
    payload = standardwebhooks.Webhook(SECRET).verify(item.body, headers)
    assert payload["data"]["event"]["id"] == alert["event"]["id"]


def test_webhook_id_is_stable_and_derived_from_alert_and_output() -> None:
    expected = "msg_" + hashlib.sha256(b"abc|soc").hexdigest()[:32]
    assert webhook_id("abc", "soc") == expected
    assert webhook_id("abc", "other") != expected
    assert "." not in expected


@responses.activate
def test_same_webhook_id_across_runs(alert: dict[str, Any]) -> None:
    responses.post(URL, status=200)
    item = pending(alert)
    Run().send(item)
    Run().send(pending(json.loads(json.dumps(alert))))
    first, second = (c.request for c in calls())
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.headers["Idempotency-Key"] == first.headers["webhook-id"]
    assert first.body == second.body


@pytest.mark.parametrize("style", ["github", "stripe"])
@responses.activate
def test_github_and_stripe_signatures(alert: dict[str, Any], style: str) -> None:
    responses.post(URL, status=200)
    secret = "plain-shared-secret"
    item = pending(alert)
    Run(cfg(signature=style), secret=secret).send(item)
    headers = calls()[0].request.headers
    if style == "github":
        mac = hmac.new(secret.encode(), item.body, hashlib.sha256).hexdigest()
        assert headers["X-Hub-Signature-256"] == f"sha256={mac}"
    else:
        signed = f"{int(NOW)}.".encode() + item.body
        digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        assert headers["Stripe-Signature"] == f"t={int(NOW)},v1={digest}"
    assert "webhook-signature" not in headers


@responses.activate
def test_unsigned_without_a_secret_but_still_identified(alert: dict[str, Any]) -> None:
    responses.post(URL, status=200)
    Run(secret=None).send(pending(alert))
    headers = calls()[0].request.headers
    assert "webhook-signature" not in headers
    assert headers["webhook-id"].startswith("msg_") and headers["webhook-timestamp"]


@responses.activate
def test_custom_headers_are_sent_but_cannot_override_protocol_headers(
    alert: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    responses.post(URL, status=200)
    config = cfg(headers={"X-Tenant": "blue", "webhook-id": "forged"})
    Run(config).send(pending(alert))
    headers = calls()[0].request.headers
    assert headers["X-Tenant"] == "blue"
    assert headers["webhook-id"] != "forged"
    assert "set by the connector" in caplog.text


def test_a_malformed_standard_secret_is_a_config_error_without_the_secret() -> None:
    with pytest.raises(SecretError) as info:
        WebhookOutput(cfg(), SecretStr("whsec_not*base64!"))
    assert "not*base64" not in str(info.value) and "soc" in str(info.value)


def test_open_output_requires_the_named_secret_variable() -> None:
    with pytest.raises(SecretError, match="S1_HOOK"):
        open_output(cfg(secret_env="S1_HOOK"), env={})
    output = open_output(cfg(secret_env="S1_HOOK"), env={"S1_HOOK": SECRET})
    assert isinstance(output, WebhookOutput) and output.name == "soc"


# --- retries and outcomes ---------------------------------------------------------------------


@responses.activate
def test_retry_sequence_429_503_200_honours_retry_after(alert: dict[str, Any]) -> None:
    later = format_datetime(datetime.fromtimestamp(NOW, UTC) + timedelta(seconds=7), usegmt=True)
    responses.post(URL, status=429, headers={"Retry-After": "3"})
    responses.post(URL, status=503, headers={"Retry-After": later})
    responses.post(URL, status=200)
    run = Run()
    item = pending(alert)
    answers = run.send(item)
    assert answers == [Delivery(item.alert_id, Outcome.DELIVERED)]
    assert run.sleeps == [3.0, 7.0]
    requests_sent = [c.request for c in calls()]
    assert len(requests_sent) == 3
    assert {r.body for r in requests_sent} == {item.body}
    assert len({r.headers["webhook-id"] for r in requests_sent}) == 1
    assert all(verify_standard(r.headers, item.body, SECRET) for r in requests_sent)


@responses.activate
def test_400_is_final_and_not_retried(alert: dict[str, Any]) -> None:
    responses.post(URL, status=400, body="invalid_payload: missing text")
    run = Run()
    answer = run.send(pending(alert))[0]
    assert answer.outcome is Outcome.REJECTED
    assert answer.reason == "HTTP 400: invalid_payload: missing text"
    assert len(calls()) == 1 and run.sleeps == []


@responses.activate
def test_410_disables_the_output_for_the_run(alert: dict[str, Any]) -> None:
    responses.post(URL, status=410)
    run = Run()
    answers = run.send(pending(alert), Pending("second", b"{}"))
    assert [a.outcome for a in answers] == [Outcome.GONE, Outcome.GONE]
    assert answers[1].alert_id == "second"
    assert len(calls()) == 1


@responses.activate
def test_redirects_are_not_followed(alert: dict[str, Any]) -> None:
    target = "https://elsewhere.example.net/hook"
    responses.post(URL, status=302, headers={"Location": target})
    followed = responses.post(target, status=200)
    answer = Run().send(pending(alert))[0]
    assert answer.outcome is Outcome.REJECTED
    assert target in answer.reason and "update the URL" in answer.reason
    assert followed.call_count == 0 and len(calls()) == 1


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_auth_failures_stop_the_output(alert: dict[str, Any], status: int) -> None:
    responses.post(URL, status=status)
    answers = Run().send(pending(alert), Pending("second", b"{}"))
    assert [a.outcome for a in answers] == [Outcome.AUTH, Outcome.AUTH]
    assert len(calls()) == 1


@responses.activate
def test_network_errors_are_retried_then_left_for_the_next_run(alert: dict[str, Any]) -> None:
    responses.post(URL, body=requests.ConnectionError(f"cannot reach {URL}"))
    run = Run()
    answer = run.send(pending(alert))[0]
    assert answer.outcome is Outcome.RETRY
    assert answer.reason == "network error: ConnectionError"
    assert len(calls()) == 5 and len(run.sleeps) == 4
    assert all(0 <= s <= 62 for s in run.sleeps)


@responses.activate
def test_tls_failures_are_not_retried(alert: dict[str, Any]) -> None:
    responses.post(URL, body=requests.exceptions.SSLError("certificate verify failed"))
    answers = Run().send(pending(alert), Pending("second", b"{}"))
    assert [a.outcome for a in answers] == [Outcome.REJECTED, Outcome.REJECTED]
    assert "TLS verification" in answers[0].reason
    assert len(calls()) == 1


@responses.activate
def test_persistent_503_gives_up_after_five_attempts(alert: dict[str, Any]) -> None:
    responses.post(URL, status=503, headers={"Retry-After": "2"})
    run = Run()
    answer = run.send(pending(alert))[0]
    assert answer.outcome is Outcome.RETRY and answer.retry_after == 2.0
    assert len(calls()) == 5 and run.sleeps == [2.0] * 4


@responses.activate
def test_never_waits_past_the_deadline(alert: dict[str, Any]) -> None:
    responses.post(URL, status=429, headers={"Retry-After": "120"})
    run = Run()
    answer = run.send(pending(alert), budget=10)[0]
    assert answer.outcome is Outcome.RETRY and answer.retry_after == 120.0
    assert run.sleeps == [] and len(calls()) == 1


@responses.activate
def test_nothing_is_sent_after_the_deadline(alert: dict[str, Any]) -> None:
    responses.post(URL, status=200)
    answer = Run().send(pending(alert), budget=-1)[0]
    assert answer.outcome is Outcome.RETRY and "deadline" in answer.reason
    assert calls() == []


@responses.activate
def test_the_secret_never_reaches_logs_or_reasons(
    alert: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    responses.post(URL, status=500, body=f"echo {SECRET}")
    responses.post(URL, status=400, body=f"echo {SECRET}")
    answer = Run().send(pending(alert))[0]
    assert answer.outcome is Outcome.REJECTED
    assert SECRET not in caplog.text and SECRET not in answer.reason
    assert base64.b64encode(KEY).decode() not in caplog.text


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("3", 3.0),
        ("0", 0.0),
        ("100000", 300.0),
        ("Fri, 20 Nov 2026 10:15:12 GMT", 10.0),
        ("Fri, 20 Nov 2026 10:00:00 GMT", 0.0),
        ("soon", None),
        ("-5", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    assert parse_retry_after(value, now) == seconds


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (202, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (408, Outcome.RETRY),
        (425, Outcome.RETRY),
        (429, Outcome.RETRY),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (301, Outcome.REJECTED),
        (307, Outcome.REJECTED),
        (400, Outcome.REJECTED),
        (404, Outcome.REJECTED),
        (413, Outcome.REJECTED),
        (422, Outcome.REJECTED),
        (410, Outcome.GONE),
        (401, Outcome.AUTH),
        (403, Outcome.AUTH),
    ],
)
def test_classify(status: int, outcome: Outcome) -> None:
    assert classify(status, {}, "").outcome is outcome


# --- templates --------------------------------------------------------------------------------


def test_ecs_template_is_the_standard_webhooks_envelope(alert: dict[str, Any]) -> None:
    body = json.loads(WebhookOutput(cfg()).render(alert))
    assert body == {"type": "alert.created", "timestamp": alert["event"]["created"], "data": alert}


def test_render_is_deterministic(alert: dict[str, Any]) -> None:
    output = WebhookOutput(cfg())
    assert output.render(alert) == WebhookOutput(cfg()).render(json.loads(json.dumps(alert)))


def test_ecs_body_is_shrunk_under_20_kb_keeping_ids(alert: dict[str, Any]) -> None:
    alert["process"]["command_line"] = "x" * 50_000
    raw = WebhookOutput(cfg()).render(alert)
    body = json.loads(raw)
    assert len(raw) <= 20_000
    assert body["data"]["event"]["id"] == alert["event"]["id"]
    assert [e["event"]["id"] for e in body["data"]["sequence"]["events"]] == [
        e["event"]["id"] for e in alert["sequence"]["events"]
    ]


def test_slack_escapes_mentions_and_respects_block_limits(alert: dict[str, Any]) -> None:
    alert["host"]["name"] = "<!channel> & <https://evil.example|click>"
    alert["rule"]["name"] = "R" * 400
    alert["user"]["name"] = "u" * 5000
    alert["process"]["command_line"] = "<!here> " + "c" * 10_000
    body = json.loads(WebhookOutput(cfg(template="slack")).render(alert))
    blocks = body["blocks"]
    mrkdwn = [body["text"]] + [
        element["text"]
        for block in blocks
        for element in block.get("fields", []) + block.get("elements", [])
        if element.get("type") == "mrkdwn"
    ]
    assert mrkdwn and not any("<" in text or ">" in text for text in mrkdwn)
    assert "&lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;" in body["text"]
    assert len(blocks[0]["text"]["text"]) <= 150 and blocks[0]["text"]["type"] == "plain_text"
    fields = next(b for b in blocks if "fields" in b)["fields"]
    assert len(fields) <= 10 and all(len(f["text"]) <= 2000 for f in fields)
    sections = [b["text"]["text"] for b in blocks if b["type"] == "section" and "text" in b]
    assert all(len(text) <= 3000 for text in sections)
    command = next(b for b in blocks if b["type"] == "section" and "Command line" in str(b))
    assert command["text"]["type"] == "plain_text"  # never parsed for mentions
    assert len(blocks) <= 50 and body["text"]


def test_teams_template_is_an_adaptive_card_with_a_console_link(alert: dict[str, Any]) -> None:
    body = json.loads(WebhookOutput(cfg(template="teams")).render(alert))
    assert body["type"] == "message"
    attachment = body["attachments"][0]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Host"] == "WS-0042" and facts["Remote"] == "203.0.113.9:443"
    assert card["actions"][0]["url"] == alert["sentinel_one"]["console_url"]


def test_teams_body_stays_under_28_kb(alert: dict[str, Any]) -> None:
    alert["process"]["command_line"] = "y" * 60_000
    assert len(WebhookOutput(cfg(template="teams")).render(alert)) <= 28_000
