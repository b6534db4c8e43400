"""The syslog output: RFC 5424/3164 messages over UDP, TCP or TLS, errors surfaced.

| transport      | port | framing                          | default size cap |
|----------------|------|----------------------------------|------------------|
| `tls` (default)| 6514 | octet counting (`framing = "lf"` optional) | 8192   |
| `tcp`          | 514  | octet counting (`framing = "lf"` optional) | 8192   |
| `udp`          | 514  | one message per datagram         | 1400             |

Unlike `logging.handlers.SysLogHandler`, nothing is swallowed: every failure becomes an answer
(`Delivery`) or an exception the caller sees.

* One connection per run, opened on `__enter__`. Before each write the socket is checked for
  a peer that already closed (a receiver never sends, so readable means EOF or reset); a write
  that fails with `OSError` closes, reconnects **once** and resends. A second failure answers
  RETRY for that alert and the rest of the batch, without more connection attempts.
* TLS: certificate verification and hostname checking on by default (`ca_bundle` for a
  private CA), TLS ≥ 1.2, optional client certificate. Verification failures, unreadable TLS
  files and unresolvable names are fatal (`OutputFatal` from `__enter__`; REJECTED if they
  appear mid-run): they need a person, not a retry.
* A message over the size cap (possible only with `oversize = "reject"`, or when even the
  shrunk message does not fit) is REJECTED with its size in the reason.
* Nothing here sleeps: retry timing belongs to the outbox.
"""

from __future__ import annotations

import logging
import select
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from typing import Any

from connector.config import SyslogOutputConfig
from connector.errors import DeliveryError, OutputFatal, OutputRetriable
from connector.outputs.base import Delivery, Outcome, Pending
from connector.outputs.syslog_format import SyslogFormatter, frame_lf, frame_octet

__all__ = ["SyslogConnection", "SyslogOutput", "tls_context"]

log = logging.getLogger(__name__)
WRITE_TIMEOUT_S = 30.0
_CLOSE_NOTIFY_TIMEOUT_S = 2.0


def tls_context(config: SyslogOutputConfig) -> ssl.SSLContext:
    """The client TLS context for a syslog output; OutputFatal if its files cannot be used."""
    try:
        context = ssl.create_default_context(
            cafile=str(config.ca_bundle) if config.ca_bundle else None
        )
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if not config.verify_tls:
            # check_hostname must be off before CERT_NONE, or ssl raises ValueError.
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            log.warning("output %s: TLS certificate verification is OFF", config.name)
        if config.client_cert:
            key = str(config.client_key) if config.client_key else None
            context.load_cert_chain(str(config.client_cert), key)
    except (OSError, ssl.SSLError) as exc:
        raise OutputFatal(
            f"output {config.name}: cannot load TLS files (ca_bundle/client_cert/client_key): "
            f"{_describe(exc)}"
        ) from exc
    return context


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"certificate verification failed: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or type(exc).__name__}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__


