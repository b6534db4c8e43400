"""The demo's alerts through a real receiver: Debian's `rsyslogd -n` on loopback.

rsyslog (imudp, imtcp with octet-counted framing, imtcp with the gtls driver) receives the
alerts the demo day produces, at the output's **default** settings, parses them with its own
RFC 5424 parser and writes what it parsed (hostname, app-name, msgid, structured data, msg)
as JSON lines, one file per transport. The test reads those files back. rsyslog keeps its
default 8 kB `maxMessageSize`, so a message it had to cut would show here.

Skipped, with the reason, where rsyslogd (or its gtls driver, for TLS) is not installed;
`.ci/run` installs Debian's `rsyslog` and `rsyslog-gnutls`.
"""

from __future__ import annotations

import glob
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from connector.config import SyslogOutputConfig
from connector.outputs.base import Outcome, Pending
from connector.outputs.probe import probe_output
from connector.outputs.syslog import SyslogOutput
from tests.outputs.servers import Pki, make_pki

RSYSLOGD = shutil.which("rsyslogd") or next(iter(glob.glob("/usr/sbin/rsyslogd")), None)
GTLS = glob.glob("/usr/lib/*/rsyslog/lmnsd_gtls.so") + glob.glob("/usr/lib/rsyslog/lmnsd_gtls.so")
HOSTNAME = "conn01.example.net"
_WAIT_S = 20.0

pytestmark = pytest.mark.skipif(
    RSYSLOGD is None,
    reason="rsyslogd is not installed (apt-get install rsyslog rsyslog-gnutls; .ci/run does)",
)

