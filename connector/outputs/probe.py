"""`check`'s look at each output: would `poll` be able to deliver? Nothing is sent.

| output          | what is probed                                                         |
|-----------------|------------------------------------------------------------------------|
| every output    | it can be built: secrets resolve and are well formed, TLS files load   |
| webhook         | a TCP connection to the URL's host and port (+ TLS handshake, https)   |
| syslog tcp/tls  | a TCP connection (+ TLS handshake with the output's own TLS settings)  |
| syslog udp      | the name resolves (a datagram cannot be checked without sending one)   |
| file            | the file (or its folder) is writable; `-` is stdout                    |

A probe answers a `Probe`: `ok`, a one-line `detail`, and the exit code its failure maps to
(78 fix the configuration, 69 the receiver is unreachable).
"""

from __future__ import annotations

import os
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from connector.config import (
    FileOutputConfig,
    OutputConfig,
    SyslogOutputConfig,
    WebhookOutputConfig,
)
from connector.errors import EXIT_CONFIG, EXIT_UNAVAILABLE, ConnectorError
from connector.outputs import open_output
from connector.outputs.syslog import tls_context

__all__ = ["Probe", "probe_output", "writable"]

CONNECT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Probe:
    """One probe's answer; `code` is the exit code a failure maps to (0 when ok)."""

    ok: bool
    detail: str
    code: int = 0


def probe_output(config: OutputConfig, *, env: Mapping[str, str] | None = None) -> Probe:
    """Probe one output as `poll` would use it, without sending anything."""
    try:
        open_output(config, env=env)  # secrets and TLS files: the same checks as a run
    except ConnectorError as exc:
        return Probe(False, str(exc), exc.exit_code)
    return _PROBES[config.type](config)


def _webhook(config: OutputConfig) -> Probe:
    assert isinstance(config, WebhookOutputConfig)
    parts = urlsplit(config.url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    context = None
    if parts.scheme == "https":
        context = _https_context(config)
    return _connect(host, port, context, what="webhook endpoint")


def _https_context(config: WebhookOutputConfig) -> ssl.SSLContext:
    """What requests would verify against: ca_bundle, else certifi's bundle."""
    import certifi  # noqa: PLC0415  (requests' own CA bundle; imported only for https)

    cafile = str(config.ca_bundle) if config.ca_bundle else certifi.where()
    context = ssl.create_default_context(cafile=cafile)
    if not config.verify_tls:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _syslog(config: OutputConfig) -> Probe:
    assert isinstance(config, SyslogOutputConfig)
    host, port = config.host, config.effective_port
    if config.transport == "udp":
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except OSError as exc:
            return Probe(False, f"syslog {host}:{port}/udp: {_why(exc)}", EXIT_CONFIG)
        return Probe(True, f"syslog {host}:{port}/udp: name resolves (UDP sends are unchecked)")
    try:
        context = tls_context(config) if config.transport == "tls" else None
    except ConnectorError as exc:
        return Probe(False, str(exc), EXIT_CONFIG)
    server_name = config.server_name or host
    return _connect(host, port, context, what=f"syslog/{config.transport}", name=server_name)


def _file(config: OutputConfig) -> Probe:
    assert isinstance(config, FileOutputConfig)
    if str(config.path) == "-":
        return Probe(True, "stdout")
    problem = writable(Path(config.path))
    if problem:
        return Probe(False, problem, EXIT_CONFIG)
    return Probe(True, f"{config.path} is writable")


_PROBES: dict[str, Callable[[OutputConfig], Probe]] = {
    "webhook": _webhook,
    "syslog": _syslog,
    "file": _file,
}


def _connect(
    host: str, port: int, context: ssl.SSLContext | None, *, what: str, name: str = ""
) -> Probe:
    """Connect (and shake hands for TLS), then close: nothing is written."""
    where = f"{what} {host}:{port}"
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as sock:
            if context is None:
                return Probe(True, f"{where}: connection accepted")
            with context.wrap_socket(sock, server_hostname=name or host) as tls:
                version = tls.version()
                _close_notify(tls)
    except ssl.SSLCertVerificationError as exc:
        detail = f"{where}: TLS certificate verification failed: {exc.verify_message}"
        return Probe(False, detail, EXIT_CONFIG)
    except ssl.SSLError as exc:
        return Probe(False, f"{where}: TLS handshake failed: {_why(exc)}", EXIT_CONFIG)
    except socket.gaierror as exc:
        return Probe(False, f"{where}: name does not resolve: {_why(exc)}", EXIT_CONFIG)
    except OSError as exc:
        return Probe(False, f"{where}: cannot connect: {_why(exc)}", EXIT_UNAVAILABLE)
    return Probe(True, f"{where}: connection and TLS handshake ok ({version})")


def _close_notify(tls: ssl.SSLSocket) -> None:
    """End the TLS session politely; a peer that just drops the connection is fine too."""
    try:
        tls.unwrap()
    except OSError:  # the handshake already succeeded, which is all a probe asks
        return


def writable(path: Path) -> str:
    """'' when `path` can be created or appended to; else why not (one line).

    Probes by doing (opening for append, or creating a file in the nearest existing folder),
    because permission bits do not tell the truth for root or on read-only mounts.
    """
    if path.exists():
        if path.is_dir():
            return f"{path} is a folder"
        try:
            with path.open("ab"):
                pass
        except OSError as exc:
            return f"{path} is not writable: {_why(exc)}"
        return ""
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.is_dir():
        return f"{path}: {folder} is not a folder"
    probe = folder / f".s1-connector-probe-{os.getpid()}"
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        return f"{path}: cannot create files in {folder}: {_why(exc)}"
    return ""


def _why(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError):
        return str(exc.reason or type(exc).__name__)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__
