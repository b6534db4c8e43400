"""Redaction: a planted token never shows in messages, tracebacks, header dumps, JSON logs."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from connector.logsetup import register_secret, setup_logging

TOKEN = "eyJhbGciOiJIUzI1NiJ9.planted-token-value"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    register_secret(TOKEN)
    yield out
    logging.getLogger().handlers.clear()


def _emit(level: str = "debug", fmt: str = "text", out: io.StringIO | None = None) -> io.StringIO:
    out = out or io.StringIO()
    setup_logging(level, fmt, stream=out)
    return out


def test_token_in_message_and_args(stream: io.StringIO) -> None:
    _emit(out=stream)
    logging.getLogger("x").warning("calling with %s", TOKEN)
    logging.getLogger("x").warning(f"inline {TOKEN}")
    assert TOKEN not in stream.getvalue()
    assert "***" in stream.getvalue()


def test_token_in_exception_traceback(stream: io.StringIO) -> None:
    _emit(out=stream)
    try:
        raise RuntimeError(f"server said: bad token {TOKEN}")
    except RuntimeError:
        logging.getLogger("x").exception("request failed")
    assert TOKEN not in stream.getvalue()
    assert "RuntimeError" in stream.getvalue()


def test_debug_log_of_request_headers(stream: io.StringIO) -> None:
    _emit(out=stream)
    headers = {"Authorization": "ApiToken unregistered-abc123", "User-Agent": "x"}
    logging.getLogger("urllib3").debug("headers: %r", headers)
    logging.getLogger("x").debug("Authorization: Bearer another-unregistered-999")
    text = stream.getvalue()
    assert "unregistered-abc123" not in text and "another-unregistered-999" not in text
    assert "User-Agent" in text


def test_json_log_lines_are_redacted_and_valid(stream: io.StringIO) -> None:
    _emit(fmt="json", out=stream)
    try:
        raise ValueError(TOKEN)
    except ValueError:
        logging.getLogger("x").exception("oops %s", TOKEN)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 1
    assert TOKEN not in json.dumps(lines)
    assert lines[0]["level"] == "error" and "exception" in lines[0]


@pytest.mark.parametrize(
    "text",
    [
        "url?token=abc123def&x=1",
        "secret=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "https://hooks.slack.com/services/T000/B000/XXXXSECRET",
        "https://prod.westus.logic.azure.com/workflows/1?sig=abcSECRET",
    ],
)
def test_credential_shapes(stream: io.StringIO, text: str) -> None:
    _emit(out=stream)
    logging.getLogger("x").info(text)
    assert "SECRET" not in stream.getvalue() and "abc123def" not in stream.getvalue()
    assert "MfKQ9r8" not in stream.getvalue()
