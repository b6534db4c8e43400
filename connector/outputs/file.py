"""The file output: JSON Lines appended to a file, or written to stdout (`path = "-"`).

Each alert is one compact line (`separators=(",", ":")`, `ensure_ascii=False`, UTF-8) and is
flushed as soon as it is written, so a reader (`tail -f`, a log shipper) sees whole lines. A
new file is created with mode 0600: alerts name hosts, users and command lines. When stdout's
reader goes away (`| head`), `OutputClosed` is raised (exit 141), as the CLI expects.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

from connector.config import FileOutputConfig
from connector.errors import OutputClosed, OutputFatal
from connector.outputs.base import Delivery, Outcome, Pending
from connector.outputs.shrink import json_bytes

__all__ = ["FileOutput"]

log = logging.getLogger(__name__)


class FileOutput:
    """Writes JSON Lines; `stream` replaces the file or stdout (tests)."""

    def __init__(self, config: FileOutputConfig, *, stream: BinaryIO | None = None) -> None:
        self.name = config.name
        self._path = Path(config.path)
        self._stream = stream
        self._owned = False

    @property
    def is_stdout(self) -> bool:
        return str(self._path) == "-"

    def __enter__(self) -> FileOutput:
        if self._stream is not None:
            return self
        if self.is_stdout:
            self._stream = sys.stdout.buffer
            return self
        try:
            fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise OutputFatal(
                f"output {self.name}: cannot open {self._path} for appending: "
                f"{exc.strerror or type(exc).__name__}"
            ) from exc
        self._stream = os.fdopen(fd, "ab")
        self._owned = True
        return self

    def __exit__(self, *exc: object) -> None:
        stream, self._stream = self._stream, None
        if stream is None:
            return
        try:
            stream.flush()
            if self._owned:
                stream.close()
        except BrokenPipeError as err:
            raise OutputClosed("stdout was closed by the reader") from err
        except OSError as err:
            log.error("output %s: closing %s failed: %s", self.name, self._path, err.strerror)

    def render(self, alert: dict[str, Any]) -> bytes:
        """The JSON line without its newline (the whole alert; files are never shrunk)."""
        return json_bytes(alert)

    def send(self, batch: Sequence[Pending], deadline: float) -> list[Delivery]:
        """Write and flush each line; a write error answers RETRY for that alert.

        Raises OutputClosed when stdout's reader has gone away.
        """
        return [self._write(item) for item in batch]

    def _write(self, item: Pending) -> Delivery:
        assert self._stream is not None, "use the output as a context manager"
        try:
            self._stream.write(item.body + b"\n")
            self._stream.flush()
        except BrokenPipeError as exc:
            raise OutputClosed("stdout was closed by the reader") from exc
        except OSError as exc:
            reason = f"cannot write {self._path}: {exc.strerror or type(exc).__name__}"
            log.warning("output %s: alert %s: %s", self.name, item.alert_id, reason)
            return Delivery(item.alert_id, Outcome.RETRY, reason)
        return Delivery(item.alert_id, Outcome.DELIVERED)
