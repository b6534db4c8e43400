"""Streaming NDJSON: gzip members decoded one by one, lines split without reading it all.

Cloud Funnel objects are gzip files, often of several members. A corrupt member must not
cost the rest of the object: decoding resumes at the next gzip header, a line break is
inserted so the damaged member's last partial line cannot swallow the next member's first
line, and every problem is reported through `on_problem(reason)` (the caller counts it).
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterable, Iterator

__all__ = ["GZIP_MAGIC", "decode_stream", "gunzip_members", "iter_lines"]

GZIP_MAGIC = b"\x1f\x8b\x08"
Problem = Callable[[str], None]


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


def iter_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """Yield (line number from 1, line without its `\\n`/`\\r\\n`), the last line too."""
    number = 0
    rest = b""
    for chunk in chunks:
        rest += chunk
        if b"\n" not in chunk:
            continue
        *lines, rest = rest.split(b"\n")
        for line in lines:
            number += 1
            yield number, line.removesuffix(b"\r")
    if rest:
        yield number + 1, rest.removesuffix(b"\r")
