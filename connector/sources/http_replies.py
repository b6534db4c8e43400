"""Reading what a console says when it refuses: error bodies and `Retry-After` headers.

Pure functions, no I/O; `connector.sources.http` is their only caller outside tests.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

from connector.logsetup import redact

__all__ = ["parse_error_body", "parse_retry_after"]

_MAX_TEXT = 300


def parse_error_body(content: bytes) -> tuple[str, tuple[int, ...]]:
    """Summarise an error body: DV `errors[]`, LRQ `{message, details}`, else raw text."""
    try:
        doc = json.loads(content.decode("utf-8", errors="replace")) if content else None
    except ValueError:
        doc = None
    if isinstance(doc, Mapping):
        summary = _summarise_errors(doc)
        if summary is not None:
            return summary
    text = content.decode("utf-8", errors="replace").strip()
    text = " ".join(text.split())[:_MAX_TEXT] or "(empty body)"
    return redact(text), ()


def _summarise_errors(doc: Mapping[str, Any]) -> tuple[str, tuple[int, ...]] | None:
    errors = doc.get("errors")
    if isinstance(errors, list) and errors:
        parts, codes = [], []
        for item in errors:
            if isinstance(item, Mapping):
                title, detail = item.get("title") or "", item.get("detail") or ""
                parts.append(": ".join(str(p) for p in (title, detail) if p) or "error")
                if isinstance(item.get("code"), int):
                    codes.append(item["code"])
        return redact("; ".join(parts)[:_MAX_TEXT]), tuple(codes)
    message, details = doc.get("message"), doc.get("details")
    error = doc.get("error")
    if not message and isinstance(error, Mapping):
        message, details = error.get("message"), error.get("details")
    if not message:
        return None
    if isinstance(details, list):
        extra = [f"{d.get('field', '')}: {d.get('message', '')}" for d in details if _is_map(d)]
        message = "; ".join([str(message), *extra])
    return redact(str(message)[:_MAX_TEXT]), ()


def _is_map(value: object) -> bool:
    return isinstance(value, Mapping)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait per a `Retry-After` header (delta-seconds or HTTP date); None if unusable."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - (time.time() if now is None else now))
