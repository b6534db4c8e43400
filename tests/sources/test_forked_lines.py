"""Replay's line selection in a forked child (`sources/forked_lines.py`): the same lines and
counts as in-process, errors carried over, the child always reaped."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connector.errors import BadInputError, ConnectorError
from connector.sources import forked_lines, ndjson
from connector.sources.files import FileSource
from connector.sources.forked_lines import can_fork
from connector.sources.query import Prefilter

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork only")


@pytest.fixture
def forks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pids of the children `forked_lines` forks (the real fork still runs)."""
    pids: list[int] = []
    real = os.fork

    def fork() -> int:
        pid = real()
        if pid:
            pids.append(pid)
        return pid

    monkeypatch.setattr(os, "fork", fork)
    return pids


def _reaped(pid: int) -> bool:
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


class _Sink:
    def __init__(self) -> None:
        self.counts: list[tuple[int, int]] = []
        self.report: Any = None

    def run(self, lines: Iterator[tuple[int, bytes]], report: object = "done") -> Iterator[Any]:
        state = {"n": 0}

        def counted() -> Iterator[tuple[int, bytes]]:
            for line in lines:
                state["n"] += 1
                yield line

        return forked_lines.forked_lines(
            counted(),
            lambda: (state["n"], 7),
            lambda: (report, state["n"]),
            lambda *counts: self.counts.append(counts),
            self._got,
        )

    def _got(self, report: Any) -> None:
        self.report = report


def _numbered(count: int) -> Iterator[tuple[int, bytes]]:
    for number in range(1, count + 1):
        yield number, b'{"n":%d}' % number


def test_lines_counts_and_report_come_back_in_order(forks: list[int]) -> None:
    sink = _Sink()
    got = list(sink.run(_numbered(1300)))
    assert got == list(_numbered(1300))
    # One message per 512 lines and one for the rest, each with the child's counts then.
    assert sink.counts == [(512, 7), (1024, 7), (1300, 7)]
    assert sink.report == ("done", 1300)
    assert len(forks) == 1 and _reaped(forks[0])


def test_a_reader_that_stops_early_stops_and_reaps_the_child(forks: list[int]) -> None:
    def endless() -> Iterator[tuple[int, bytes]]:
        number = 0
        while True:
            number += 1
            yield number, b"x" * 100

    lines = _Sink().run(endless())
    assert [n for n, _ in (next(lines) for _ in range(600))] == list(range(1, 601))
    lines.close()  # type: ignore[attr-defined]
    assert len(forks) == 1 and _reaped(forks[0])


def test_the_childs_connector_error_is_raised_after_the_lines_before_it(
    forks: list[int],
) -> None:
    def failing() -> Iterator[tuple[int, bytes]]:
        yield from _numbered(3)
        raise BadInputError("big.ndjson: cannot read (Input/output error)")

    got: list[tuple[int, bytes]] = []
    with pytest.raises(BadInputError, match=r"^big\.ndjson: cannot read \(Input/output error\)$"):
        got.extend(_Sink().run(failing()))
    assert got == list(_numbered(3))
    assert _reaped(forks[0])


def test_any_other_failure_in_the_child_is_named(forks: list[int]) -> None:
    def buggy() -> Iterator[tuple[int, bytes]]:
        yield from _numbered(2)
        raise KeyError("oops")

    with pytest.raises(ConnectorError, match=r"line reader .* failed: KeyError: 'oops'"):
        list(_Sink().run(buggy()))
    assert _reaped(forks[0])


def test_a_child_that_dies_is_reported_with_its_exit_status(forks: list[int]) -> None:
    def dying() -> Iterator[tuple[int, bytes]]:
        yield from _numbered(2)
        os._exit(3)

    with pytest.raises(ConnectorError, match=r"ended early \(exit status 3\)"):
        list(_Sink().run(dying()))
    assert _reaped(forks[0])


def test_can_fork_only_alone_and_with_a_second_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1}, raising=False)
    assert can_fork()
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0}, raising=False)
    assert not can_fork()
    monkeypatch.undo()
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()  # another thread: a lock it holds would stay held in a child
    finally:
        stop.set()
        other.join()


def _file(tmp_path: Path) -> Path:
    """NDJSON with every kind of line the selection treats apart: passing and failing lines,
    blank lines, a bad line, non-ASCII and escaped lines (always taken), and a gzip member
    that is corrupt (counted where the reading meets it)."""
    lines = []
    for i in range(6000):
        direction = ("egress", "ingress", "local")[i % 3]
        port = (88, 443, 53, 22)[i % 4]
        noise = hashlib.sha256(b"%d" % i).hexdigest().encode()  # gzip leaves it big
        lines.append(
            b'{"i":%d,"h":"%s","network.direction":"%s","destination.port":%d}'
            % (i, noise, direction.encode(), port)
        )
        if i % 997 == 0:
            lines += [b"", b"{not json", '{"n":"é"}'.encode(), b'{"n":"\\u0065gress"}']
    body = b"\n".join(lines) + b"\n"
    half = body.index(b"\n", len(body) // 2) + 1
    data = gzip.compress(body[:half]) + b"\x1f\x8b\x08\x00broken" + gzip.compress(body[half:])
    path = tmp_path / "big.ndjson.gz"
    path.write_bytes(data)
    assert len(data) > 4 * (1 << 16)  # the child reads most of it (64 KiB a read)
    return path


def _read(path: Path, prefilter: Prefilter, exclude: Prefilter | None) -> dict[str, Any]:
    with FileSource([path], "ecs", prefilter, exclude=exclude) as source:
        records = [record for _, record in source.records()]
    return {
        "records": records,
        "skipped": dict(source.stats.skipped),
        "bytes": source.stats.bytes,
        "taken": source.taken_lines,
        "dense": source.dense_files,
    }


@pytest.mark.parametrize("second", [False, True], ids=["first pass", "second pass"])
def test_a_forked_file_reads_as_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, forks: list[int], second: bool
) -> None:
    path = _file(tmp_path)
    first = Prefilter((((b'"egress"',),), ((b":88,", b":88}"),)))
    prefilter, exclude = (Prefilter((((b'"ingress"',),),)), first) if second else (first, None)
    monkeypatch.setattr(ndjson, "DENSE", 1.01)  # never read whole: the selection is under test
    alone = _read(path, prefilter, exclude)
    assert not forks
    monkeypatch.setattr(forked_lines, "FORK_FROM", 0)
    monkeypatch.setattr(forked_lines, "can_fork", lambda: True)
    forked = _read(path, prefilter, exclude)
    assert len(forks) == 1 and _reaped(forks[0])
    assert forked == alone
    # Problems are counted by the pass that meets them (a second pass leaves bad lines alone).
    assert alone["skipped"]["corrupt-gzip"] == 1
    assert alone["skipped"].get("not-json") == (None if second else 7)
    assert (alone["taken"] > 0) == second and (alone["skipped"].get("prefilter", 0) > 0) != second


def test_a_refused_fork_reads_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    path = _file(tmp_path)
    first = Prefilter((((b'"egress"',),), ((b":88,", b":88}"),)))
    monkeypatch.setattr(ndjson, "DENSE", 1.01)
    alone = _read(path, first, None)

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    monkeypatch.setattr(forked_lines, "FORK_FROM", 0)
    monkeypatch.setattr(forked_lines, "can_fork", lambda: True)
    with caplog.at_level(logging.INFO, logger="connector.sources.forked_lines"):
        assert _read(path, first, None) == alone
    assert "no forked line reader ([Errno 11] Resource temporarily unavailable)" in caplog.text
