"""Streaming NDJSON: gzip members decoded one by one, lines split without reading it all.

Cloud Funnel objects are gzip files, often of several members. A corrupt member must not
cost the rest of the object: decoding resumes at the next gzip header, a line break is
inserted so the damaged member's last partial line cannot swallow the next member's first
line, and every problem is reported through `on_problem(reason)` (the caller counts it).

Lines are handled a block at a time (`iter_blocks`: whole lines, about a read chunk each):
splitting, lower-casing and escape search run in C over the block, the needle test in one
list comprehension, and Python steps one by one only through the lines that pass
(`PrefilteredLines`). Line numbers, CRLF, blank lines and a last line without a newline come
out exactly as line by line.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterable, Iterator
from itertools import repeat

from connector.sources.block_scan import BlockScanner
from connector.sources.query import HIDING_ESCAPE, Prefilter

__all__ = [
    "GZIP_MAGIC",
    "PrefilteredLines",
    "block_lines",
    "decode_stream",
    "gunzip_members",
    "iter_blocks",
    "iter_lines",
    "nonblank_lines",
]

GZIP_MAGIC = b"\x1f\x8b\x08"
_ESCAPES = HIDING_ESCAPE.finditer
Problem = Callable[[str], None]
DENSE = 0.5
"""Above this share of passing lines in the first block, a prefilter reads every line."""
_DENSE_SAMPLE = 64
"""A first block of fewer lines says too little: the prefilter is used."""


def decode_stream(chunks: Iterable[bytes], on_problem: Problem) -> Iterator[bytes]:
    """Yield the content of a byte stream, gunzipped when it starts with a gzip header."""
    iterator = iter(chunks)
    first = b""
    for chunk in iterator:
        first += chunk
        if len(first) >= len(GZIP_MAGIC):
            break
    if not first.startswith(GZIP_MAGIC):
        if first:
            yield first
        yield from iterator
        return
    yield from gunzip_members(_prepend(first, iterator), on_problem)


def _prepend(first: bytes, rest: Iterator[bytes]) -> Iterator[bytes]:
    yield first
    yield from rest


def gunzip_members(chunks: Iterable[bytes], on_problem: Problem) -> Iterator[bytes]:
    """Decompress concatenated gzip members, skipping past corrupt ones.

    Reasons reported: `corrupt-gzip` (a member failed to decode; decoding resumes at the
    next header), `truncated-gzip` (the stream ended inside a member), `not-gzip` (bytes
    between members that are not a gzip header).
    """
    decoder: zlib._Decompress | None = None
    pending = b""
    resyncing = False  # the bytes after a corrupt member are already reported
    for chunk in chunks:
        data = pending + chunk
        pending = b""
        while data:
            if decoder is None:
                data, found = _seek_header(data, _ignore if resyncing else on_problem)
                resyncing = resyncing and not found
                if not found:
                    pending = data  # a header may straddle two chunks
                    break
                decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out = decoder.decompress(data)
            except zlib.error:
                on_problem("corrupt-gzip")
                decoder, resyncing = None, True
                yield b"\n"
                data = data[1:]
                continue
            if out:
                yield out
            if decoder.eof:
                data, decoder = decoder.unused_data, None
            else:
                data = b""
    if decoder is not None:
        on_problem("truncated-gzip")
        yield b"\n"


def _ignore(reason: str) -> None:
    """Problems already reported (the tail of a corrupt member) are not counted twice."""


def _seek_header(data: bytes, on_problem: Problem) -> tuple[bytes, bool]:
    """Drop bytes before the next gzip header; (rest, True) or (tail to keep, False)."""
    index = data.find(GZIP_MAGIC)
    if index == 0:
        return data, True
    if index > 0:
        on_problem("not-gzip")
        return data[index:], True
    keep = len(GZIP_MAGIC) - 1
    if len(data) > keep and data[:-keep].strip(b"\x00"):
        on_problem("not-gzip")
    return data[-keep:], False


def iter_blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Regroup a byte stream into blocks of whole lines: each ends with `\\n` (the last
    perhaps not). Lines are then split, searched and lower-cased a block at a time, in C,
    instead of one Python step per line; a block is about as big as the chunks."""
    tail = b""  # the start of a line that continues in the next chunk
    for chunk in chunks:
        cut = chunk.rfind(b"\n") + 1
        if not cut:
            tail += chunk  # inside a very long line (or an empty chunk): keep gathering
            continue
        # One copy of the chunk at most: joining a memoryview slice does not copy it first.
        yield b"".join((tail, memoryview(chunk)[:cut])) if tail else chunk[:cut]
        tail = chunk[cut:]
    if tail:
        yield tail