_CONFIG = """
global(workDirectory="{work}"
       defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}"
       defaultNetstreamDriverKeyFile="{key}")
module(load="imudp")
module(load="imtcp")
template(name="parsed" type="list" option.jsonf="on") {{
  property(outname="hostname" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
}}
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="tcp")
{tls_input}
ruleset(name="udp") {{ action(type="omfile" file="{work}/udp.jsonl" template="parsed") }}
ruleset(name="tcp") {{ action(type="omfile" file="{work}/tcp.jsonl" template="parsed") }}
ruleset(name="tls") {{ action(type="omfile" file="{work}/tls.jsonl" template="parsed") }}
"""
_TLS_INPUT = (
    'input(type="imtcp" address="127.0.0.1" port="{tls}" ruleset="tls" '
    'streamDriver.name="gtls" streamDriver.mode="1" streamDriver.authMode="anon")'
)


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Rsyslog:
    work: Path
    ports: dict[str, int]
    pki: Pki

    def lines(self, transport: str, count: int) -> list[dict[str, Any]]:
        """The first `count` messages rsyslog wrote for this transport (waits for them)."""
        path = self.work / f"{transport}.jsonl"
        deadline = time.monotonic() + _WAIT_S
        while time.monotonic() < deadline:
            if path.exists():
                lines = path.read_text(encoding="utf-8").splitlines()
                if len(lines) >= count:
                    return [json.loads(line) for line in lines]
            time.sleep(0.1)
        found = path.read_text(encoding="utf-8") if path.exists() else "(no file)"
        raise AssertionError(f"rsyslog wrote too few {transport} messages: {found[:500]}")

    def errors(self) -> str:
        """What rsyslogd said about itself (in the foreground: on its stderr)."""
        path = self.work / "rsyslogd.err"
        return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"rsyslogd exited {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("rsyslogd did not start listening")


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    assert RSYSLOGD is not None
    work = tmp_path_factory.mktemp("rsyslog")
    pki = make_pki(work)
    ports = {
        "udp": _free_port(socket.SOCK_DGRAM),
        "tcp": _free_port(socket.SOCK_STREAM),
        "tls": _free_port(socket.SOCK_STREAM),
    }
    tls_input = _TLS_INPUT.format(tls=ports["tls"]) if GTLS else ""
    conf = work / "rsyslog.conf"
    conf.write_text(
        _CONFIG.format(
            work=work,
            ca=pki.ca,
            cert=pki.server_cert,
            key=pki.server_key,
            tls_input=tls_input,
            **ports,
        )
    )
    check = subprocess.run(
        [RSYSLOGD, "-N1", "-f", str(conf)], check=False, capture_output=True, text=True
    )
    assert check.returncode == 0, check.stderr
    errors = (work / "rsyslogd.err").open("wb")
    process = subprocess.Popen(
        [RSYSLOGD, "-n", "-f", str(conf), "-i", str(work / "rsyslogd.pid")],
        stdout=errors,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_listening(ports["tcp"], process)
        yield Rsyslog(work, ports, pki)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        errors.close()


@pytest.fixture(scope="module")
def demo_alerts(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The alerts of the demo day (seed 7, as scripts/demo), via `replay` in a subprocess."""
    folder = tmp_path_factory.mktemp("demo")
    records = folder / "demo.ndjson"
    script = (
        "import json, sys\n"
        "from connector.simulator import demo_records\n"
        "records, _ = demo_records()\n"
        "with open(sys.argv[1], 'w') as out:\n"
        "    out.writelines(json.dumps(r) + '\\n' for r in records)\n"
    )
    subprocess.run([sys.executable, "-c", script, str(records)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "connector", "--log-level", "warning", "replay", str(records)],
        capture_output=True,
        text=True,
        check=True,
    )
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(alerts) >= 3, done.stderr
    return alerts


def _deliver(config: SyslogOutputConfig, alerts: list[dict[str, Any]]) -> list[bytes]:
    with SyslogOutput(config, hostname=HOSTNAME) as output:
        bodies = [output.render(alert) for alert in alerts]
        batch = [Pending(a["event"]["id"], b) for a, b in zip(alerts, bodies, strict=True)]
        answers = output.send(batch, time.monotonic() + 30)
    assert [a.outcome for a in answers] == [Outcome.DELIVERED] * len(alerts)
    return bodies


def _config(rsyslog: Rsyslog, transport: str) -> SyslogOutputConfig:
    extra = {"ca_bundle": rsyslog.pki.ca} if transport == "tls" else {}
    return SyslogOutputConfig(
        type="syslog",
        name=f"rsyslog-{transport}",
        host="127.0.0.1",
        port=rsyslog.ports[transport],
        transport=transport,
        **extra,
    )


@pytest.mark.parametrize("transport", ["udp", "tcp", "tls"])
def test_demo_alerts_arrive_whole_and_parse(
    rsyslog: Rsyslog, demo_alerts: list[dict[str, Any]], transport: str
) -> None:
    if transport == "tls" and not GTLS:
        pytest.skip("rsyslog's gtls driver is not installed (apt-get install rsyslog-gnutls)")
    config = _config(rsyslog, transport)
    if transport != "udp":
        assert probe_output(config).ok  # what `check` does: connect (+ handshake), no message
    bodies = _deliver(config, demo_alerts)
    received = rsyslog.lines(transport, len(demo_alerts))
    assert len(received) == len(demo_alerts)  # each exactly once
    for alert, line, body in zip(demo_alerts, received, bodies, strict=True):
        assert (line["hostname"], line["app"], line["msgid"]) == (HOSTNAME, "s1-connector", "ALERT")
        assert f'id="{alert["event"]["id"]}"' in line["sd"]
        assert f'rule="{alert["rule"]["id"]}"' in line["sd"]
        doc = json.loads(line["msg"])
        assert doc["event"]["id"] == alert["event"]["id"]
        assert doc["process"]["hash"]["sha256"] == alert["process"]["hash"]["sha256"]
        assert doc["destination"]["ip"] == alert["destination"]["ip"]
        if transport == "udp":
            assert len(body) <= 1400
        else:  # the compact document of a typical alert fits: nothing shrunk
            assert 'truncated="1"' not in line["sd"]
            assert doc["process"]["command_line"] == alert["process"]["command_line"]
            assert [e["event"]["id"] for e in doc["sequence"]["events"]] == [
                e["event"]["id"] for e in alert["sequence"]["events"]
            ]


def test_tls_connections_end_cleanly(rsyslog: Rsyslog, demo_alerts: list[dict[str, Any]]) -> None:
    """close_notify before close: rsyslog's gtls driver logs no error for our sessions."""
    if not GTLS:
        pytest.skip("rsyslog's gtls driver is not installed (apt-get install rsyslog-gnutls)")
    config = _config(rsyslog, "tls")
    for _ in range(3):  # three runs, three connections, each closed by the output
        _deliver(config, demo_alerts[:1])
    rsyslog.lines("tls", 3)
    time.sleep(1.0)  # the receiver notices the end of each session
    said = rsyslog.errors()
    # Without close_notify rsyslog says, per connection: "unexpected GnuTLS error -110 …
    # The TLS connection was non-properly terminated" and "… will be closed due to error".
    assert "non-properly terminated" not in said and "due to error" not in said, said[-2000:]
