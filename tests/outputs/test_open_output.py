"""The output factory and `check --send-test`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import responses

from connector.config import parse_config
from connector.outputs import Outcome, open_output, send_test_alert
from connector.outputs.file import FileOutput
from connector.outputs.syslog import SyslogOutput
from connector.outputs.webhook import WebhookOutput
from tests.outputs.parsers import parse_5424
from tests.outputs.servers import UdpServer

CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def _config(tmp_path: Path, udp_port: int = 514):
    raw = {
        "outputs": [
            {"type": "webhook", "url": "https://hooks.example.com/s1", "secret_env": "HOOK"},
            {"type": "syslog", "host": "127.0.0.1", "port": udp_port, "transport": "udp"},
            {"type": "file", "path": "alerts.jsonl", "name": "archive"},
        ]
    }
    return parse_config(raw, base_dir=tmp_path)


def test_open_output_builds_each_type_with_its_configured_name(tmp_path: Path) -> None:
    outputs = [open_output(o, env={"HOOK": "whsec_" + "a" * 40}) for o in _config(tmp_path).outputs]
    assert [type(o) for o in outputs] == [WebhookOutput, SyslogOutput, FileOutput]
    assert [o.name for o in outputs] == ["webhook-1", "syslog-2", "archive"]


@responses.activate
def test_send_test_alert_goes_through_every_output(tmp_path: Path) -> None:
    responses.post("https://hooks.example.com/s1", status=202)
    with UdpServer() as server:
        config = _config(tmp_path, server.port)
        results = send_test_alert(
            config.outputs, created=CREATED, env={"HOOK": "whsec_" + "a" * 40}
        )
        datagram = server.wait_for(1)[0]
    assert {name: d.outcome for name, d in results.items()} == {
        "webhook-1": Outcome.DELIVERED,
        "syslog-2": Outcome.DELIVERED,
        "archive": Outcome.DELIVERED,
    }
    sent = json.loads(responses.calls[0].request.body)  # type: ignore[arg-type]
    assert sent["data"]["tags"] == ["test"] and "TEST" in sent["data"]["rule"]["name"]
    assert parse_5424(datagram).msgid == "TEST"
    assert parse_5424(datagram).pri == 16 * 8 + 6  # informational
    line = json.loads((tmp_path / "alerts.jsonl").read_text(encoding="utf-8"))
    assert line["event"]["id"] == sent["data"]["event"]["id"]


def test_send_test_alert_reports_an_output_that_cannot_start(tmp_path: Path) -> None:
    config = _config(tmp_path)
    results = send_test_alert(config.outputs[:1], created=CREATED, env={})
    assert results["webhook-1"].outcome is Outcome.REJECTED
    assert "$HOOK" in results["webhook-1"].reason
