"""Golden-file cases: `data/<case>.alert.json` in, `data/<case>.<renderer>.txt` out.

A new case is new files: drop an alert JSON and the expected output for any renderer below.
Expected files hold the exact bytes (UTF-8; CEF/LEEF/syslog lines have no trailing newline).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from connector.outputs.formats import render_cef, render_leef
from connector.outputs.syslog_format import SyslogFormatter
from connector.outputs.templates import render_body

DATA = Path(__file__).parent / "data"
HOST = "conn01.example.net"
_BIG = 1_000_000


def _syslog(**kwargs: Any) -> Callable[[dict[str, Any]], bytes]:
    return SyslogFormatter(hostname=HOST, max_bytes=_BIG, **kwargs).render


RENDERERS: dict[str, Callable[[dict[str, Any]], bytes]] = {
    "cef": lambda alert: render_cef(alert).encode("utf-8"),
    "leef": lambda alert: render_leef(alert).encode("utf-8"),
    "rfc5424-json": _syslog(payload="json"),
    "rfc5424-cef": _syslog(payload="cef"),
    "rfc3164-leef": _syslog(payload="leef", format="rfc3164"),
    "rfc5424-json-udp": SyslogFormatter(hostname=HOST, payload="json", max_bytes=1400).render,
    "slack": lambda alert: render_body("slack", alert),
    "teams": lambda alert: render_body("teams", alert),
}


def load_alert(case: str) -> dict[str, Any]:
    alert: dict[str, Any] = json.loads((DATA / f"{case}.alert.json").read_text(encoding="utf-8"))
    return alert


def cases() -> list[tuple[str, str]]:
    """(case, renderer) for every expected file present."""
    out = []
    for path in sorted(DATA.glob("*.txt")):
        case, renderer = path.name.removesuffix(".txt").split(".", 1)
        out.append((case, renderer))
    return out


def expected_path(case: str, renderer: str) -> Path:
    return DATA / f"{case}.{renderer}.txt"
