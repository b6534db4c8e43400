"""The alert document and its deterministic id."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from datetime import timedelta

import pytest

from connector.alerts import alert_id, build_alert, console_link
from connector.alerts import test_alert as make_test_alert
from connector.detection.model import Match, Rule
from tests.conftest import REPO
from tests.outputs.conftest import (
    CONSOLE,
    CREATED,
    NETWORK_EVENT,
    SEED_RULE,
    START_EVENT,
    seed_match,
)

# Pinned: the recipe is part of the contract (receivers dedup on it across versions). If this
# changes, every alert already delivered would be delivered again under a new id.
SEED_ALERT_ID = "dc71711142977d7430be855e0a9d34d7018e1895bd60bd41b484b08859aa0430"


def with_events(*events) -> Match:
    return dataclasses.replace(seed_match(), events=events)


def test_alert_id_is_lowercase_sha256_hex(match: Match) -> None:
    assert re.fullmatch(r"[0-9a-f]{64}", alert_id(match))


def test_alert_id_is_the_same_in_another_process_with_other_hash_seed_and_zone(
    match: Match,
) -> None:
    code = (
        "from tests.outputs.conftest import seed_match\n"
        "from connector.alerts import alert_id\n"
        "print(alert_id(seed_match()))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "TZ": "Asia/Kathmandu", "LC_ALL": "C"}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == alert_id(match)


def test_alert_id_is_pinned(match: Match) -> None:
    assert alert_id(match) == SEED_ALERT_ID


def test_alert_id_ignores_creation_time_and_console(match: Match) -> None:
    one = build_alert(match, created=CREATED)
    two = build_alert(match, created=CREATED + timedelta(days=3), console_url=CONSOLE)
    assert one["event"]["id"] == two["event"]["id"] == alert_id(match)


@pytest.mark.parametrize(
    "change",
    [
        lambda m: dataclasses.replace(m, rule=dataclasses.replace(m.rule, rule_id="other")),
        lambda m: dataclasses.replace(m, join_key=("B1B2C3D4E5F60718",)),
        lambda m: dataclasses.replace(m, events=tuple(reversed(m.events))),
        lambda m: dataclasses.replace(m, events=m.events[:1]),
        lambda m: dataclasses.replace(m, events=({**m.events[0], "event.id": "1"}, m.events[1])),
    ],
    ids=["rule", "join-key", "order", "fewer-events", "event-id"],
)
def test_alert_id_changes_with_what_identifies_the_match(match: Match, change) -> None:
    assert alert_id(change(match)) != alert_id(match)


def test_alert_id_parts_cannot_be_forged_by_separators() -> None:
    rule = Rule(rule_id="r", name="n", query="q")
    event_a, event_b = {"event.id": "a"}, {"event.id": "b"}
    joined = Match(rule=rule, events=({"event.id": 'a","b'},), join_key=("x",))
    split = Match(rule=rule, events=(event_a, event_b), join_key=("x",))
    assert alert_id(joined) != alert_id(split)
    assert alert_id(Match(rule, (event_a,), ("x|y",))) != alert_id(
        Match(rule, (event_a,), ("x", "y"))
    )


def test_alert_id_does_not_depend_on_other_event_fields(match: Match) -> None:
    noisy = dataclasses.replace(match, events=({**START_EVENT, "process.pid": 1}, NETWORK_EVENT))
    assert alert_id(noisy) == alert_id(match)


def test_required_keys_of_the_contract(alert) -> None:
    assert alert["@timestamp"] == "2026-11-20T10:15:06.070Z"  # the last matched event
    assert alert["event"]["kind"] == "alert"
    assert alert["event"]["id"] == alert_id(seed_match())
    assert alert["event"]["created"] == "2026-11-20T10:15:02.125Z"
    assert alert["event"]["risk_score"] == 21
    assert alert["rule"] == {
        "id": SEED_RULE.rule_id,
        "name": SEED_RULE.name,
        "version": "114",
        "severity": "low",
        "risk_score": 21,
    }
    assert alert["threat"] == list(SEED_RULE.threat)
    assert alert["host"]["name"] == "WS-0042"
    assert alert["host"]["id"] == "7f3c2a10-1111-4222-8333-944455556666"
    assert alert["sequence"]["join_key"] == ["A1B2C3D4E5F60718"]
    assert alert["sentinel_one"]["console_url"].startswith(CONSOLE + "/")


def test_sequence_events_are_nested_in_order_with_ids_and_timestamps(alert) -> None:
    events = alert["sequence"]["events"]
    assert [e["event"]["id"] for e in events] == ["649568400931684352", "649568400931684999"]
    assert [e["@timestamp"] for e in events] == [
        START_EVENT["@timestamp"],
        NETWORK_EVENT["@timestamp"],
    ]
    assert events[0]["process"]["parent"]["name"] == "WINWORD.EXE"
    assert events[1]["destination"] == {"ip": "203.0.113.9", "port": 443}
    assert not any("." in key for key in events[0] if key != "@timestamp")


def test_first_event_fields_and_network_fields(alert) -> None:
    assert alert["process"]["command_line"] == START_EVENT["process.command_line"]
    assert alert["process"]["parent"]["executable"].endswith("WINWORD.EXE")
    assert alert["user"] == {"name": "jdoe", "domain": "CORP"}
    assert alert["destination"] == {"ip": "203.0.113.9", "port": 443}
    assert alert["source"] == {"ip": "10.20.1.15", "port": 49822}
    assert alert["network"]["direction"] == "egress"
    assert alert["sequence"]["gap_s"] == 4.2
    assert alert["event"]["start"] == START_EVENT["@timestamp"]
    assert alert["event"]["end"] == NETWORK_EVENT["@timestamp"]
    assert alert["event"]["duration"] == 4_200_000_000
    assert alert["sentinel_one"]["storyline"]["id"] == "B9913CE1424F6FB2"


def test_reason_line_for_the_seed_rule(alert) -> None:
    expected = (
        "cmd.exe /c C:\\Temp\\run.bat https://203.0.113.9/p key=1 started by WINWORD.EXE"
        " on WS-0042 connected to 203.0.113.9:443 within 4.2 s"
    )
    assert alert["message"] == expected
    assert alert["event"]["reason"] == expected


def test_reason_line_shortens_long_command_lines_and_flattens_line_breaks() -> None:
    start = {**START_EVENT, "process.command_line": "cmd.exe /c\r\necho " + "A" * 500}
    alert = build_alert(
        dataclasses.replace(seed_match(), events=(start, NETWORK_EVENT)), created=CREATED
    )
    assert alert["message"].startswith("cmd.exe /c echo AAAA")
    assert " … started by WINWORD.EXE on WS-0042" in alert["message"]
    assert "\n" not in alert["message"] and len(alert["message"]) < 200


def test_reason_line_is_generic_for_other_rules() -> None:
    rule = Rule(rule_id="r1", name="Shred used on logs", query="q", severity="medium")
    single = {
        "@timestamp": "2026-11-20T10:00:00Z",
        "event.id": "9",
        "host.name": "db01",
        "process.name": "shred",
        "event.type": ["start"],
        "process.parent.name": "bash",
    }
    alert = build_alert(Match(rule=rule, events=(single,)), created=CREATED)
    assert alert["message"] == "shred started by bash on db01"
    bare = build_alert(
        Match(rule=rule, events=({"event.id": "1", "@timestamp": 0},)), created=CREATED
    )
    assert bare["message"] == "Shred used on logs"
    assert "destination" not in bare and bare["sequence"]["gap_s"] == 0.0


def test_ipv6_destination_is_bracketed_in_the_reason() -> None:
    network = {**NETWORK_EVENT, "destination.ip": "2001:db8::9"}
    alert = build_alert(
        dataclasses.replace(seed_match(), events=(START_EVENT, network)), created=CREATED
    )
    assert "connected to [2001:db8::9]:443" in alert["message"]


def test_no_console_url_without_a_console(match: Match) -> None:
    assert "console_url" not in build_alert(match, created=CREATED)["sentinel_one"]
    assert console_link("", "WS-0042") == ""


def test_console_link_quotes_the_host_name() -> None:
    link = console_link("https://c.example.net/", 'WS "1" & <x>')
    assert link.startswith("https://c.example.net/sentinels/devices?filter=")
    assert " " not in link and '"' not in link and "<" not in link and "&" not in link


def test_alert_is_json_serialisable_and_does_not_share_state(match: Match) -> None:
    alert = build_alert(match, created=CREATED)
    json.dumps(alert)
    alert["threat"][0]["tactic"]["name"] = "changed"
    alert["process"]["args"].append("changed")
    assert SEED_RULE.threat[0]["tactic"]["name"] == "Execution"
    assert START_EVENT["process.args"][-1] == "key=1"


def test_a_match_without_events_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="no events"):
        build_alert(Match(rule=SEED_RULE, events=()), created=CREATED)


def test_test_alert_is_clearly_marked_and_deterministic() -> None:
    alert = make_test_alert(CREATED)
    assert "TEST" in alert["rule"]["name"]
    assert alert["event"]["kind"] == "alert"
    assert alert["tags"] == ["test"]
    assert alert["event"]["created"] == "2026-11-20T10:15:02.125Z"
    assert make_test_alert(CREATED) == alert
    assert make_test_alert(CREATED + timedelta(seconds=1))["event"]["id"] != alert["event"]["id"]
