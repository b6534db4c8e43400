"""One HTTP request as the simulator's handlers see it (no sockets), and a settable clock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connector.timeutil import EPOCH, to_datetime

__all__ = ["BadRequest", "Clock", "Request", "parse_when"]


class BadRequest(ValueError):
    """A request the API would refuse as malformed; the message is the error detail."""


@dataclass(frozen=True)
class Request:
    """Method, path, first value of each query parameter, lower-cased headers, raw body."""

    method: str
    path: str
    params: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json_object(self) -> dict[str, Any]:
        """The body as a JSON object; BadRequest otherwise."""
        try:
            payload = json.loads(self.body or b"null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadRequest(f"request body is not valid JSON: {exc}") from exc
        if not isinstance(payload, dict):
            raise BadRequest("request body must be a JSON object")
        return payload


def parse_when(value: Any, name: str) -> datetime:
    """A request time: ISO 8601 or epoch milliseconds (number or numeric string)."""
    if isinstance(value, bool) or value is None or value == "":
        raise BadRequest(f"{name} is required (ISO 8601 or epoch milliseconds)")
    moment: datetime | None
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        try:
            moment = EPOCH + timedelta(milliseconds=float(value))
        except OverflowError:
            moment = None
    else:
        moment = to_datetime(value)
    if moment is None:
        raise BadRequest(f"{name} is not a valid date: {value!r}")
    return moment


class Clock:
    """Monotonic seconds for query progress and expiry; tests may `advance` it by hand."""

    def __init__(self, manual: bool = False) -> None:
        self._lock = threading.Lock()
        self._manual = manual
        self._offset = 0.0
        self._fixed = 0.0

    def __call__(self) -> float:
        with self._lock:
            if self._manual:
                return self._fixed
            return time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        """Move time forward (a manual clock moves only this way)."""
        with self._lock:
            if self._manual:
                self._fixed += seconds
            else:
                self._offset += seconds
