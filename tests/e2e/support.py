"""Building blocks of the end-to-end tests: planted chains, a Cloud Funnel folder, fake
consoles (DV v2.1 and SDL v2 as stateful `responses` callbacks), a loopback webhook
receiver, and readers for what the outputs received.

Records are built in the Cloud Funnel shape (flat dotted keys, epoch-ms times) and turned
into DV events with the simulator's own conversion, so one chain serves all three sources.
A chain is the seed rule's shape: `cmd.exe /c run.bat start` is started, then the same
process (same uid) connects to a public address `gap_s` later.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import responses

from connector.config import Config
from connector.runner import poll
from connector.simulator.convert import cf_to_dv
from connector.timeutil import to_datetime, to_epoch_ms

CONSOLE = "https://console.e2e.test"
DV = CONSOLE + "/web/api/v2.1/dv"
SDL = CONSOLE + "/sdl/v2/api/queries"
FORWARD_TAG = "X-Dataset-Query-Forward-Tag"
ACCOUNT = "1600000000000000001"
CF_PREFIX = "s1/cloud_funnel"
TOKEN = "e2e-secret-token-0123456789"

Record = dict[str, Any]


# -- planted chains ----------------------------------------------------------------------


@dataclass(frozen=True)
class Chain:
    """One planted attack chain: the two Cloud Funnel records and the ids an alert carries."""

    name: str
    start: Record
    connect: Record

    @property
    def ids(self) -> tuple[str, str]:
        return (str(self.start["event.id"]), str(self.connect["event.id"]))

    @property
    def records(self) -> list[Record]:
        return [self.start, self.connect]


def _common(event_id: str, at: datetime, host: str) -> Record:
    return {
        "event.time": to_epoch_ms(at),
        "event.id": event_id,
        "trace.id": event_id.split("_", 1)[0],
        "endpoint.name": host,
        "endpoint.os": "windows",
        "endpoint.type": "desktop",
        "agent.uuid": hashlib.md5(host.encode()).hexdigest(),
        "account.id": ACCOUNT,
        "site.id": "1700000000000000001",
        "dataSource.name": "SentinelOne",
    }


def start_record(
    event_id: str, at: datetime, uid: str, host: str = "WKS-0001", cmdline: str = ""
) -> Record:
    """A Process Creation of cmd.exe (stage 1 of the seed rule unless `cmdline` says not)."""
    record = _common(event_id, at, host)
    record.update(
        {
            "event.type": "Process Creation",
            "event.category": "process",
            "meta.event.name": "PROCESSCREATION",
            "src.process.name": "explorer.exe",
            "src.process.uid": "P" + uid,
            "src.process.pid": 1200,
            "src.process.cmdline": "C:\\Windows\\explorer.exe",
            "src.process.image.path": "C:\\Windows\\explorer.exe",
            "tgt.process.name": "cmd.exe",
            "tgt.process.uid": uid,
            "tgt.process.pid": 4242,
            "tgt.process.cmdline": cmdline or "cmd.exe /c run.bat start",
            "tgt.process.image.path": "C:\\Windows\\System32\\cmd.exe",
        }
    )
    return record


def connect_record(
    event_id: str, at: datetime, uid: str, ip: str = "8.8.8.8", host: str = "WKS-0001"
) -> Record:
    """An outgoing IP Connect by the cmd.exe whose uid is `uid` (stage 2 if `ip` is public)."""
    record = _common(event_id, at, host)
    record.update(
        {
            "event.type": "IP Connect",
            "event.category": "ip",
            "meta.event.name": "TCPV4",
            "src.process.name": "cmd.exe",
            "src.process.uid": uid,
            "src.process.pid": 4242,
            "src.process.cmdline": "cmd.exe /c run.bat start",
            "src.ip.address": "10.0.0.5",
            "src.port.number": 50123,
            "dst.ip.address": ip,
            "dst.port.number": 443,
            "event.network.direction": "OUTGOING",
            "event.network.connectionStatus": "SUCCESS",
        }
    )
    return record


def chain(name: str, at: datetime, gap_s: float = 3.0, host: str = "WKS-0001") -> Chain:
    """A chain whose cmd.exe starts at `at` and connects to 8.8.8.8 `gap_s` later."""
    uid = f"UID-{name}"
    return Chain(
        name,
        start_record(f"{name}-start", at, uid, host),
        connect_record(f"{name}-net", at + timedelta(seconds=gap_s), uid, host=host),
    )


def noise(prefix: str, at: datetime, count: int, step: timedelta) -> list[Record]:
    """Events that must never alert: benign cmd.exe, private destinations, other processes."""
    out: list[Record] = []
    for n in range(count):
        when = at + n * step
        uid = f"N-{prefix}-{n}"
        kind = n % 3
        if kind == 0:  # a benign cmd.exe that then connects out: stage 1 never matches
            out.append(start_record(f"{prefix}-{n}-s", when, uid, cmdline="cmd.exe /c dir"))
            out.append(connect_record(f"{prefix}-{n}-c", when + timedelta(seconds=1), uid))
        elif kind == 1:  # a suspicious cmd.exe talking to a private address only
            out.append(start_record(f"{prefix}-{n}-s", when, uid))
            out.append(
                connect_record(f"{prefix}-{n}-c", when + timedelta(seconds=2), uid, "10.1.2.3")
            )
        else:  # another process entirely (the raw prefilter skips it)
            record = start_record(f"{prefix}-{n}-s", when, uid)
            record["tgt.process.name"] = "chrome.exe"
            record["tgt.process.cmdline"] = "chrome.exe --type=renderer"
            record["tgt.process.image.path"] = "C:\\Program Files\\Google\\chrome.exe"
            out.append(record)
    return out


# -- a Cloud Funnel export on disk --------------------------------------------------------


def write_cloud_funnel(root: Path, records: Iterable[Record], part: str) -> list[Path]:
    """Write records as gzip NDJSON under `root/s1/cloud_funnel/yyyy/mm/dd/account_id=…/`,
    one object per day (named `part`), the way Cloud Funnel 2.0 lays out an export."""
    by_day: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        moment = to_datetime(record["event.time"])
        assert moment is not None
        by_day[f"{moment:%Y/%m/%d}"].append(record)
    written = []
    for day, rows in sorted(by_day.items()):
        folder = root / CF_PREFIX / day / f"account_id={ACCOUNT}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{part}.gz"
        lines = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows)
        path.write_bytes(gzip.compress(lines.encode()))
        written.append(path)
    return written


# -- fake consoles ------------------------------------------------------------------------


def _param(request: requests.PreparedRequest, name: str) -> str:
    return parse_qs(urlsplit(request.url or "").query).get(name, [""])[0]


def _moment(record: Mapping[str, Any]) -> datetime:
    moment = to_datetime(record.get("event.time"))
    assert moment is not None
    return moment


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Any:
    return (status, headers or {}, json.dumps(body))


@dataclass
class FakeDV:
    """A Deep Visibility v2.1 console over Cloud Funnel `records` (served in DV form).

    init-query selects the events with `fromDate < eventTime <= toDate` (DV's documented
    filter), query-status answers FINISHED at once, events pages by an offset cursor,
    cancel-query acknowledges. `records` may be changed between runs (late indexing).
    `fail_init` maps an init-query number (1-based) to a status to answer instead;
    `fail_all_from` answers 503 to every init-query from that number on.
    """

    rsps: responses.RequestsMock
    records: list[Record]
    page_size: int = 2
    fail_init: dict[int, int] = field(default_factory=dict)
    fail_all_from: int | None = None
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    cancelled: list[str] = field(default_factory=list)
    _results: dict[str, list[Record]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for method, name, handler in (
            ("POST", "init-query", self._init),
            ("GET", "query-status", self._status),
            ("GET", "events", self._events),
            ("POST", "cancel-query", self._cancel),
        ):
            self.rsps.add_callback(method, f"{DV}/{name}", callback=handler, content_type=None)

    def _init(self, request: requests.PreparedRequest) -> Any:
        self.auth_headers.append(str(request.headers.get("Authorization", "")))
        number = len(self.auth_headers)
        status = self.fail_init.get(number)
        if status is None and self.fail_all_from is not None and number >= self.fail_all_from:
            status = 503
        if status is not None:
            return _json(status, {"errors": [{"code": status * 10000, "detail": "injected"}]})
        body = json.loads(request.body or b"{}")
        low, high = to_datetime(body["fromDate"]), to_datetime(body["toDate"])
        assert low is not None and high is not None
        self.windows.append((low, high))
        hits = [cf_to_dv(r) for r in self.records if low < _moment(r) <= high]
        query_id = f"q{number}"
        self._results[query_id] = hits[: int(body["limit"])]
        return _json(200, {"data": {"queryId": query_id}})

    def _status(self, request: requests.PreparedRequest) -> Any:
        if _param(request, "queryId") not in self._results:
            return _json(404, {"errors": [{"code": 4040010, "detail": "QueryId not found"}]})
        return _json(200, {"data": {"responseState": "FINISHED", "progressStatus": 100}})

    def _events(self, request: requests.PreparedRequest) -> Any:
        hits = self._results.get(_param(request, "queryId"))
        if hits is None:
            return _json(404, {"errors": [{"code": 4040010, "detail": "QueryId not found"}]})
        offset = int(_param(request, "cursor") or 0)
        size = min(int(_param(request, "limit")), self.page_size)
        more = offset + size < len(hits)
        pagination = {"totalItems": len(hits), "nextCursor": str(offset + size) if more else None}
        return _json(200, {"data": hits[offset : offset + size], "pagination": pagination})

    def _cancel(self, request: requests.PreparedRequest) -> Any:
        self.cancelled.append(json.loads(request.body or b"{}").get("queryId", ""))
        return _json(200, {"data": {"success": True}})


@dataclass
class FakeSDL:
    """An SDL v2 long-running-query endpoint serving Cloud Funnel `records` as LOG matches.

    POST selects `startTime <= event.time < endTime` and answers with the forward tag and
    `stepsCompleted 0/1`; the first GET (which must echo the tag) finishes it with
    `{"matches": [{"values": record}]}`; DELETE (tag required) releases it. A GET or DELETE
    without the right tag is answered 400 and listed in `untagged`.
    """

    rsps: responses.RequestsMock
    records: list[Record]
    tag: str = "fwd-e2e-1"
    launched: list[dict[str, Any]] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    untagged: list[str] = field(default_factory=list)
    _results: dict[str, list[Record]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        item = re.compile(re.escape(SDL) + r"/[^/?]+")
        self.rsps.add_callback("POST", SDL, callback=self._post, content_type=None)
        self.rsps.add_callback("GET", item, callback=self._get, content_type=None)
        self.rsps.add_callback("DELETE", item, callback=self._delete, content_type=None)

    def _post(self, request: requests.PreparedRequest) -> Any:
        body = json.loads(request.body or b"{}")
        self.launched.append(body)
        low, high = to_datetime(body["startTime"]), to_datetime(body["endTime"])
        assert low is not None and high is not None
        query_id = f"lrq{len(self.launched)}"
        self._results[query_id] = [r for r in self.records if low <= _moment(r) < high]
        doc = {"id": query_id, "stepsCompleted": 0, "stepsTotal": 1, "data": None}
        return _json(200, doc, {FORWARD_TAG: self.tag})

    def _tag_ok(self, request: requests.PreparedRequest) -> bool:
        if request.headers.get(FORWARD_TAG) == self.tag:
            return True
        self.untagged.append(f"{request.method} {request.url}")
        return False

    def _get(self, request: requests.PreparedRequest) -> Any:
        if not self._tag_ok(request):
            return _json(400, {"message": "missing forward tag"})
        query_id = urlsplit(request.url or "").path.rsplit("/", 1)[-1]
        if query_id not in self._results or query_id in self.deleted:
            return _json(404, {"message": "query not found"})
        matches = [{"values": r} for r in self._results[query_id]]
        return _json(200, {"id": query_id, "stepsCompleted": 1, "stepsTotal": 1,
                           "data": {"matches": matches}, "error": None})  # fmt: skip

    def _delete(self, request: requests.PreparedRequest) -> Any:
        if not self._tag_ok(request):
            return _json(400, {"message": "missing forward tag"})
        self.deleted.append(urlsplit(request.url or "").path.rsplit("/", 1)[-1])
        return (204, {}, "")


# -- a webhook receiver on 127.0.0.1 -------------------------------------------------------


@dataclass(frozen=True)
class Hit:
    """One request the receiver answered: the alert id in the body, its webhook-id, status."""

    alert_id: str
    webhook_id: str
    body: bytes
    status: int


class WebhookReceiver:
    """A real HTTP server on 127.0.0.1 that answers `status` (set it to 503 for "down")."""

    def __init__(self, status: int = 200, delay_s: float = 0.0) -> None:
        self.status = status
        self.delay_s = delay_s
        self.hits: list[Hit] = []
        self.unanswered = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    return
                if receiver.delay_s:
                    threading.Event().wait(receiver.delay_s)
                status = receiver.status
                alert_id = json.loads(body)["data"]["event"]["id"]
                with receiver._lock:
                    receiver.hits.append(
                        Hit(alert_id, self.headers.get("webhook-id", ""), body, status)
                    )
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:  # the sender was killed while we answered (crash test)
                    with receiver._lock:
                        receiver.unanswered += 1

            def log_message(self, *args: Any) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def accepted(self) -> Counter[str]:
        """How many times each alert id was answered 2xx."""
        with self._lock:
            return Counter(h.alert_id for h in self.hits if 200 <= h.status < 300)


# -- reading results -----------------------------------------------------------------------


def read_alerts(path: Path) -> list[dict[str, Any]]:
    """Every JSON line of an alerts file (a missing file has none); strict JSON per line."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def matched_ids(alert: Mapping[str, Any]) -> tuple[str, ...]:
    """The S1 event ids an alert matched, in order."""
    return tuple(str(e["event"]["id"]) for e in alert["sequence"]["events"])


