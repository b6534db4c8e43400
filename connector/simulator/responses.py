"""What the simulator answers: a transport-free `Reply`, and the console's error bodies.

Error bodies follow sentinelone-api.md §2.2. The management/DV envelope is
`{"errors": [{"code": <status*10000+n>, "detail": ..., "title": ...}]}`; the SDL long-running
query API answers `{"code": ..., "message": ..., "details": [...]}` (the shape OpenAEV reads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "AUTH_FAILED",
    "BAD_GATEWAY",
    "BAD_LIMIT",
    "COULD_NOT_PARSE",
    "LIMIT_DETAIL",
    "QUERY_NOT_FOUND",
    "SERVER_ERROR",
    "TOO_MANY",
    "UNAVAILABLE",
    "VALIDATION",
    "Reply",
    "dv_error",
    "json_reply",
    "sdl_error",
]

LIMIT_DETAIL = "Limit must be greater than or equals to 1 and less than equals to 1000"

AUTH_FAILED = (401, 4010010, "Authentication Failed", "Authentication failed")
BAD_LIMIT = (400, 4000010, "Validation Error", LIMIT_DETAIL)
COULD_NOT_PARSE = (400, 4000040, "Validation Error", "could not parse query")
QUERY_NOT_FOUND = (404, 4040010, "Not Found", "QueryId not found")
SERVER_ERROR = (500, 5000010, "Internal server error", "Server could not process the request.")
BAD_GATEWAY = (502, 5020010, "Bad Gateway", "Bad Gateway")
UNAVAILABLE = (503, 5030010, "Service Unavailable", "Service temporarily unavailable")
TOO_MANY = (429, 4290010, "Too Many Requests", "Too many requests")
VALIDATION = (400, 4000010, "Validation Error", "")


@dataclass
class Reply:
    """One HTTP answer. `drop` closes the connection without answering; `delay_s` waits first."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay_s: float = 0.0

    def json(self) -> Any:
        """The body parsed as JSON (for tests and the request log)."""
        return json.loads(self.body) if self.body else None


def json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    """A JSON answer with the given status."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    out = {"Content-Type": "application/json"}
    out.update(headers or {})
    return Reply(status, body, out)


def dv_error(kind: tuple[int, int, str, str], detail: str | None = None) -> Reply:
    """The management/DV error envelope; `detail` replaces the standard wording."""
    status, code, title, standard = kind
    error = {"code": code, "detail": detail if detail is not None else standard, "title": title}
    return json_reply(status, {"errors": [error]})


def sdl_error(status: int, message: str, details: list[dict[str, str]] | None = None) -> Reply:
    """The SDL long-running query API's error body."""
    payload = {"code": status * 10000 + 10, "message": message, "details": details or []}
    return json_reply(status, payload)
