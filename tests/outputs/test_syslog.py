"""The syslog output against real receivers on 127.0.0.1 (UDP, TCP, TLS), parsed back."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from connector.config import SyslogOutputConfig
from connector.errors import OutputFatal
from connector.outputs.base import Delivery, Outcome, Pending
from connector.outputs.syslog import SyslogOutput
from tests.outputs.golden import load_alert
from tests.outputs.parsers import parse_5424
from tests.outputs.servers import Pki, StreamServer, UdpServer, make_pki

HOST = "conn01.example.net"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def rogue_pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("rogue"), label="rogue")


def config(port: int, transport: str, **extra: Any) -> SyslogOutputConfig:
    return SyslogOutputConfig(
        type="syslog", name="siem", host="127.0.0.1", port=port, transport=transport, **extra
    )


def deliver(
    cfg: SyslogOutputConfig, alerts: list[dict[str, Any]]
) -> tuple[list[Delivery], list[bytes]]:
    """Render and send the alerts in one run; the answers and the bytes sent."""
    with SyslogOutput(cfg, hostname=HOST) as output:
        bodies = [output.render(alert) for alert in alerts]
        batch = [
            Pending(str(a["event"]["id"]), body) for a, body in zip(alerts, bodies, strict=True)
        ]
        return output.send(batch, time.monotonic() + 10), bodies


def _hostile_batch(count: int) -> list[dict[str, Any]]:
    alerts = []
    for index in range(count):
        alert = load_alert("hostile")
        alert["event"]["id"] = f"{index:064x}"
        alerts.append(alert)
    return alerts


def test_udp_one_datagram_per_alert_shrunk_to_the_cap_and_marked(alert: dict[str, Any]) -> None:
    with UdpServer() as server:
        answers, bodies = deliver(config(server.port, "udp"), [alert, load_alert("hostile")])
        received = server.wait_for(2)
    assert [a.outcome for a in answers] == [Outcome.DELIVERED] * 2
    assert received == bodies
    for message in received:
        assert len(message) <= 1400
        parsed = parse_5424(message)
        assert parsed.sd["truncated"] == "1" and int(parsed.sd["origLen"]) > 1400
        assert json.loads(parsed.msg)["event"]["id"] == parsed.sd["id"]
    assert parse_5424(received[0]).sd["id"] == alert["event"]["id"]


def test_tcp_octet_counting_stream_splits_back_into_every_message() -> None:
    alerts = _hostile_batch(5)
    with StreamServer() as server:
        answers, bodies = deliver(config(server.port, "tcp", payload="cef"), alerts)
        received = server.wait_for(5)
    assert [a.outcome for a in answers] == [Outcome.DELIVERED] * 5
    assert received == bodies
    assert [parse_5424(m).sd["id"] for m in received] == [a["event"]["id"] for a in alerts]
    assert all(parse_5424(m).msg.startswith(b"CEF:0|") for m in received)


def test_tcp_lf_framing(alert: dict[str, Any]) -> None:
    with StreamServer(framing="lf") as server:
        answers, bodies = deliver(
            config(server.port, "tcp", framing="lf", payload="leef"), [alert] * 3
        )
        received = server.wait_for(3)
    assert [a.outcome for a in answers] == [Outcome.DELIVERED] * 3
    assert received == bodies


def test_tls_with_a_private_ca_verifies_and_delivers(pki: Pki) -> None:
    alerts = _hostile_batch(3)
    with StreamServer(context=pki.server_context()) as server:
        answers, bodies = deliver(config(server.port, "tls", ca_bundle=pki.ca), alerts)
        received = server.wait_for(3)
    assert [a.outcome for a in answers] == [Outcome.DELIVERED] * 3
    assert received == bodies
    assert json.loads(parse_5424(received[0]).msg)["process"]["name"] == "cmd.exe | fake=1"


def test_tls_with_a_client_certificate(pki: Pki) -> None:
    with StreamServer(context=pki.server_context(require_client=True)) as server:
        cfg = config(
            server.port,
            "tls",
            ca_bundle=pki.ca,
            client_cert=pki.client_cert,
            client_key=pki.client_key,
        )
        answers, bodies = deliver(cfg, [load_alert("seed")])
        assert server.wait_for(1) == bodies
    assert answers[0].outcome is Outcome.DELIVERED


def test_tls_server_with_an_untrusted_certificate_is_refused(pki: Pki, rogue_pki: Pki) -> None:
    with StreamServer(context=rogue_pki.server_context()) as server:
        with pytest.raises(OutputFatal, match="certificate verification failed"):
            deliver(config(server.port, "tls", ca_bundle=pki.ca), [load_alert("seed")])
        assert server.wait_for_error()
        assert server.messages == []


def test_tls_verifies_by_default_against_the_system_store(pki: Pki) -> None:
    server = StreamServer(context=pki.server_context())
    with server, pytest.raises(OutputFatal, match="certificate verification failed"):
        deliver(config(server.port, "tls"), [load_alert("seed")])


def test_tls_hostname_must_match(pki: Pki) -> None:
    with StreamServer(context=pki.server_context()) as server:
        cfg = config(server.port, "tls", ca_bundle=pki.ca, server_name="siem.example.net")
        with pytest.raises(OutputFatal, match="certificate verification failed"):
            deliver(cfg, [load_alert("seed")])


def test_tls_verification_can_be_turned_off_with_a_warning(
    rogue_pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    with StreamServer(context=rogue_pki.server_context()) as server:
        answers, bodies = deliver(
            config(server.port, "tls", verify_tls=False), [load_alert("seed")]
        )
        assert server.wait_for(1) == bodies
    assert answers[0].outcome is Outcome.DELIVERED
    assert "verification is OFF" in caplog.text


def test_unreadable_tls_files_are_fatal(tmp_path: Path) -> None:
    cfg = config(6514, "tls", ca_bundle=tmp_path / "missing-ca.pem")
    with pytest.raises(OutputFatal, match="cannot load TLS files"):
        SyslogOutput(cfg, hostname=HOST).__enter__()


def test_reconnects_once_when_the_receiver_closed_the_connection(alert: dict[str, Any]) -> None:
    with (
        StreamServer(close_after=1) as server,
        SyslogOutput(config(server.port, "tcp"), hostname=HOST) as out,
    ):
        first = out.send([Pending("a", out.render(alert))], time.monotonic() + 10)
        server.wait_for(1)
        time.sleep(0.2)  # let the receiver's close reach us
        second = out.send([Pending("b", out.render(alert))], time.monotonic() + 10)
        received = server.wait_for(2)
    assert [first[0].outcome, second[0].outcome] == [Outcome.DELIVERED, Outcome.DELIVERED]
    assert len(received) == 2 and server.connections == 2


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_errors_surface_as_answers_when_the_receiver_is_down(
    alert: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    answers, _ = deliver(config(_closed_port(), "tcp"), [alert, alert])
    assert [a.outcome for a in answers] == [Outcome.RETRY, Outcome.RETRY]
    assert "cannot connect" in answers[0].reason and "Connection refused" in answers[0].reason
    assert answers[1].reason == answers[0].reason
    assert "not sent" in caplog.text


def test_receiver_gone_mid_run_answers_retry_for_the_rest(alert: dict[str, Any]) -> None:
    server = StreamServer(close_after=1)
    with server, SyslogOutput(config(server.port, "tcp"), hostname=HOST) as out:
        out.send([Pending("a", out.render(alert))], time.monotonic() + 10)
        server.wait_for(1)
        server.__exit__()  # stop listening: the reconnect is refused
        time.sleep(0.2)
        answers = out.send(
            [Pending("b", out.render(alert)), Pending("c", out.render(alert))],
            time.monotonic() + 10,
        )
    assert [a.outcome for a in answers] == [Outcome.RETRY, Outcome.RETRY]
    assert "cannot connect" in answers[0].reason


def test_oversize_reject_policy_rejects_without_sending(alert: dict[str, Any]) -> None:
    with StreamServer() as server:
        cfg = config(server.port, "tcp", oversize="reject", max_message_bytes=1000)
        answers, bodies = deliver(cfg, [alert])
        time.sleep(0.1)
        assert server.messages == []
    assert answers[0].outcome is Outcome.REJECTED
    assert f"{len(bodies[0])} bytes, over max_message_bytes 1000" in answers[0].reason


def test_header_and_sd_too_large_for_the_cap_is_rejected(alert: dict[str, Any]) -> None:
    alert["host"]["name"] = "H" * 255
    alert["rule"]["id"] = "R" * 255
    with StreamServer() as server:
        answers, bodies = deliver(config(server.port, "tcp", max_message_bytes=480), [alert])
    assert len(bodies[0]) > 480
    assert answers[0].outcome is Outcome.REJECTED


def test_no_send_after_the_deadline(alert: dict[str, Any]) -> None:
    with StreamServer() as server, SyslogOutput(config(server.port, "tcp"), hostname=HOST) as out:
        answers = out.send([Pending("a", out.render(alert))], time.monotonic() - 1)
        time.sleep(0.1)
        assert server.messages == []
    assert answers[0].outcome is Outcome.RETRY and "deadline" in answers[0].reason


def test_rfc3164_over_udp_respects_1024_bytes(alert: dict[str, Any]) -> None:
    with UdpServer() as server:
        answers, bodies = deliver(
            config(server.port, "udp", format="rfc3164", payload="leef"), [alert]
        )
        received = server.wait_for(1)
    assert answers[0].outcome is Outcome.DELIVERED
    assert received == bodies and len(received[0]) <= 1024
    assert received[0].startswith(b"<133>Nov 20 10:15:02 conn01 s1-connector: LEEF:2.0|")


def test_render_is_deterministic_across_outputs(alert: dict[str, Any]) -> None:
    one = SyslogOutput(config(514, "tcp"), hostname=HOST).render(alert)
    two = SyslogOutput(config(514, "tcp"), hostname=HOST).render(json.loads(json.dumps(alert)))
    assert one == two
    assert parse_5424(one).timestamp == alert["event"]["created"]


def test_a_failed_write_reconnects_once_and_resends(
    alert: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    server = StreamServer(hold_on_eof=True)
    with server, SyslogOutput(config(server.port, "tcp"), hostname=HOST) as out:
        assert out.connection is not None
        # Break our side of the stream while the peer stays silent: nothing looks wrong
        # until the write fails with EPIPE, which must cost one reconnect, not the alert.
        out.connection._sock.shutdown(socket.SHUT_WR)  # type: ignore[union-attr]
        body = out.render(alert)
        answers = out.send([Pending("a", body)], time.monotonic() + 10)
        assert server.wait_for(1) == [body]
    assert answers[0].outcome is Outcome.DELIVERED
    assert server.connections == 2
    assert "write failed" in caplog.text and "reconnecting once" in caplog.text


def test_tls_close_sends_close_notify(pki: Pki) -> None:
    """The receiver sees an orderly TLS end (close_notify), not a truncated stream."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(10)
    seen: dict[str, object] = {}

    def serve() -> None:
        conn, _ = listener.accept()
        tls = pki.server_context().wrap_socket(conn, server_side=True, suppress_ragged_eofs=False)
        tls.settimeout(10)
        data = b""
        try:
            while chunk := tls.recv(65536):
                data += chunk
            seen["end"] = "close_notify"
        except ssl.SSLEOFError:
            seen["end"] = "truncated"
        finally:
            seen["data"] = data
            tls.close()

    worker = threading.Thread(target=serve)
    worker.start()
    port = listener.getsockname()[1]
    answers, bodies = deliver(config(port, "tls", ca_bundle=pki.ca), [load_alert("seed")])
    worker.join(10)
    listener.close()
    assert answers[0].outcome is Outcome.DELIVERED
    assert seen["end"] == "close_notify"
    assert bodies[0] in seen["data"]  # type: ignore[operator]
