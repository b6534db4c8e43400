"""Alerts of Sigma rules name the rule's author, licence and source (DRL 1.1) everywhere."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from connector.alerts import build_alert
from connector.detection.model import Match
from connector.detection.rules import load_rules
from connector.outputs.formats import render_cef, render_leef
from connector.outputs.templates import slack_body, teams_body
from tests.detection.sigma.conftest import SIGMAHQ

RULE = SIGMAHQ / "windows" / "network_connection" / "net_connection_win_addinutil_initiated.yml"
SOURCE = (
    "https://github.com/SigmaHQ/sigma/blob/master/rules/windows/network_connection/"
    "net_connection_win_addinutil_initiated.yml"
)


def _alert() -> dict[str, object]:
    [rule] = load_rules(False, [RULE])
    event = {
        "@timestamp": "2026-11-20T10:00:00.000Z",
        "event.id": "e1",
        "event.category": ["network"],
        "host.name": "WKS-1",
        "host.os.type": "windows",
        "network.direction": "egress",
        "process.executable": "C:\\Windows\\Microsoft.NET\\addinutil.exe",
        "destination.ip": "203.0.113.7",
    }
    created = datetime(2026, 11, 20, 10, 0, 1, tzinfo=UTC)
    return build_alert(Match(rule, (event,)), created=created)


def test_the_alert_document_carries_author_licence_and_source() -> None:
    alert = _alert()
    rule = alert["rule"]
    assert isinstance(rule, dict)
    assert rule["author"] == "Michael McKinley (@McKinleyMike), Tony Latteri (@TheLatteri)"
    assert rule["license"] == "DRL-1.1"
    assert rule["reference"] == SOURCE


def test_every_rendering_names_the_author_and_links_the_source() -> None:
    alert = _alert()
    author = alert["rule"]["author"]  # type: ignore[index]
    cef, leef = render_cef(alert), render_leef(alert)
    assert f"flexString1Label=ruleAuthor flexString1={author}" in cef.replace("\\=", "=")
    assert f"flexString2=DRL-1.1 {SOURCE}" in cef.replace("\\=", "=")
    assert f"ruleAuthor={author}" in leef and f"ruleReference={SOURCE}" in leef
    assert "ruleLicense=DRL-1.1" in leef
    for body in (slack_body(alert), teams_body(alert)):
        text = json.dumps(body)
        assert author in text and SOURCE in text and "DRL-1.1" in text
