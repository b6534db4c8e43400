"""The contract every alert output implements.

An output is opened once per run (context manager), renders each alert **once** into the
exact bytes it will send (those bytes are stored in the outbox, so every retry and every
later run sends the same body), and answers per alert with an `Outcome`:

| outcome     | meaning                                                    | outbox row          |
|-------------|------------------------------------------------------------|---------------------|
| DELIVERED   | the receiver took it (UDP: the kernel took the datagram)   | deleted; recorded   |
| RETRY       | try again later (network error, 408/425/429/5xx)           | kept; next attempt  |
| REJECTED    | this alert will never be accepted as is (400, 413, …)      | kept; needs a person|
| GONE        | the endpoint is gone (410): the output is disabled this run| kept                |
| AUTH        | 401/403: credentials wrong                                 | kept; exit 77       |

Outputs never sleep past `deadline` (a `time.monotonic()` value) and never raise for a
per-alert problem: they answer it. They raise `OutputFatal` only when they cannot work at all
(bad TLS files, name does not resolve) — that is an answer for every alert of the batch.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Delivery", "Outcome", "Output", "Pending"]


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"
    GONE = "gone"
    AUTH = "auth"


@dataclass(frozen=True)
class Pending:
    """One queued alert for one output: its id and the bytes `render` produced."""

    alert_id: str
    body: bytes


@dataclass(frozen=True)
class Delivery:
    """The answer for one alert. `retry_after` is seconds the receiver asked us to wait."""

    alert_id: str
    outcome: Outcome
    reason: str = ""
    retry_after: float | None = None


class Output(Protocol):
    """A destination for alerts (webhook, syslog, file)."""

    name: str

    def render(self, alert: dict[str, Any]) -> bytes:
        """The exact bytes to store and send for this nested alert document.

        Deterministic for a given alert, so a re-detected alert renders identically.
        """
        ...

    def send(self, batch: Sequence[Pending], deadline: float) -> list[Delivery]:
        """Deliver a batch in order; one `Delivery` per item, in the same order."""
        ...

    def __enter__(self) -> Output: ...

    def __exit__(self, *exc: object) -> None: ...
