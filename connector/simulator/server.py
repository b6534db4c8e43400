"""The simulator as a real HTTP server: a `ThreadingHTTPServer` on a background thread.

    with Simulator(records, token="t0k3n", status_delay_s=0) as sim:
        requests.post(sim.url + "/web/api/v2.1/dv/init-query", ...)

The handler only moves bytes; everything the console decides lives in `app.Console`.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from connector.config import is_loopback_host
from connector.errors import ConfigError
from connector.simulator.app import Console, LogEntry
from connector.simulator.dataset import Dataset
from connector.simulator.dv import DvApi, DvSettings
from connector.simulator.faults import FaultInjector, Faults
from connector.simulator.request import Clock, Request
from connector.simulator.responses import SERVER_ERROR, VALIDATION, Reply, dv_error
from connector.simulator.sdl import SdlApi, SdlSettings

__all__ = ["Simulator"]

log = logging.getLogger(__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    console: Console

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, dropped fault) is normal here: log, don't print.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    """Turns one HTTP exchange into a `Request`, and the console's `Reply` into bytes."""

    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, like the real console behind its proxy
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
    server_version = "s1-simulator"

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        try:
            request = self._request()
        except ValueError as exc:
            self._send(dv_error(VALIDATION, f"malformed request: {exc}"))
            return
        try:
            reply = self.server.console.handle(request)
        except Exception:  # a simulator bug: answer like the console would, and log it
            log.exception("simulator error on %s %s", request.method, request.path)
            reply = dv_error(SERVER_ERROR)
        if reply.delay_s:
            time.sleep(reply.delay_s)
        if reply.drop:
            self._drop()
            return
        self._send(reply)

    def _request(self) -> Request:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        url = urlsplit(self.path)
        params = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
        headers = {k.lower(): v for k, v in self.headers.items()}
        return Request(self.command, url.path, params, headers, body)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError as exc:  # the client may already be gone; nothing left to drop
            log.debug("drop: %s", exc)

    def _send(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        if reply.body:
            self.wfile.write(reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class Simulator:
    """A fake SentinelOne console (DV v2.1 and SDL v2) serving `records` on a background thread.

    `records` are Cloud Funnel-style dicts (see `scenario.py`); DV clients get them in DV form.
    Times: DV queries finish `status_delay_s` after launch and expire `dv_expiry_s` after the
    last call; SDL queries finish after `status_delay_s` and expire `sdl_expiry_s` after the
    last poll. `retention_days=None` turns the DV retention check off (for old scenario
    files). `clock` replaces the monotonic clock (a `Clock(manual=True)` in tests).
    `sdl_progress` ("totalSteps", "stepsTotal", "both"), `sdl_results` ("end", "pieces"),
    `pq_partial_above` / `pq_partial_flag`: how LRQ answers look (`sdl.SdlSettings`).
    """

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]],
        *,
        token: str,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        seed: int = 0,
        status_delay_s: float = 1.0,
        query_cap: int = 20000,
        sdl_limit: int = 5000,
        dv_expiry_s: float = 300.0,
        sdl_expiry_s: float = 30.0,
        retention_days: int | None = 14,
        deprecation_notice: bool = False,
        clock: Callable[[], float] | None = None,
        sdl_progress: str = "totalSteps",
        sdl_results: str = "end",
        pq_partial_above: int | None = None,
        pq_partial_flag: str = "partialResultsDueToTimeLimit",
    ) -> None:
        if not token:
            raise ConfigError("the simulator needs a non-empty API token")
        self.host, self.port = host, port
        self.clock = clock or Clock()
        self.data = Dataset(records)
        self.injector = FaultInjector(faults, seed)
        dv = DvApi(
            self.data,
            self.clock,
            DvSettings(status_delay_s, query_cap, dv_expiry_s, retention_days),
            seed=seed,
        )
        sdl_settings = SdlSettings(
            status_delay_s, sdl_limit, sdl_expiry_s, sdl_progress, sdl_results,
            pq_partial_above, pq_partial_flag,
        )  # fmt: skip
        sdl = SdlApi(self.data, self.clock, sdl_settings)
        self.console = Console(
            self.data,
            dv,
            sdl,
            self.injector,
            token=token,
            clock=self.clock,
            admin_open=is_loopback_host(host),
            deprecation_notice=deprecation_notice,
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """`http://HOST:PORT` (the real port once started)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> Simulator:
        """Bind and serve on a daemon thread; raise ConfigError if the address is unusable."""
        if self._server is not None:
            return self
        server_class = _server_class(self.host)
        try:
            server = server_class((self.host, self.port), _Handler)
        except OSError as exc:
            raise ConfigError(f"simulator cannot listen on {self.host}:{self.port}: {exc}") from exc
        server.console = self.console
        self.port = server.server_address[1]
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        log.info("simulator listening on %s (%d records)", self.url, len(self.data))
        return self

    def stop(self) -> None:
        """Stop serving and close the socket. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until the server stops (for `s1-connector simulate`)."""
        if self._thread is not None:
            while self._thread.is_alive():
                self._thread.join(timeout=0.5)

    def set_faults(self, faults: Faults) -> None:
        """Replace the injected faults (restarts request numbering and the random draws)."""
        self.injector.set(faults)

    @property
    def faults(self) -> Faults:
        return self.injector.faults

    @property
    def stats(self) -> dict[str, Any]:
        """Calls by endpoint label, statuses (`"dv/events 200"`), faults injected, open queries."""
        return self.console.snapshot()

    @property
    def request_log(self) -> list[LogEntry]:
        """Every answered API request, oldest first (bounded)."""
        return list(self.console.stats.log)

    def add_records(self, records: Iterable[Mapping[str, Any]]) -> int:
        """Make more records visible to new queries; return how many were added."""
        return self.data.add(records)

    def reset(self) -> None:
        """Zero statistics, forget queries, clear faults."""
        self.console.reset()


def _server_class(host: str) -> type[_Server]:
    if ":" not in host:
        return _Server

    class _Server6(_Server):
        address_family = socket.AF_INET6

    return _Server6