class SyslogConnection:
    """One stream or datagram connection to a receiver, with reconnect-once on failure."""

    def __init__(
        self,
        host: str,
        port: int,
        transport: str,
        *,
        timeout: float = 10.0,
        context: ssl.SSLContext | None = None,
        server_name: str = "",
    ) -> None:
        self.where = f"{host}:{port}/{transport}"
        self._host, self._port, self._transport = host, port, transport
        self._timeout = timeout
        self._context = context
        self._server_name = server_name or host
        self._sock: socket.socket | None = None

    def open(self) -> None:
        """Connect; OutputFatal for TLS/name failures, OutputRetriable for the rest."""
        self.close()
        try:
            self._sock = self._connect()
        except (ssl.SSLEOFError, ssl.SSLZeroReturnError) as exc:  # peer hung up mid-handshake
            raise OutputRetriable(f"syslog {self.where}: cannot connect: {_describe(exc)}") from exc
        except (socket.gaierror, ssl.SSLError) as exc:
            raise OutputFatal(f"syslog {self.where}: {_describe(exc)}") from exc
        except OSError as exc:
            raise OutputRetriable(f"syslog {self.where}: cannot connect: {_describe(exc)}") from exc

    def _connect(self) -> socket.socket:
        if self._transport == "udp":
            family, kind, proto, _, address = socket.getaddrinfo(
                self._host, self._port, type=socket.SOCK_DGRAM
            )[0]
            sock = socket.socket(family, kind, proto)
            sock.connect(address)  # connected UDP reports ICMP errors on later sends
            return sock
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout)
        if self._context is None:
            return sock
        try:
            return self._context.wrap_socket(sock, server_hostname=self._server_name)
        except BaseException:
            sock.close()
            raise

    def send(self, frame: bytes, timeout: float = WRITE_TIMEOUT_S) -> None:
        """Write one frame; reconnect once on a broken connection, then raise DeliveryError."""
        if self._sock is None or self._peer_closed(self._sock):
            self.open()
        try:
            self._write(frame, timeout)
        except OSError as first:
            log.info(
                "syslog %s: write failed (%s); reconnecting once", self.where, _describe(first)
            )
            self.open()
            try:
                self._write(frame, timeout)
            except OSError as exc:
                self.close()
                raise OutputRetriable(
                    f"syslog {self.where}: write failed: {_describe(exc)}"
                ) from exc

    def _write(self, frame: bytes, timeout: float) -> None:
        assert self._sock is not None, "open() first"
        self._sock.settimeout(timeout)
        if self._transport == "udp":
            self._sock.send(frame)
        else:
            self._sock.sendall(frame)

    def _peer_closed(self, sock: socket.socket) -> bool:
        """True when a stream peer has closed or reset; receivers never send us data."""
        if self._transport == "udp":
            return False
        try:
            readable, _, _ = select.select([sock], [], [], 0)
        except (OSError, ValueError):
            return True
        if not readable:
            return False
        sock.settimeout(0)
        try:
            # TLS: recv() also consumes post-handshake records (session tickets).
            data = (
                sock.recv(1) if isinstance(sock, ssl.SSLSocket) else sock.recv(1, socket.MSG_PEEK)
            )
        except (ssl.SSLWantReadError, BlockingIOError):
            return False
        except OSError:
            return True
        return data == b""

    def close(self) -> None:
        """Close; a TLS connection first sends close_notify (`unwrap`), so the receiver sees
        an orderly end rather than a truncated stream (rsyslog logs errors otherwise)."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.settimeout(_CLOSE_NOTIFY_TIMEOUT_S)
                sock.unwrap().close()
                return
            except (OSError, ValueError) as exc:  # peer already gone: nothing to notify
                log.debug("syslog %s: TLS shutdown failed: %s", self.where, _describe(exc))
        try:
            sock.close()
        except OSError as exc:  # closing a broken socket; nothing left to deliver on it
            log.debug("syslog %s: close failed: %s", self.where, _describe(exc))


def _framing(config: SyslogOutputConfig) -> Callable[[bytes], bytes]:
    """UDP sends one message per datagram; streams frame by octet counting or LF."""
    if config.transport == "udp":
        return bytes
    return frame_octet if config.framing == "octet" else frame_lf


class SyslogOutput:
    """Delivers rendered syslog messages over one connection per run."""

    def __init__(
        self,
        config: SyslogOutputConfig,
        *,
        hostname: str | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = config.name
        self._config = config
        self._max_bytes = config.effective_max_bytes
        self._formatter = SyslogFormatter(
            hostname=hostname or socket.gethostname(),
            payload=config.payload,
            format=config.format,
            facility=config.facility,
            app_name=config.app_name,
            sd_id=config.sd_id,
            bom=config.bom,
            max_bytes=self._max_bytes,
            shrink=config.oversize == "shrink",
            document=config.document,
        )
        self._frame = _framing(config)
        self._monotonic = monotonic
        self.connection: SyslogConnection | None = None

    def __enter__(self) -> SyslogOutput:
        context = tls_context(self._config) if self._config.transport == "tls" else None
        self.connection = SyslogConnection(
            self._config.host,
            self._config.effective_port,
            self._config.transport,
            timeout=self._config.timeout.total_seconds(),
            context=context,
            server_name=self._config.server_name,
        )
        try:
            self.connection.open()
        except OutputRetriable as exc:  # the receiver may be back by the first send
            log.warning("output %s: %s; will retry when sending", self.name, exc)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.connection is not None:
            self.connection.close()

    def render(self, alert: dict[str, Any]) -> bytes:
        """The syslog message (unframed; framing depends on the transport, added at send)."""
        return self._formatter.render(alert)

    def send(self, batch: Sequence[Pending], deadline: float) -> list[Delivery]:
        """Send each message in order; after a connection failure the rest answer the same."""
        answers: list[Delivery] = []
        failure: DeliveryError | None = None
        for item in batch:
            if failure is None:
                try:
                    answers.append(self._send_one(item, deadline))
                    continue
                except DeliveryError as exc:
                    failure = exc
                    log.warning("output %s: alert %s not sent: %s", self.name, item.alert_id, exc)
            # Fatal (TLS, name) needs a person; anything else may work on a later run.
            outcome = Outcome.REJECTED if isinstance(failure, OutputFatal) else Outcome.RETRY
            answers.append(Delivery(item.alert_id, outcome, str(failure)))
        return answers

    def _send_one(self, item: Pending, deadline: float) -> Delivery:
        """Deliver one message; connection failures raise DeliveryError."""
        remaining = deadline - self._monotonic()
        if remaining <= 0:
            return Delivery(item.alert_id, Outcome.RETRY, "run deadline reached before sending")
        if len(item.body) > self._max_bytes:
            reason = (
                f"message is {len(item.body)} bytes, over max_message_bytes {self._max_bytes} "
                f"(oversize = {self._config.oversize!r})"
            )
            return Delivery(item.alert_id, Outcome.REJECTED, reason)
        assert self.connection is not None, "use the output as a context manager"
        self.connection.send(self._frame(item.body), min(WRITE_TIMEOUT_S, remaining))
        return Delivery(item.alert_id, Outcome.DELIVERED)
