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
from typing import TextIO

__all__ = ["REDACTED", "RedactingFilter", "redact", "register_secret", "setup_logging"]

REDACTED = "***"
_secrets: set[str] = set()
_lock = threading.Lock()
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
