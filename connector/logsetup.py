"""Logging to stderr, as text or JSON lines, with secrets redacted on every handler.

The redaction filter renders each record's message, masks registered secret values and
anything shaped like a credential (`Authorization: ApiToken …`, `Bearer …`, `whsec_…`,
`token=`, `secret=`, `sig=`, Slack hook paths), stores the result in `record.msg` and clears
`record.args`. Tracebacks are redacted by the formatter, because they are formatted after
filters run. Records from requests, urllib3 and tenacity pass through the same handler.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
import time
from typing import Any, TextIO

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "RepeatFilter",
    "once",
    "redact",
    "register_secret",
    "report_repeats",
    "setup_logging",
    "status_line",
]

REDACTED = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
_REPEAT_KEY = "repeat_key"
# Each pattern's group 1 is the part to keep (the label); the rest of the match is masked.
_PATTERNS = [
    re.compile(r"(?i)\b((?:ApiToken|Bearer|Basic)\s+)[^\s\"',;]+"),
    re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"',;\n]+"),
    re.compile(r"()whsec_[A-Za-z0-9+/=_-]+"),
    re.compile(r"(?i)\b((?:api_?key|token|secret|password|sig)=)[^&\s\"',;]+"),
    re.compile(r"(hooks\.slack\.com/services/)[^\s\"']+"),
]


def register_secret(value: str) -> None:
    """Mask this exact value in every log line from now on (values under 4 chars are ignored)."""
    if len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Mask registered secrets and credential-shaped substrings in `text`."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def _mask(match: re.Match[str]) -> str:
    return match.group(1) + REDACTED


class RedactingFilter(logging.Filter):
    """Render, redact and freeze each record's message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


def once(key: str) -> dict[str, str]:
    """`extra=` for a warning that may repeat: logged the first time per run, then counted.

    `report_repeats()` (at the end of a run) says how many more were held back.
    """
    return {_REPEAT_KEY: key}


class RepeatFilter(logging.Filter):
    """Passes the first record of each `once(key)`; counts the rest. Others pass untouched."""

    def __init__(self) -> None:
        super().__init__()
        self.counts: dict[str, list[Any]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        key = getattr(record, _REPEAT_KEY, None)
        if not isinstance(key, str):
            return True
        seen = self.counts.setdefault(key, [0, record.getMessage(), record.name, record.levelno])
        seen[0] += 1
        return bool(seen[0] == 1)


_repeats = RepeatFilter()


def report_repeats() -> None:
    """Log one line per `once` warning that repeated, with how often; then forget them."""
    counts, _repeats.counts = _repeats.counts, {}
    for count, message, name, level in counts.values():
        if count > 1:
            logging.getLogger(name).log(
                level, "%s (repeated %d more time(s) this run)", message, count - 1
            )


_state = {"format": "text"}


def status_line(text: str, *, level: str = "info", **fields: Any) -> None:
    """A line for people on stderr (run summary, final error): as is in text mode, one JSON
    object (`time`, `level`, `logger`, `message` + `fields`) with `--log-format json`."""
    text = redact(text)
    if _state["format"] == "json":
        now = time.time()
        doc: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
            + f".{int(now * 1000) % 1000:03d}Z",
            "level": level,
            "logger": "connector",
            "message": text,
            **fields,
        }
        text = redact(json.dumps(doc, ensure_ascii=False, default=str))
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(doc, ensure_ascii=False))


def setup_logging(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or `stream`) through the redaction filter."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.addFilter(_repeats)
    _repeats.counts = {}
    _state["format"] = fmt
    formatter: logging.Formatter
    if fmt == "json":
        formatter = _JsonFormatter()
    else:
        formatter = _TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # Library chatter only at debug; NOTSET restores inheritance when debug is asked for.
    quiet = logging.NOTSET if level.lower() == "debug" else logging.WARNING
    for noisy in ("urllib3", "botocore", "boto3", "s3transfer"):
        logging.getLogger(noisy).setLevel(quiet)
