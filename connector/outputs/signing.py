"""Webhook request headers: ids and signatures (Standard Webhooks, GitHub, Stripe styles).

Every request carries `webhook-id` (`msg_` + 32 hex of sha256(`alert id|output name`), the
same on every attempt and every run), `webhook-timestamp` (Unix seconds of *this* attempt) and
`Idempotency-Key` (the `webhook-id`, for receivers following the IETF draft). When the output
has a secret, one signature header is added by `signature` style:

| style      | header                | value                                                   |
|------------|-----------------------|---------------------------------------------------------|
| `standard` | `webhook-signature`   | `v1,` + base64 HMAC-SHA256(key, `{id}.{ts}.` + body) (1) |
| `github`   | `X-Hub-Signature-256` | `sha256=` + hex HMAC-SHA256(secret, body)                |
| `stripe`   | `Stripe-Signature`    | `t={ts},v1=` + hex HMAC-SHA256(secret, `{ts}.` + body)   |

(1) key = the base64-decoded secret after `whsec_`. GitHub and Stripe use the secret as is.

Signatures cover the timestamp, so they are computed per attempt and never stored.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr

from connector.errors import SecretError

__all__ = ["SignatureStyle", "Signer", "standard_key", "webhook_id"]

SignatureStyle = Literal["standard", "github", "stripe"]
_SECRET_PREFIX = "whsec_"


def webhook_id(alert_id: str, output_name: str) -> str:
    """The Standard Webhooks message id for an alert on one output (no `.` ever)."""
    digest = hashlib.sha256(f"{alert_id}|{output_name}".encode()).hexdigest()
    return "msg_" + digest[:32]


def standard_key(secret: SecretStr, where: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret (`whsec_` + base64).

    Raises SecretError naming `where` (never the secret) when it lacks the prefix or is not
    valid base64.
    """
    value = secret.get_secret_value()
    if not value.startswith(_SECRET_PREFIX):
        raise SecretError(
            f"{where}: the webhook secret does not start with 'whsec_' (a Standard Webhooks "
            "secret is 'whsec_' + base64); use signature = 'github' or 'stripe' for raw secrets"
        )
    text = value.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SecretError(
            f"{where}: the webhook secret is not a Standard Webhooks secret "
            "('whsec_' followed by base64); use signature = 'github' or 'stripe' for raw secrets"
        ) from exc
    if not key:
        raise SecretError(f"{where}: the webhook secret is empty after 'whsec_'")
    return key


def _hmac(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


@dataclass(frozen=True)
class Signer:
    """Builds the per-attempt headers for one output. `secret=None` sends unsigned requests."""

    style: SignatureStyle = "standard"
    secret: SecretStr | None = None
    where: str = "webhook output"

    def __post_init__(self) -> None:
        if self.secret is not None and self.style == "standard":
            standard_key(self.secret, self.where)  # fail at start-up, not on the first alert

    def headers(self, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
        headers = {
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
            "Idempotency-Key": msg_id,
        }
        if self.secret is not None:
            headers.update(self._signature(msg_id, timestamp, body, self.secret))
        return headers

    def _signature(
        self, msg_id: str, timestamp: int, body: bytes, secret: SecretStr
    ) -> dict[str, str]:
        if self.style == "github":
            raw = secret.get_secret_value().encode()
            return {"X-Hub-Signature-256": "sha256=" + _hmac(raw, body).hex()}
        if self.style == "stripe":
            raw = secret.get_secret_value().encode()
            mac = _hmac(raw, f"{timestamp}.".encode() + body).hex()
            return {"Stripe-Signature": f"t={timestamp},v1={mac}"}
        key = standard_key(secret, self.where)
        digest = _hmac(key, f"{msg_id}.{timestamp}.".encode() + body)
        return {"webhook-signature": "v1," + base64.b64encode(digest).decode("ascii")}
