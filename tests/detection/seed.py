"""Event builders for the seed rule (Suspicious Command Prompt Network Connection)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connector.timeutil import format_utc

T0 = datetime(2026, 11, 20, 10, 15, 1, 870000, tzinfo=UTC)
SEED_RULE_ID = "89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"
_counter = iter(range(1, 1_000_000))


def at(seconds: float) -> str:
    """The ISO timestamp `seconds` after T0."""
    return format_utc(T0 + timedelta(seconds=seconds))


def start(seconds: float, **overrides: Any) -> dict[str, Any]:
    """A cmd.exe process start that satisfies stage 1 (a `.bat` argument)."""
    event: dict[str, Any] = {
        "@timestamp": at(seconds),
        "event.id": f"start-{next(_counter)}",
        "event.category": ["process"],
        "event.type": ["start"],
        "host.os.type": "windows",
        "host.name": "WKS-0001",
        "process.name": "cmd.exe",
        "process.entity_id": "E1",
        "process.args": ["cmd.exe", "/c", "run.bat"],
        "process.command_line": "cmd.exe /c run.bat",
        "process.parent.name": "explorer.exe",
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}


def connect(seconds: float, ip: str | None = "8.8.8.8", **overrides: Any) -> dict[str, Any]:
    """A network event of the same cmd.exe process (stage 2 unless the address is private)."""
    event: dict[str, Any] = {
        "@timestamp": at(seconds),
        "event.id": f"net-{next(_counter)}",
        "event.category": ["network"],
        "event.type": ["start", "connection"],
        "host.os.type": "windows",
        "host.name": "WKS-0001",
        "process.name": "cmd.exe",
        "process.entity_id": "E1",
        "destination.ip": ip,
        "destination.port": 443,
    }
    event.update(overrides)
    return {k: v for k, v in event.items() if v is not None}