def block_lines(block: bytes) -> list[bytes]:
    """The lines of a block without their `\\n` (a `\\r` before it is kept)."""
    lines = block.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the block ends with a line break: no line after it
    return lines


def nonblank_lines(blocks: Iterable[bytes], first: int) -> Iterator[tuple[int, bytes]]:
    """(line number, line without `\\r\\n`) of the non-blank lines of `blocks`, the first
    line of the first block being number `first`."""
    number = first
    for block in blocks:
        lines = block_lines(block)
        for index, line in enumerate(lines):
            if line.strip():
                yield number + index, line.removesuffix(b"\r")
        number += len(lines)


def iter_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield (line number from 1, line without its `\\n`/`\\r\\n`), the last line too."""
    number = 0
    for block in iter_blocks(chunks):
        for line in block_lines(block):
            number += 1
            yield number, line.removesuffix(b"\r")


class PrefilteredLines:
    """The non-blank lines of NDJSON blocks that pass a `Prefilter`, decided a block at a time.

    Per block: the block is lower-cased and split once, the needle test runs as one list
    comprehension over its lines, escapes are found with one regex scan, and non-ASCII
    lines are looked for only in a block that has some. So the answer for each line is
    exactly `prefilter(line)`, at a fraction of the cost of asking it line by line. The
    prefilter's groups are put in order of selectivity on the first block seen
    (`Prefilter.ordered_by`), so most lines fail on their first `in` test.

    `skipped` counts the non-blank lines the prefilter ruled out (blank lines are neither
    yielded nor counted, as without a prefilter).

    With `exclude` (replay's second pass, `sources/replay_filter.py`), only the lines that
    pass the prefilter and that a first pass with `exclude` as its prefilter did *not*
    yield come out (so never a forced or shapeless line); they are counted in `taken`,
    and `skipped` stays 0.
    """

    _SAMPLE_LINES = 256

    def __init__(self, prefilter: Prefilter, exclude: Prefilter | None = None) -> None:
        self.prefilter = prefilter
        self.exclude = exclude
        self.skipped = 0
        self.taken = 0
        self._ordered: Prefilter | None = None
        self._scanner: BlockScanner | None = None
        self.dense = False
        """True when the first block's lines mostly passed (`DENSE`): the lines are then
        all read, without a needle test, which would cost more than it saves. Never in a
        second pass (`exclude`)."""

    def lines(self, blocks: Iterable[bytes], first: int = 1) -> Iterator[tuple[int, bytes]]:
        """Yield (line number, line without `\\r\\n`) of the passing lines; the first
        line of the first block is number `first`."""
        number = first
        blocks = iter(blocks)
        for block in blocks:
            if self._ordered is None:
                self._order(block_lines(block.lower()))
            if self.dense:  # decided on the first block: the rest are read whole too
                yield from nonblank_lines(itertools.chain((block,), blocks), number)
                return
            scanned = self._scanner.select(block) if self._scanner is not None else None
            if scanned is not None:  # a plain block: scanned whole (block_scan.py)
                found, count = scanned
                if self.exclude is not None:
                    taken = self._taken
                    found = [(i, line) for i, line in found if not taken(line.lower())]
                    self.taken += len(found)
                else:
                    self.skipped += count - len(found)
                for index, line in found:
                    yield number + index, line
                number += count
                continue
            lowered = block_lines(block.lower())
            yield from self._block(block, lowered, number)
            number += len(lowered)

    def _taken(self, low: bytes) -> bool:
        """Whether a first pass with prefilter `exclude` took this plain lower-cased line."""
        assert self.exclude is not None
        forcing = self.exclude.forcing
        if forcing is not None and forcing.search(low) is not None:
            return True
        return self.exclude.passes_lowered(low)

    def _order(self, lowered: list[bytes]) -> None:
        sample = lowered[: self._SAMPLE_LINES]
        if self.exclude is None and len(sample) >= _DENSE_SAMPLE:
            passing = len(self.prefilter.select_lowered(sample))
            self.dense = passing > DENSE * len(sample)
            if self.dense:  # every line is read: no order or scanner to prepare
                self._ordered = self.prefilter
                return
        self._ordered = self.prefilter.ordered_by(sample)
        try:
            self._scanner = BlockScanner(self._ordered)
        except ValueError:  # no needle to scan for: line by line
            self._scanner = None

    def _block(
        self, block: bytes, lowered: list[bytes], number: int
    ) -> Iterator[tuple[int, bytes]]:
        if self._ordered is None:
            self._order(lowered)
        assert self._ordered is not None
        if self._scanner is not None:  # one scan of the block, as for plain blocks
            chosen = self._scanner.needle_lines(block, lowered)  # forced lines included
        else:
            chosen = self._ordered.select_lowered(lowered)
            forcing = self._ordered.forcing
            if forcing is not None:
                odd = (i for i, low in enumerate(lowered) if forcing.search(low))
                chosen = sorted(set(chosen).union(odd))
        # Lines every pass takes, whatever its prefilter:
        forced = _forced_lines(block, lowered) | _shapeless_lines(block, lowered)
        if self.exclude is not None:  # a second pass: only lines the first one left
            taken = self._taken
            chosen = [i for i in chosen if i not in forced and not taken(lowered[i])]
            self.taken += sum(1 for i in chosen if lowered[i].strip())
        elif forced:
            chosen = sorted(forced.union(chosen))
        blank = sum(1 for low in lowered if not low.strip())
        yielded = 0
        if chosen:
            # Line i starts after the i lines before it and their i line breaks.
            before = list(itertools.accumulate(map(len, lowered), initial=0))
            for index in chosen:
                low = lowered[index]
                if low.strip():
                    yielded += 1
                    start = before[index] + index
                    yield number + index, block[start : start + len(low)].removesuffix(b"\r")
        if self.exclude is None:
            self.skipped += len(lowered) - blank - yielded


def _shapeless_lines(block: bytes, lowered: list[bytes]) -> set[int]:
    """Indexes of the non-blank lines that do not look like a JSON object (`{…}`): they pass,
    so the parser reports them by reason (`not-json`, `not-an-object`) instead of their
    being counted as ruled out by the prefilter. Counted in C first (`map` over the split
    lines); a block whose lines all open and close like objects is not looked at line by line."""
    total = len(lowered)
    if (
        sum(map(bytes.startswith, lowered, repeat(b"{"))) == total
        and sum(map(bytes.endswith, lowered, repeat((b"}", b"}\r")))) == total
    ):
        return set()
    return {
        index
        for index, low in enumerate(lowered)
        if (text := low.strip()) and not (text[:1] == b"{" and text[-1:] == b"}")
    }


def _forced_lines(block: bytes, lowered: list[bytes]) -> set[int]:
    """Indexes of the lines that pass whatever their needles: with a `\\u` or `\\/` escape (found
    in the raw block; never across lines), or not pure ASCII."""
    forced: set[int] = set()
    line = seen = 0
    for found in _ESCAPES(block):  # in order: count the line breaks between two escapes
        line += block.count(b"\n", seen, found.start())
        seen = found.start()
        forced.add(line)
    if not block.isascii():
        forced.update(index for index, low in enumerate(lowered) if not low.isascii())
    return forced
