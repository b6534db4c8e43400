"""Local files for `replay`: DV response bodies, lists of DV events, NDJSON, `.gz`, folders.

| file content (after gunzip when it starts with a gzip header)     | records                 |
|--------------------------------------------------------------------|-------------------------|
| one JSON document `{"data": [...], "pagination": ...}` (DV body)   | the items of `data`     |
| one JSON array of events (or of DV bodies)                         | the items               |
| NDJSON: one object per line (DV events, Cloud Funnel, ECS, bodies)  | each line's object(s)   |
| SDL results `{"matches": [{"values": …}]}` / `{"columns", "values"}`| matches / zipped rows   |

Folders are read recursively in name order (`.json`, `.ndjson`, `.jsonl`, `.log`, `.gz`;
hidden files skipped). The shape of each record is the one requested, or detected from
its keys by the mapper's `detect_shape` (`auto`). A file unreadable as any of these
formats raises `BadInputError` naming the file and line; a bad line inside an otherwise
good NDJSON file is skipped and counted in `stats.skipped["not-json"]` (also behind a
prefilter: a line that does not look like a JSON object is parsed, never counted as
`prefilter`). The first line of an NDJSON file is always yielded, whatever the prefilter.
Behind a prefilter, a big local file's lines are chosen in a forked process
(`forked_lines.py`) while this one parses them: the same records, counts and errors.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager as ContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from connector.errors import BadInputError
from connector.mapping import Skip, detect_shape, rows_from_table
from connector.sources import forked_lines
from connector.sources.admit import outside
from connector.sources.base import RawRecord, Shape, SourceStats
from connector.sources.ndjson import (
    PrefilteredLines,
    block_lines,
    decode_stream,
    iter_blocks,
    nonblank_lines,
)
from connector.sources.query import Prefilter
from connector.timeutil import Window

__all__ = ["DATA_SUFFIXES", "FileSource", "Opener"]

log = logging.getLogger(__name__)
DATA_SUFFIXES = frozenset({".json", ".ndjson", ".jsonl", ".log", ".gz"})
_CHUNK = 1 << 16  # per read; `ndjson.iter_blocks` makes blocks of whole lines about this big
_LOGGED_PROBLEMS = 5
Opener = Callable[[Path | str], ContextManager[BinaryIO]]
"""Opens one file (or object URL) for binary reading; OSError when it cannot."""


def _event_time(shape: Shape, record: Mapping[str, Any]) -> object:
    if shape == "dv":
        return record.get("eventTime") or record.get("createdAt")
    if shape == "ecs":
        return record.get("@timestamp")
    return record.get("event.time")


class FileSource:
    """Replay records from files and folders (see the module docstring)."""

    name = "files"

    def __init__(
        self,
        paths: Sequence[Path],
        shape: Shape = "auto",
        prefilter: Prefilter | None = None,
        *,
        opener: Opener | None = None,
        exclude: Prefilter | None = None,
    ) -> None:
        """`opener` opens one file for binary reading (default: the local file); the
        cluster back-fill reads objects through fsspec with it (`file_records`).

        `exclude` makes this a second pass over the same files: only the NDJSON lines that
        pass `prefilter` and that a first pass with prefilter `exclude` did not take (nor
        the first line of a file, nor whole documents) are read; `taken_lines` counts them."""
        self.paths = [Path(p) for p in paths]
        self.shape = shape
        self.opener = opener
        # NDJSON lines the prefilter rules out are skipped before JSON parsing (counted as
        # `prefilter`); whole JSON documents (DV response bodies) are always parsed.
        self.prefilter = prefilter
        self.exclude = exclude
        self.taken_lines = 0
        self.dense_files = 0
        """NDJSON files whose lines were all read: most passed the prefilter (`ndjson.DENSE`)."""
        self.stats = SourceStats()
        self.on_file_done: Callable[[Path], None] | None = None
        """Called after the last record of each file was consumed (replay's per-file check)."""
        self._logged = 0

    @property
    def max_window(self) -> timedelta | None:
        return None

    def __enter__(self) -> FileSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Files are opened and closed per read."""

    def fetch(self, window: Window) -> Iterator[RawRecord]:
        """Records whose event time is in `[start, end)` (records without one pass)."""
        return self.within(window, self.records())

    def within(self, window: Window, records: Iterable[RawRecord]) -> Iterator[RawRecord]:
        """The records whose event time is in `window`; the others are counted
        (`outside-window`)."""
        for shape, record in records:
            if outside(window, _event_time(shape, record)):
                self.stats.skipped["outside-window"] += 1
                continue
            yield shape, record

    def records(self) -> Iterator[RawRecord]:
        """Every record of every file, in path order, with its shape."""
        for path in self._files():
            yield from self.file_records(path)
            if self.on_file_done is not None:
                self.on_file_done(path)

    def file_records(self, path: Path | str) -> Iterator[RawRecord]:
        """Every record of one file (or, with an `opener`, one object URL), with its shape."""
        shape = self.shape
        stats = self.stats
        for value in self._values(path):
            if (
                value.__class__ is dict
                and shape != "auto"
                and "data" not in value
                and "matches" not in value
                and "columns" not in value
            ):  # one NDJSON record (the common case): what `_flatten_value` and `_tag` do
                stats.records += 1
                yield shape, value
                continue
            for record in _flatten_value(value):
                tagged = self._tag(record)
                if tagged is not None:
                    stats.records += 1
                    yield tagged

    def _tag(self, record: object) -> RawRecord | None:
        if isinstance(record, Skip):
            self.stats.skipped[record.reason] += 1
            return None
        if not isinstance(record, dict):
            self.stats.skipped["not-an-object"] += 1
            return None
        return (self.shape if self.shape != "auto" else detect_shape(record)), record

    def _files(self) -> Iterator[Path]:
        for path in self.paths:
            if path.is_dir():
                yield from sorted(
                    p for p in path.rglob("*")
                    if p.is_file() and p.suffix.lower() in DATA_SUFFIXES
                    and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )  # fmt: skip
            elif path.is_file():
                yield path
            else:
                raise BadInputError(f"{path}: no such file or directory")

    # -- one file ----------------------------------------------------------------------------

    def _values(self, path: Path | str) -> Iterator[Any]:
        """The JSON values of one file: one document, or one per NDJSON line.

        The first non-blank line decides: JSON that starts with `[` or does not parse alone
        means one document; else NDJSON, whose first line is parsed before the prefilter.
        """
        self.stats.objects += 1
        blocks = iter_blocks(self._decoded(path))
        number = 0  # lines before the current block
        for block in blocks:
            start = 0
            for raw in block_lines(block):
                number += 1
                start += len(raw) + 1
                line = raw.removesuffix(b"\r")
                if not line.strip():
                    continue
                first = _loads(line)
                if line.lstrip().startswith(b"[") or first is _BAD:
                    if self.exclude is None:  # a second pass: the first one read it all
                        yield self._whole_document(path)
                    return
                # The first line is parsed anyway: it always goes on, so a file the rules
                # could never use (no record maps) is recognised even behind a prefilter.
                if self.exclude is None:
                    yield first
                rest = block[start:]
                after = itertools.chain((rest,) if rest else (), blocks)
                yield from self._ndjson(path, after, number + 1)
                return

    def _ndjson(self, path: Path | str, blocks: Iterable[bytes], first: int) -> Iterator[Any]:
        for number, line in self._lines(blocks, first, path):
            value = _loads(line)
            if value is _BAD:
                self._skip("not-json", f"{path}:{number}")
                continue
            yield value

    def _lines(
        self, blocks: Iterable[bytes], first: int, path: Path | str
    ) -> Iterator[tuple[int, bytes]]:
        """The non-blank lines worth parsing, numbered from `first`; chosen in a forked
        process for a big local file when that is safe (`forked_lines.py`)."""
        if self.exclude is None and (self.prefilter is None or self.prefilter.passes_everything):
            yield from nonblank_lines(blocks, first)
            return
        selected = PrefilteredLines(self.prefilter or Prefilter.everything(), self.exclude)
        lines = selected.lines(blocks, first)
        if self._forkable(path):
            lines = self._forked(selected, lines)
        try:
            yield from lines
        finally:  # also when the reader stops early: the counts so far are still true
            if selected.skipped:
                self.stats.skipped["prefilter"] += selected.skipped
            self.taken_lines += selected.taken
            self.dense_files += selected.dense

    def _forkable(self, path: Path | str) -> bool:
        if self.opener is not None:  # an object store's stream is not ours to fork
            return False
        try:
            size = Path(path).stat().st_size
        except OSError:  # it was just read: the reading reports what went wrong
            return False
        return size >= forked_lines.FORK_FROM and forked_lines.can_fork()

    def _forked(
        self, selected: PrefilteredLines, lines: Iterator[tuple[int, bytes]]
    ) -> Iterator[tuple[int, bytes]]:
        """`lines`, chosen in a forked child; what the child counts (the prefilter's counts,
        and the bytes read and problems met by the file reading it continues) is added
        here as if counted here."""
        stats = self.stats
        before = (stats.bytes, Counter(stats.skipped), self._logged)

        def counts() -> tuple[int, int]:
            return selected.skipped, selected.taken

        def on_counts(skipped: int, taken: int) -> None:
            selected.skipped, selected.taken = skipped, taken

        def report() -> tuple[bool, int, Counter[str], int]:
            return (
                selected.dense,
                stats.bytes - before[0],
                Counter(stats.skipped) - before[1],
                self._logged - before[2],
            )

        def on_report(counted: tuple[bool, int, Counter[str], int]) -> None:
            selected.dense, read, skipped, logged = counted
            stats.bytes += read
            stats.skipped.update(skipped)
            self._logged += logged

        return forked_lines.forked_lines(lines, counts, report, on_counts, on_report)

    def _whole_document(self, path: Path | str) -> Any:
        data = b"".join(self._decoded(path, count=False))
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise BadInputError(
                f"{path}:{exc.lineno}:{exc.colno}: not JSON, NDJSON or a DV response "
                f"body ({exc.msg})"
            ) from exc
        except ValueError as exc:  # UnicodeDecodeError: not text at all
            raise BadInputError(f"{path}:1: not UTF-8 text ({type(exc).__name__})") from exc

    def _decoded(self, path: Path | str, count: bool = True) -> Iterator[bytes]:
        def problem(reason: str) -> None:
            if count:
                self._skip(reason, str(path))

        return decode_stream(self._chunks(path, count), problem)

    def _chunks(self, path: Path | str, count: bool) -> Iterator[bytes]:
        try:
            with self.opener(path) if self.opener else Path(path).open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    if count:
                        self.stats.bytes += len(chunk)
                    yield chunk
        except OSError as exc:
            raise BadInputError(f"{path}: cannot read ({exc.strerror})") from exc

    def _skip(self, reason: str, where: str) -> None:
        self.stats.skipped[reason] += 1
        if self._logged < _LOGGED_PROBLEMS:
            self._logged += 1
            log.warning("replay: skipped %s (%s)", where, reason)


_BAD = object()


def _loads(line: bytes) -> Any:
    """The JSON value of one line, or `_BAD`. orjson (C, about 3 times faster here) first;
    what it refuses goes to `json`, which reads a little more (NaN, huge integers, lone
    surrogates), so the values are exactly those `json.loads` gives."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(line)
    except ValueError:  # JSONDecodeError or UnicodeDecodeError: the caller counts it
        return _BAD


def _flatten_value(value: Any) -> Iterator[Any]:
    """Records inside a JSON value: DV bodies, SDL results, arrays, or the value itself."""
    if isinstance(value, list):
        for item in value:
            yield from _flatten_value(item) if isinstance(item, dict) else iter((item,))
        return
    if not isinstance(value, dict):
        yield value
        return
    data = value.get("data")
    if isinstance(data, list):
        yield from data
    elif isinstance(data, dict) and ("matches" in data or "columns" in data):
        yield from _flatten_value(data)
    elif isinstance(value.get("matches"), list):
        for match in value["matches"]:
            yield match.get("values", match) if isinstance(match, dict) else match
    elif isinstance(value.get("columns"), list) and isinstance(value.get("values"), list):
        yield from rows_from_table(value["columns"], value["values"])
    else:
        yield value
