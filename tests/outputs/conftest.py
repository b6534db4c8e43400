"""A realistic match of the seed rule (Office → cmd.exe /c → external connection).

The flat events are what the mapper produces for a Process Creation and an IP Connect
record of the same `cmd.exe` process (see ecs-mapping.md §4–§5).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from connector.alerts import build_alert
from connector.detection.model import Match, Rule

CREATED = datetime(2026, 11, 20, 10, 15, 2, 125000, tzinfo=UTC)
CONSOLE = "https://example.sentinelone.net"

SEED_RULE = Rule(
    rule_id="89f9a4b0-9f8f-4ee0-8823-c4751a6d6696",
    name="Suspicious Command Prompt Network Connection",
    query="sequence by process.entity_id with maxspan=15s [process where 1] [network where 1]",
    severity="low",
    risk_score=21,
    version="114",
    threat=(
        {
            "framework": "MITRE ATT&CK",
            "tactic": {
                "id": "TA0002",
                "name": "Execution",
                "reference": "https://attack.mitre.org/tactics/TA0002/",
            },
            "technique": [
                {
                    "id": "T1059",
                    "name": "Command and Scripting Interpreter",
                    "reference": "https://attack.mitre.org/techniques/T1059/",
                    "subtechnique": [{"id": "T1059.003", "name": "Windows Command Shell"}],
                }
            ],
        },
    ),
    tags=("Domain: Endpoint", "OS: Windows"),
)

START_EVENT: dict[str, Any] = {
    "@timestamp": "2026-11-20T10:15:01.870Z",
    "event.id": "649568400931684352",
    "event.kind": "event",
    "event.category": ["process"],
    "event.type": ["start"],
    "event.action": "start",
    "host.name": "WS-0042",
    "host.hostname": "WS-0042",
    "host.id": "7f3c2a10-1111-4222-8333-944455556666",
    "host.os.type": "windows",
    "user.name": "jdoe",
    "user.domain": "CORP",
    "process.entity_id": "A1B2C3D4E5F60718",
    "process.pid": 4412,
    "process.name": "cmd.exe",
    "process.executable": "C:\\Windows\\System32\\cmd.exe",
    "process.command_line": "cmd.exe /c C:\\Temp\\run.bat https://203.0.113.9/p key=1",
    "process.args": ["cmd.exe", "/c", "C:\\Temp\\run.bat", "https://203.0.113.9/p", "key=1"],
    "process.parent.name": "WINWORD.EXE",
    "process.parent.executable": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    "sentinel_one.tgt.process.storyline.id": "B9913CE1424F6FB2",
    "sentinel_one.src.process.storyline.id": "13D130A04AF01959",
    "sentinel_one.site.id": "1234567890",
}

NETWORK_EVENT: dict[str, Any] = {
    "@timestamp": "2026-11-20T10:15:06.070Z",
    "event.id": "649568400931684999",
    "event.kind": "event",
    "event.category": ["network"],
    "event.type": ["start", "connection"],
    "event.action": "connection_attempted",
    "network.direction": "egress",
    "network.protocol": "tcp",
    "host.name": "WS-0042",
    "host.id": "7f3c2a10-1111-4222-8333-944455556666",
    "process.entity_id": "A1B2C3D4E5F60718",
    "process.pid": 4412,
    "process.name": "cmd.exe",
    "source.ip": "10.20.1.15",
    "source.port": 49822,
    "destination.ip": "203.0.113.9",
    "destination.port": 443,
}


def seed_match() -> Match:
    return Match(
        rule=SEED_RULE, events=(START_EVENT, NETWORK_EVENT), join_key=("A1B2C3D4E5F60718",)
    )


@pytest.fixture
def match() -> Match:
    return seed_match()


@pytest.fixture
def alert() -> dict[str, Any]:
    return build_alert(seed_match(), created=CREATED, console_url=CONSOLE)
