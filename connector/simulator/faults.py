"""Fault injection: what can go wrong on the wire, when, reproducibly.

Each fault has a `Trigger`: a probability per request and/or the request numbers (1-based,
counted from the last `set_faults`) on which it fires for sure. Draws come from one
`random.Random(seed)` in a fixed order per request, so the same request sequence with the same
seed meets the same faults.

| field             | what the client sees                                                    |
|-------------------|-------------------------------------------------------------------------|
| `drop`            | the connection closes with no response                                  |
| `http_500/502/503`| that status with the console's error envelope                          |
| `http_429`        | 429 with `Retry-After: <retry_after_s>`                                 |
| `http_429_bare`   | 429 without `Retry-After` (what recorded DV responses look like)        |
| `slow`            | the answer comes `slow_s` seconds late                                  |
| `expire`          | the query named by the request expires first (DV `QUERY_EXPIRED`, 404)  |
| `fail`            | a new query ends `FAILED` (DV) / with a non-null `error` (SDL)          |
| `result_cap`      | every query returns at most this many events (per-query cap)            |
| `init_query_per_minute` | more DV init-queries than this in 60 s get 429 (the documented 1/min) |

`only` restricts the per-request faults to some endpoint labels (`dv/events`,
`sdl/queries:GET`, ...); empty means every API endpoint. The admin endpoint is never faulted.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

__all__ = ["REQUEST_FAULTS", "Decision", "FaultInjector", "Faults", "Trigger"]


@dataclass(frozen=True)
class Trigger:
    """When one fault fires: with probability `rate`, and always on request numbers `nth`."""

    rate: float = 0.0
    nth: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, not {self.rate}")
        if any(n < 1 for n in self.nth):
            raise ValueError(f"fault request numbers start at 1: {self.nth}")

    @property
    def armed(self) -> bool:
        return self.rate > 0 or bool(self.nth)

    @classmethod
    def parse(cls, value: Any) -> Trigger:
        """Read `0.2`, `{"rate": 0.2, "nth": [3, 5]}`, `"@3"` or `"0.2@3,5"` (CLI form)."""
        if isinstance(value, Trigger):
            return value
        if isinstance(value, bool):
            raise ValueError(f"not a fault trigger: {value!r}")
        if isinstance(value, int | float):
            return cls(rate=float(value))
        if isinstance(value, Mapping):
            unknown = set(value) - {"rate", "nth"}
            if unknown:
                raise ValueError(f"unknown trigger keys {sorted(unknown)}")
            return cls(float(value.get("rate", 0.0)), tuple(int(n) for n in value.get("nth", ())))
        if isinstance(value, str):
            return cls._parse_text(value)
        raise ValueError(f"not a fault trigger: {value!r}")

    @classmethod
    def _parse_text(cls, text: str) -> Trigger:
        rate_text, _, nth_text = text.strip().partition("@")
        try:
            rate = float(rate_text) if rate_text else 0.0
            nth = tuple(int(n) for n in nth_text.split(",") if n.strip())
        except ValueError as exc:
            raise ValueError(f"not a fault trigger: {text!r} (use 0.2, @3 or 0.2@3,5)") from exc
        return cls(rate, nth)

    def to_dict(self) -> dict[str, Any]:
        return {"rate": self.rate, "nth": list(self.nth)}


REQUEST_FAULTS = (
    "drop",
    "http_500",
    "http_502",
    "http_503",
    "http_429",
    "http_429_bare",
    "slow",
    "expire",
    "fail",
)
"""Per-request faults, in the order they are drawn (the first that fires wins, except `slow`,
which delays whatever answer follows, and `expire`/`fail`, which change the query)."""


@dataclass(frozen=True)
class Faults:
    """The faults the simulator injects; the default injects nothing."""

    drop: Trigger = field(default_factory=Trigger)
    http_500: Trigger = field(default_factory=Trigger)
    http_502: Trigger = field(default_factory=Trigger)
    http_503: Trigger = field(default_factory=Trigger)
    http_429: Trigger = field(default_factory=Trigger)
    http_429_bare: Trigger = field(default_factory=Trigger)
    slow: Trigger = field(default_factory=Trigger)
    expire: Trigger = field(default_factory=Trigger)
    fail: Trigger = field(default_factory=Trigger)
    slow_s: float = 2.0
    retry_after_s: int = 1
    result_cap: int | None = None
    init_query_per_minute: int | None = None
    only: tuple[str, ...] = ()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Faults:
        """Build from JSON-like data (the admin endpoint's body); raise ValueError naming
        every unknown key or bad value."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault keys {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        for name, raw in data.items():
            values[name] = _coerce(name, raw)
        return cls(**values)

    @classmethod
    def from_options(cls, options: list[str] | tuple[str, ...]) -> Faults:
        """Build from CLI options `NAME=VALUE` (`http_503=0.2`, `drop=@3`, `slow_s=1.5`,
        `only=dv/events,sdl/queries:GET`); raise ValueError naming the bad option."""
        data: dict[str, Any] = {}
        for option in options:
            name, sep, value = option.partition("=")
            if not sep or not name.strip():
                raise ValueError(f"fault option {option!r} is not NAME=VALUE")
            name = name.strip()
            data[name] = value.split(",") if name == "only" else value.strip()
        return cls.from_mapping(data)

    def with_rate(self, rate: float, names: tuple[str, ...] = REQUEST_FAULTS) -> Faults:
        """The same faults with each named one firing at `rate` (for "20 % of everything")."""
        triggers: dict[str, Any] = {name: Trigger(rate) for name in names}
        return replace(self, **triggers)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.to_dict() if isinstance(value, Trigger) else value
        out["only"] = list(self.only)
        return out


def _coerce(name: str, raw: Any) -> Any:
    try:
        if name in REQUEST_FAULTS:
            return Trigger.parse(raw)
        if name == "only":
            return tuple(str(label) for label in raw)
        if name in ("result_cap", "init_query_per_minute"):
            return None if raw is None or raw == "" else _positive_int(raw)
        if name == "retry_after_s":
            return _positive_int(raw)
        return float(raw)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"fault {name}: {exc}") from exc


