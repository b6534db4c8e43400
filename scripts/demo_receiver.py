#!/usr/bin/env python3
"""The demo's helpers, standard library only: a loopback webhook receiver and an alert printer.

    demo_receiver.py serve --port-file PORT_FILE [--port 0] [--log FILE] [--secret-env NAME]
    demo_receiver.py show [--labels FILE] [--expect N] [--title TEXT] < alerts.jsonl

`serve` listens on 127.0.0.1 only (port 0 = any free port; the bound port is written to
PORT_FILE once the socket listens, so the caller never races for a port). Every POST is
answered 204 and printed as one line on stdout:

    webhook #1: alert.created 958361f64553 WKS-0004 "Suspicious Command …" signature ok

`signature` is `ok` or `BAD` when `--secret-env` names a variable holding a Standard
Webhooks secret (`whsec_…`), else `unsigned`. With `--log`, each body is appended there as
one JSON line. Anything but POST gets 405. SIGTERM and SIGINT stop it cleanly.

`show` reads alert documents (JSON Lines, as `poll` and `hunt` print them) and prints each
as a short block. `--labels` is a JSON file `{"planted": {event id: chain name},
"near_misses": {event id: name}}`; with it every alert is marked as a planted chain, a NEAR
MISS or UNKNOWN. Exit status: 0, or 1 when an alert is a near miss or unknown, a line is not
an alert, or `--expect N` was given and the count differs, so the demo fails loudly when the
product is wrong.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import json
import os
import signal
import sys
import threading
from collections.abc import Iterable, Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

__all__ = ["Labels", "Receiver", "describe", "main", "show", "verify_signature"]

LOOPBACK = "127.0.0.1"
WIDTH = 96


# -- Standard Webhooks -------------------------------------------------------------------


def verify_signature(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """True when one of the `webhook-signature` entries (`v1,<base64>`, space separated) is
    HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}` under the `whsec_` secret."""
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        return False
    msg_id, stamp = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
    signed = f"{msg_id}.{stamp}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = [s.partition(",")[2] for s in headers.get("webhook-signature", "").split()]
    return any(hmac.compare_digest(expected, g) for g in given if g)


# -- the receiver ------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: Receiver
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.record(headers, body)
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        self._refuse()

    def do_PUT(self) -> None:
        self._refuse()

    def _refuse(self) -> None:
        self.send_response(405)
        self.send_header("Allow", "POST")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per webhook is printed by `record`; access logs would only add noise


class Receiver(ThreadingHTTPServer):
    """A loopback HTTP server that prints and (optionally) logs every webhook it receives."""

    daemon_threads = True

    def __init__(
        self, port: int, out: TextIO, log: Path | None = None, secret: str | None = None
    ) -> None:
        super().__init__((LOOPBACK, port), _Handler)
        self.out, self.log, self.secret = out, log, secret
        self.received = 0
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def record(self, headers: Mapping[str, str], body: bytes) -> None:
        """Print one line about the webhook and append its body to the log."""
        with self._lock:
            self.received += 1
            line = f"webhook #{self.received}: {self._summary(headers, body)}"
            print(line, file=self.out, flush=True)
            if self.log is not None:
                with self.log.open("ab") as handle:
                    handle.write(body.rstrip(b"\n") + b"\n")

    def _summary(self, headers: Mapping[str, str], body: bytes) -> str:
        if self.secret is None:
            signature = "unsigned"
        else:
            signature = "ok" if verify_signature(self.secret, headers, body) else "BAD"
        try:
            doc = json.loads(body)
        except ValueError:
            return f"{len(body)} bytes, not JSON, signature {signature}"
        alert = doc.get("data", doc) if isinstance(doc, dict) else {}
        kind = doc.get("type", "?") if isinstance(doc, dict) else "?"
        alert_id = str(_get(alert, "event.id") or "?")[:12]
        host = _get(alert, "host.name") or "?"
        rule = _shorten(str(_get(alert, "rule.name") or "?"), 32)
        return f'{kind} {alert_id} {host} "{rule}" signature {signature}'


def serve(port: int, port_file: Path, log: Path | None, secret_env: str) -> int:
    """Serve until SIGTERM/SIGINT; write the bound port to `port_file` once listening."""
    secret = os.environ.get(secret_env) if secret_env else None
    server = Receiver(port, sys.stdout, log, secret or None)
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    # Write-then-rename: a reader polling for the file never sees it half written.
    partial = port_file.with_name(port_file.name + ".part")
    partial.write_text(f"{server.port}\n", encoding="utf-8")
    partial.replace(port_file)
    try:
        server.serve_forever(poll_interval=0.1)
    except KeyboardInterrupt:
        pass  # raised by `_stop`: the normal way out
    finally:
        server.server_close()
    return 0


def _stop(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


# -- showing alerts ----------------------------------------------------------------------


class Labels:
    """Which S1 event ids belong to planted chains and which to near misses."""

    def __init__(self, planted: Mapping[str, str], near_misses: Mapping[str, str]) -> None:
        self.planted, self.near_misses = dict(planted), dict(near_misses)

    @classmethod
    def load(cls, path: Path) -> Labels:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return cls(doc.get("planted", {}), doc.get("near_misses", {}))

    def verdict(self, event_ids: Sequence[str]) -> tuple[str, bool]:
        """(label, ok): the planted chain all ids belong to, else what went wrong."""
        misses = sorted({self.near_misses[i] for i in event_ids if i in self.near_misses})
        if misses:
            return f"NEAR MISS {', '.join(misses)} (must not alert!)", False
        chains = {self.planted.get(i) for i in event_ids}
        if len(chains) == 1 and None not in chains:
            return f"planted chain {chains.pop()}", True
        return "UNKNOWN (not a planted chain)", False


def describe(alert: Mapping[str, Any], label: str = "") -> list[str]:
    """A few readable lines about one alert document."""
    events = _get(alert, "sequence.events") or []
    first = events[0] if events else {}
    last = events[-1] if events else {}
    parent = _get(first, "process.parent.name") or "?"
    dest = str(_get(last, "destination.ip") or "?")
    port = _get(last, "destination.port")
    if ":" in dest and port is not None:  # IPv6: [addr]:port, as in URLs
        dest = f"[{dest}]"
    lines = [
        f"ALERT {_get(alert, '@timestamp')}  {_get(alert, 'host.name')}  "
        f"{_get(alert, 'rule.severity')}  {_get(alert, 'rule.name')}",
        f"  {parent} -> {_as_is(str(_get(first, 'process.command_line') or '?'))}",
        f"  then connected to {dest}{'' if port is None else f':{port}'}"
        f"   alert id {str(_get(alert, 'event.id'))[:16]}",
    ]
    if label:
        lines.append(f"  = {label}")
    return lines


def show(
    lines: Iterable[str],
    out: TextIO,
    labels: Labels | None,
    title: str = "",
    expect: int | None = None,
) -> int:
    """Print every alert of `lines` (JSON Lines); return 1 when one is wrong or the count is
    not `expect` (see the module docstring)."""
    count, wrong = 0, 0
    for text in lines:
        if not text.strip():
            continue
        try:
            alert = json.loads(text)
        except ValueError:
            print(f"  not an alert: {_shorten(text.strip(), WIDTH)}", file=out)
            wrong += 1
            continue
        count += 1
        label, ok = _label(alert, labels)
        wrong += 0 if ok else 1
        for line in describe(alert, label):
            print(f"  {line}", file=out)
    prefix = f"{title}: " if title else ""
    notes = [f"{wrong} WRONG"] if wrong else []
    if expect is not None and count != expect:
        notes.append(f"EXPECTED {expect}")
    print(f"  {prefix}{count} alert(s)" + "".join(f", {n}" for n in notes), file=out)
    return 1 if notes else 0


def _label(alert: Mapping[str, Any], labels: Labels | None) -> tuple[str, bool]:
    if labels is None:
        return "", True
    ids = [str(_get(e, "event.id")) for e in _get(alert, "sequence.events") or []]
    return labels.verdict(ids)


def _get(doc: Any, dotted: str) -> Any:
    """`doc["a"]["b"]` for `"a.b"`, or the flat key `"a.b"` itself; None when absent."""
    if isinstance(doc, Mapping) and dotted in doc:
        return doc[dotted]
    for part in dotted.split("."):
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)
    return doc


def _as_is(text: str) -> str:
    """The text whole (a cut command line shows unbalanced quotes and loses its IOC); only
    control characters are shown escaped, so a line break cannot fake another line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- command line ------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "serve":
        return serve(args.port, args.port_file, args.log, args.secret_env)
    labels = Labels.load(args.labels) if args.labels else None
    return show(sys.stdin, sys.stdout, labels, args.title, args.expect)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="receive webhooks on 127.0.0.1 and print them")
    serve_cmd.add_argument("--port", type=int, default=0, help="0 = any free port")
    serve_cmd.add_argument("--port-file", type=Path, required=True)
    serve_cmd.add_argument("--log", type=Path, default=None, help="append bodies here (JSONL)")
    serve_cmd.add_argument("--secret-env", default="", help="env var with the whsec_ secret")
    show_cmd = commands.add_parser("show", help="print alert JSON Lines from stdin readably")
    show_cmd.add_argument("--labels", type=Path, default=None)
    show_cmd.add_argument("--expect", type=int, default=None, help="fail unless N alerts")
    show_cmd.add_argument("--title", default="")
    return parser


if __name__ == "__main__":
    sys.exit(main())
