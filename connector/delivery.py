"""Draining the outbox into the outputs, recording every answer as it arrives.

Each acknowledgement is committed on its own (`store.ack`), so a crash re-sends at most the
alerts whose acknowledgement was not yet recorded — under the same alert id and the same
bytes. A row that fails stays queued with its attempt count and the time of its next
attempt (doubling from `backoff_base` up to an hour). After an answer of RETRY (the output
is down or overloaded) that output's remaining rows wait for the next run. A broken output
never delays or repeats deliveries to the healthy ones.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from connector.outputs.base import Delivery, Outcome, Output, Pending
from connector.state import StateStore

__all__ = ["DeliveryReport", "deliver_outbox", "next_attempt_delay"]

log = logging.getLogger(__name__)
MAX_BACKOFF_S = 3600.0


@dataclass
class DeliveryReport:
    """What delivery did in this run, per output name."""

    delivered: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    gone: set[str] = field(default_factory=set)
    auth_failed: set[str] = field(default_factory=set)


def next_attempt_delay(attempts: int, base_s: float, retry_after: float | None = None) -> float:
    """Seconds until the next attempt: the receiver's Retry-After if larger, else doubling."""
    delay = min(base_s * (2 ** max(attempts, 0)), MAX_BACKOFF_S) if base_s > 0 else 0.0
    return max(delay, retry_after or 0.0)


def deliver_outbox(
    store: StateStore,
    outputs: Sequence[Output],
    deadline: float,
    backoff_base_s: float,
    wall: Callable[[], float] = time.time,
) -> DeliveryReport:
    """Send every due outbox row to its output; record each outcome immediately."""
    drain = _Drain(store, backoff_base_s, wall)
    for output in outputs:
        if time.monotonic() >= deadline:
            log.warning(
                "run deadline reached before delivering to %s; rows stay queued", output.name
            )
            break
        drain.output(output, deadline)
    return drain.report


@dataclass
class _Drain:
    store: StateStore
    backoff_base_s: float
    wall: Callable[[], float]
    report: DeliveryReport = field(default_factory=DeliveryReport)

    def output(self, output: Output, deadline: float) -> None:
        # One row per send, its answer committed before the next send: a crash then
        # repeats only the row in flight, not everything sent earlier in a batch.
        for row in self.store.due(output.name, self.wall()):
            if time.monotonic() >= deadline:
                log.warning("run deadline reached while delivering to %s", output.name)
                return
            for answer in output.send([Pending(row.alert_id, row.body)], deadline):
                self.record(output.name, answer, row.attempts)
                if answer.outcome is Outcome.RETRY:
                    # The output is down or overloaded: the rest wait for the next run
                    # rather than each paying for its own timeouts and retries now.
                    return

    def record(self, name: str, answer: Delivery, attempts: int) -> None:
        now = self.wall()
        if answer.outcome is Outcome.DELIVERED:
            self.store.ack(answer.alert_id, name, now)
            self.report.delivered[name] += 1
            return
        self.report.failed[name] += 1
        if answer.outcome is Outcome.GONE:
            self.report.gone.add(name)
        if answer.outcome is Outcome.AUTH:
            self.report.auth_failed.add(name)
        rejected = answer.outcome is Outcome.REJECTED
        delay = next_attempt_delay(attempts, self.backoff_base_s, answer.retry_after)
        with self.store.transaction():
            self.store.fail(answer.alert_id, name, answer.reason, now + delay, rejected)
        log.warning(
            "output %s: alert %s %s: %s", name, answer.alert_id, answer.outcome.value, answer.reason
        )