def _positive_int(raw: Any) -> int:
    if isinstance(raw, bool) or int(raw) < 0:
        raise ValueError(f"expected a non-negative integer, not {raw!r}")
    return int(raw)


@dataclass(frozen=True)
class Decision:
    """What the faults do to one request: at most one failure, plus delay and query damage."""

    failure: str | None = None
    delay_s: float = 0.0
    expire: bool = False
    fail: bool = False


class FaultInjector:
    """Draws the faults for each request; thread-safe; `reset` restarts the sequence."""

    def __init__(self, faults: Faults | None = None, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self.faults = faults or Faults()
        self._rng = random.Random(seed)
        self._count = 0
        self._init_times: list[float] = []

    def set(self, faults: Faults) -> None:
        """Replace the faults and restart request numbering and the random sequence."""
        with self._lock:
            self.faults = faults
            self._rng = random.Random(self._seed)
            self._count = 0
            self._init_times.clear()

    def decide(self, label: str) -> Decision:
        """Draw the faults for one API request with endpoint label `label`."""
        with self._lock:
            faults = self.faults
            if faults.only and label not in faults.only:
                return Decision()
            self._count += 1
            fired = {name for name in REQUEST_FAULTS if self._fires(getattr(faults, name))}
        failure = next((n for n in REQUEST_FAULTS[:6] if n in fired), None)
        return Decision(
            failure=failure,
            delay_s=faults.slow_s if "slow" in fired else 0.0,
            expire="expire" in fired,
            fail="fail" in fired,
        )

    def _fires(self, trigger: Trigger) -> bool:
        # Draw for every fault, armed or not, so adding one fault does not shift the others.
        draw = self._rng.random()
        return self._count in trigger.nth or draw < trigger.rate

    def init_query_allowed(self, now: float) -> bool:
        """Record a DV init-query at monotonic time `now`; False when over the rate limit."""
        with self._lock:
            limit = self.faults.init_query_per_minute
            if limit is None:
                return True
            self._init_times[:] = [t for t in self._init_times if now - t < 60.0]
            if len(self._init_times) >= limit:
                return False
            self._init_times.append(now)
            return True
