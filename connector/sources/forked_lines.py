"""Replay's line selection in a second process, beside the work on the lines it selects.

The first pass over a big NDJSON file has two halves that need no common state: choosing the
lines worth parsing (the block scan and the prefilter, `ndjson.PrefilteredLines`) and parsing,
mapping and testing the chosen lines. In one process they take turns on one core. Here the
process forks; the child reads the rest of the file and chooses the lines, the parent parses
what it receives, so on a machine with two cores or more both halves run at once (with the
408 Elastic rules the choosing was a fifth of a replay, and it now overlaps the rest).

What the parent receives is exactly what the in-process loop yields, in the same order: the
child runs the same `PrefilteredLines` over the same blocks (the reading generator is forked
mid-file, with its open file and read position), and sends `(line number, line)` batches
through a pipe, with the counts so far; at the end it sends what it counted (`Report`, which
the caller chooses). An error the child raises reaches the parent as the same
`ConnectorError` (a `BadInputError` naming the file, say), at the point of the stream where
the in-process loop would have raised it; any other failure is a `ConnectorError` naming
it. When the parent stops reading early, the child is stopped and reaped.

`can_fork()` says when forking is safe and worth it: a POSIX system, more than one CPU this
process may use, and no other thread in the process (a forked child only has the forking
thread; a lock another thread held at that moment would stay held in the child). The child
touches nothing else the parent shares with the world: it reads its copy of the open file,
writes to its pipe (and to the log what the reading would log in-process: a corrupt gzip
member, say), and leaves through `os._exit` (no inherited output buffer is flushed twice, no
exit handler runs twice).

The pipe carries pickles from our own child to its parent only.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, NoReturn

from connector.errors import ConnectorError

__all__ = ["FORK_FROM", "can_fork", "forked_lines"]

log = logging.getLogger(__name__)

FORK_FROM = 4 << 20
"""Files smaller than this many bytes are read in-process: a fork costs a few milliseconds."""
_BATCH = 512
"""Lines per message: large enough that pickling and the pipe cost little per line."""
_LINES, _END, _ERROR = b"L", b"E", b"X"
_HEAD = 5  # a message: its kind (one byte) and the size of its pickle (4 bytes, little end)

Line = tuple[int, bytes]


def can_fork() -> bool:
    """Whether `forked_lines` may be used here (see the module docstring)."""
    if not hasattr(os, "fork") or threading.active_count() != 1:
        return False
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return (len(usable) if usable is not None else (os.cpu_count() or 1)) > 1


def forked_lines(
    lines: Iterable[Line],
    counts: Callable[[], tuple[int, int]],
    report: Callable[[], Any],
    on_counts: Callable[[int, int], None],
    on_report: Callable[[Any], None],
) -> Iterator[Line]:
    """Yield the items of `lines`, iterated in a forked child (`lines` must not be iterated
    in this process afterwards).

    In the child, `counts()` is read after each batch and `report()` once at the end; in the
    parent, `on_counts` gets each batch's counts before its lines are yielded (so they are
    the child's counts for what has been yielded, also when the reader stops early), and
    `on_report` gets the report after the last line, once the child has finished.

    When the system refuses the pipe or the fork (too many processes or files), the lines
    are iterated here instead (`on_counts` and `on_report` are then not called: whatever
    `lines` counts is counted in this process), and the reason is logged."""
    try:
        read_end, write_end = os.pipe()
    except OSError as exc:
        log.info("replay: no pipe for a line reader (%s): lines chosen in this process", exc)
        yield from lines
        return
    try:
        pid = os.fork()
    except OSError as exc:
        os.close(read_end)
        os.close(write_end)
        log.info("replay: no forked line reader (%s): lines chosen in this process", exc)
        yield from lines
        return
    if pid == 0:  # the child: never returns
        os.close(read_end)
        _child(write_end, lines, counts, report)
    os.close(write_end)
    child = _Child(pid)
    try:
        with os.fdopen(read_end, "rb", buffering=1 << 16) as messages:
            while True:
                kind, value = _receive(messages, child)
                if kind == _LINES:
                    batch, done_counts = value
                    on_counts(*done_counts)
                    yield from batch
                elif kind == _END:
                    child.finished()
                    on_report(value)
                    return
                else:
                    raise value
    finally:
        child.stop()  # when the reader stopped early, or the child failed


class _Child:
    """The forked child's process id, reaped exactly once."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.status: int | None = None

    def wait(self) -> int:
        if self.status is None:
            self.status = os.waitpid(self.pid, 0)[1]
        return self.status

    def finished(self) -> None:
        """After its end message: ConnectorError unless it then exited with status 0."""
        status = self.wait()
        if status != 0:
            raise ConnectorError(_failed(f"it ended with {_status(status)} after its last line"))

    def stop(self) -> None:
        if self.status is None:
            os.kill(self.pid, signal.SIGKILL)  # a zombie takes it too: the pid is still ours
            self.wait()


def _child(
    out_fd: int,
    lines: Iterable[Line],
    counts: Callable[[], tuple[int, int]],
    report: Callable[[], Any],
) -> NoReturn:
    """Send `lines` in batches, then the report (or the error), and exit. Whatever happens,
    the process ends here, through `os._exit`: a BaseException (the parent closed the pipe,
    an interrupt) ends it with status 1, and the parent, which then has no end message,
    knows it did not finish."""
    status = 1
    try:
        gc.disable()  # short-lived: collecting would only copy the parent's pages
        with os.fdopen(out_fd, "wb", buffering=1 << 16) as out:
            batch: list[Line] = []
            try:
                for line in lines:
                    batch.append(line)
                    if len(batch) == _BATCH:
                        _send(out, _LINES, (batch, counts()))
                        batch = []
                _send(out, _LINES, (batch, counts()))
                _send(out, _END, report())
            except ConnectorError as exc:  # the lines before it first, as in-process
                _send(out, _LINES, (batch, counts()))
                _send(out, _ERROR, _picklable(exc))
            except Exception as exc:  # a bug: the parent reports it, naming it
                _send(out, _LINES, (batch, counts()))
                _send(out, _ERROR, ConnectorError(_failed(f"{type(exc).__name__}: {exc}")))
        status = 0
    finally:
        os._exit(status)


def _picklable(exc: ConnectorError) -> ConnectorError:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception as problem:  # an error class with more arguments: its message stays
        return ConnectorError(f"{exc} ({type(exc).__name__}; {type(problem).__name__})")
    return exc


def _send(out: BinaryIO, kind: bytes, value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(kind + len(data).to_bytes(_HEAD - 1, "little") + data)


def _receive(messages: BinaryIO, child: _Child) -> tuple[bytes, Any]:
    head = messages.read(_HEAD)
    if len(head) == _HEAD:
        size = int.from_bytes(head[1:], "little")
        data = messages.read(size)
        if len(data) == size:
            return head[:1], pickle.loads(data)
    raise ConnectorError(_failed(f"it ended early ({_status(child.wait())})"))


def _status(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _failed(what: str) -> str:
    return f"replay's line reader (a forked process) failed: {what}"