def alert_ids(alerts: Iterable[Mapping[str, Any]]) -> list[str]:
    return [str(a["event"]["id"]) for a in alerts]


def ids_by_match(alerts: Iterable[Mapping[str, Any]]) -> dict[tuple[str, ...], set[str]]:
    """Matched event ids → the alert ids they were delivered under (must be one each)."""
    out: dict[tuple[str, ...], set[str]] = defaultdict(set)
    for alert in alerts:
        out[matched_ids(alert)].add(str(alert["event"]["id"]))
    return dict(out)


# -- configuration -------------------------------------------------------------------------


def toml_value(value: Any) -> str:
    """A TOML value: JSON's string escapes are valid TOML basic-string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, Path):
        return json.dumps(str(value))
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def to_toml(config: Mapping[str, Any]) -> str:
    """Sections of scalars and lists, plus `outputs` as an array of tables."""
    lines: list[str] = []
    for section, values in config.items():
        tables = values if section == "outputs" else [values]
        for table in tables:
            lines.append(f"[[{section}]]" if section == "outputs" else f"[{section}]")
            lines += [f"{key} = {toml_value(value)}" for key, value in table.items()]
            lines.append("")
    return "\n".join(lines)


def poll_at(config: Config, at: datetime) -> int:
    """One `poll` run with the clock fixed at `at`."""
    return poll(config, now=lambda: at)


def first_output_alerts(config: Config) -> list[dict[str, Any]]:
    """The alerts the first output (a `file` output in these tests) received."""
    return read_alerts(config.outputs[0].path)  # type: ignore[union-attr]
