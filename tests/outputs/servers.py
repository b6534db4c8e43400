"""Real syslog receivers on 127.0.0.1 for the tests, and a throw-away PKI.

`StreamServer` accepts TCP (optionally TLS) connections, splits each stream by octet counting
or LF, and can close a connection after N messages (to test reconnecting). `UdpServer`
keeps one message per datagram. `make_pki` writes a CA, a server certificate for
`localhost`/127.0.0.1 and a client certificate, generated with `cryptography`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_WAIT_S = 5.0
_POLL_S = 0.05  # how often blocked server threads look at the stop flag


class StreamServer:
    """A TCP/TLS syslog receiver that records every complete message it reads."""

    def __init__(
        self,
        framing: str = "octet",
        context: ssl.SSLContext | None = None,
        close_after: int | None = None,
        hold_on_eof: bool = False,
    ) -> None:
        self.framing = framing
        self.hold_on_eof = hold_on_eof
        self.context = context
        self.close_after = close_after
        self.messages: list[bytes] = []
        self.connections = 0
        self.errors: list[str] = []
        self._cond = threading.Condition()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(_POLL_S)
        self.port = self._listener.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._stop = False

    def __enter__(self) -> StreamServer:
        self._spawn(self._accept_loop)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        for thread in self._threads:
            thread.join(_WAIT_S)
        self._listener.close()

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept_loop(self) -> None:
        while not self._stop:
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._spawn(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(_WAIT_S)
        try:
            if self.context is not None:
                conn = self.context.wrap_socket(conn, server_side=True)
            conn.settimeout(_POLL_S)
            with self._cond:
                self.connections += 1
                self._cond.notify_all()
            self._read(conn)
        except (OSError, ssl.SSLError) as exc:
            with self._cond:
                self.errors.append(type(exc).__name__)
                self._cond.notify_all()
        finally:
            conn.close()

    def _read(self, conn: socket.socket) -> None:
        buffer, count = b"", 0
        while not self._stop:
            try:
                chunk = conn.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                while self.hold_on_eof and not self._stop:  # keep our end open, silently
                    time.sleep(_POLL_S)
                return
            buffer += chunk
            messages, buffer = self._split(buffer)
            with self._cond:
                self.messages.extend(messages)
                self._cond.notify_all()
            count += len(messages)
            if self.close_after is not None and count >= self.close_after:
                return

    def _split(self, buffer: bytes) -> tuple[list[bytes], bytes]:
        out: list[bytes] = []
        if self.framing == "lf":
            *lines, rest = buffer.split(b"\n")
            return lines, rest
        while b" " in buffer:
            head, _, body = buffer.partition(b" ")
            length = int(head)
            if len(body) < length:
                break
            out.append(body[:length])
            buffer = body[length:]
        return out, buffer

    def wait_for(self, count: int) -> list[bytes]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, _WAIT_S)
            return list(self.messages)

    def wait_connections(self, count: int) -> int:
        """The number of connections accepted, once it reaches `count` (or after the wait):
        a client may finish before the accepting thread has counted its connection."""
        with self._cond:
            self._cond.wait_for(lambda: self.connections >= count, _WAIT_S)
            return self.connections

    def wait_for_error(self) -> list[str]:
        with self._cond:
            self._cond.wait_for(lambda: bool(self.errors), _WAIT_S)
            return list(self.errors)


class UdpServer:
    """A UDP syslog receiver: one message per datagram."""

    def __init__(self) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(_POLL_S)
        self.port = self._sock.getsockname()[1]
        self._stop = False
        self.messages: list[bytes] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> UdpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop = True
        self._thread.join(_WAIT_S)
        self._sock.close()

    def _loop(self) -> None:
        while not self._stop:
            try:
                data, _ = self._sock.recvfrom(65536)
            except TimeoutError:
                continue
            with self._cond:
                self.messages.append(data)
                self._cond.notify_all()

    def wait_for(self, count: int) -> list[bytes]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.messages) >= count, _WAIT_S)
            return list(self.messages)


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_context(self, require_client: bool = False) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.server_cert, self.server_key)
        if require_client:
            context.verify_mode = ssl.CERT_REQUIRED
            context.load_verify_locations(self.ca)
        return context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _builder(
    subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
    )


def make_pki(folder: Path, label: str = "test") -> Pki:
    """A CA plus server and client certificates it signed, as PEM files in `folder`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        _builder(f"{label} CA", _name(f"{label} CA"), ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Pki(*(folder / f"{label}-{n}.pem" for n in ("ca", "srv", "srv-key", "cli", "cli-key")))
    paths.ca.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    san = x509.SubjectAlternativeName(
        [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    )
    for cert_path, key_path, usage, extra in (
        (paths.server_cert, paths.server_key, ExtendedKeyUsageOID.SERVER_AUTH, san),
        (paths.client_cert, paths.client_key, ExtendedKeyUsageOID.CLIENT_AUTH, None),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            _builder("localhost", ca_cert.subject, key)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
            )
        )
        if extra is not None:
            builder = builder.add_extension(extra, critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        _write_key(key, key_path)
    return paths
