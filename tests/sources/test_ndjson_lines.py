"""The block-wise NDJSON reader and prefilter give exactly the line-by-line answers.

References are the obvious slow forms: lines split one chunk at a time, and
`Prefilter.__call__` asked per line (itself checked against the plain any/all reading of
its docstring). Inputs mix CRLF, blank and whitespace-only lines, a last line without a
newline, needles in any letter case, non-ASCII text, `\\u` escapes and escaped backslashes,
cut into chunks at arbitrary places.
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sources.files import FileSource
from connector.sources.ndjson import PrefilteredLines, iter_blocks, iter_lines
from connector.sources.query import Prefilter

SEED_LIKE = Prefilter((((b"windows",), (b"cmd.exe", b"powershell")),))
CMD = Prefilter((((b"cmd.exe",),),))


def reference_lines(chunks: Iterable[bytes]) -> Iterator[tuple[int, bytes]]:
    """The line splitter as it was before blocks: one chunk at a time."""
    number, rest = 0, b""
    for chunk in chunks:
        rest += chunk
        *lines, rest = rest.split(b"\n")
        for line in lines:
            number += 1
            yield number, line.removesuffix(b"\r")
    if rest:
        yield number + 1, rest.removesuffix(b"\r")


def reference_prefilter(prefilter: Prefilter, line: bytes) -> bool:
    """The docstring's reading of `Prefilter`, with no compiled code."""
    if not line.isascii() or b"\\u" in line:
        return True
    low = line.lower()
    return any(all(any(n in low for n in group) for group in alt) for alt in prefilter.alternatives)


def cut(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(points)]


pieces = st.sampled_from(
    [
        b'{"a":"cmd.exe"}',
        b'{"a":"CMD.Exe","os":"Windows"}',
        b'{"os":"windows","p":"PowerShell"}',
        b'{"os":"windows"}',
        b'{"p":"c\\u006dd.exe"}',
        b'{"p":"C:\\\\users\\\\x"}',
        b'{"p":"caf\xc3\xa9 cmd"}',
        b"not json",
        b"",
        b"   ",
        b"\t",
        b"\r",
        b"x\r",
    ]
)
streams = st.lists(pieces, max_size=30).map(b"\n".join) | st.lists(pieces, max_size=30).map(
    lambda parts: b"".join(part + b"\r\n" for part in parts)
)
prefilters = st.sampled_from(
    [SEED_LIKE, CMD, Prefilter(()), Prefilter((((b"windows",), ()),)), Prefilter((((b"os",),),))]
)


@settings(max_examples=300, deadline=None)
@given(streams, st.lists(st.integers(min_value=0, max_value=600), max_size=8))
def test_lines_match_the_chunk_by_chunk_splitter(data: bytes, cuts: list[int]) -> None:
    chunks = cut(data, cuts)
    assert list(iter_lines(chunks)) == list(reference_lines(chunks))
    assert b"".join(iter_blocks(chunks)) == data
    assert all(block.endswith(b"\n") for block in list(iter_blocks(chunks))[:-1])


@settings(max_examples=300, deadline=None)
@given(streams, st.lists(st.integers(min_value=0, max_value=600), max_size=8), prefilters)
def test_prefiltered_lines_are_the_lines_the_prefilter_passes(
    data: bytes, cuts: list[int], prefilter: Prefilter
) -> None:
    """...and the lines that do not look like a JSON object, which the parser must see (and
    report as garbage) rather than the prefilter count as ruled out."""
    chunks = cut(data, cuts)
    selected = PrefilteredLines(prefilter)
    got = list(selected.lines(iter_blocks(chunks)))
    lines = [(n, line) for n, line in reference_lines(chunks) if line.strip()]
    expected = [(n, line) for n, line in lines if prefilter(line) or not _object_like(line)]
    if selected.dense:  # most of the first block's lines passed: every line is read
        expected = lines
    assert got == expected
    assert selected.skipped == len(lines) - len(expected)


def test_a_prefilter_most_lines_pass_reads_every_line() -> None:
    """Past `DENSE` on the first block, testing needles costs more than it saves: every
    line is read (a superset), and none is counted as ruled out."""
    data = b"".join(
        b'{"n":%d,"p":"%s"}\n' % (i, b"cmd.exe" if i % 3 else b"other") for i in range(300)
    )
    selected = PrefilteredLines(CMD)
    assert len(list(selected.lines(iter_blocks([data])))) == 300
    assert selected.dense and selected.skipped == 0
    sparse = data.replace(b"cmd.exe", b"cmd.com")
    selected = PrefilteredLines(CMD)
    assert list(selected.lines(iter_blocks([sparse]))) == []
    assert not selected.dense and selected.skipped == 300


def _object_like(line: bytes) -> bool:
    text = line.strip()
    return text.startswith(b"{") and text.endswith(b"}")


@settings(max_examples=300, deadline=None)
@given(st.lists(pieces, max_size=5), prefilters)
def test_compiled_prefilter_reads_like_its_docstring(
    lines: list[bytes], prefilter: Prefilter
) -> None:
    for line in lines:
        assert prefilter(line) == reference_prefilter(prefilter, line)
        assert prefilter(line.decode("utf-8", "replace")) == prefilter(
            line.decode("utf-8", "replace").encode()
        )
    plain = [line.lower() for line in lines if line.isascii() and b"\\u" not in line]
    assert prefilter.select_lowered(plain) == [
        i for i, low in enumerate(plain) if prefilter.passes_lowered(low)
    ]


def test_ordering_groups_by_selectivity_keeps_every_answer() -> None:
    sample = [b'{"os":"windows","p":"x"}'] * 9 + [b'{"os":"windows","p":"cmd.exe"}']
    ordered = SEED_LIKE.ordered_by(sample)
    assert ordered.alternatives == (((b"cmd.exe", b"powershell"), (b"windows",)),)
    for line in [*sample, b'{"p":"cmd.exe"}', b"{}"]:
        assert ordered(line) == SEED_LIKE(line)


def test_an_escape_only_passes_its_own_line() -> None:
    block = b'{"a":"x"}\n{"p":"c\\u006dd.exe"}\n{"a":"y"}\n'
    selected = PrefilteredLines(CMD)
    assert list(selected.lines([block])) == [(2, b'{"p":"c\\u006dd.exe"}')]
    assert selected.skipped == 2


def test_file_source_with_a_prefilter_over_corrupt_gzip(tmp_path: Path) -> None:
    """Every record the prefilter passes, numbered and counted as without blocks."""
    records = [
        {"event.id": f"T_{n}", "event.time": 1795514401000 + n, "tgt.process.name": name}
        for n, name in enumerate(["cmd.exe", "notepad.exe", "CMD.EXE", "svchost.exe"])
    ]
    good = gzip.compress(b"\n".join(json.dumps(r).encode() for r in records[:2]) + b"\r\n")
    broken = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"\xff" * 40
    tail = gzip.compress(b"\n\n".join(json.dumps(r).encode() for r in records[2:]) + b"\n{oops")
    path = tmp_path / "part.ndjson.gz"
    path.write_bytes(good + broken + tail)
    source = FileSource([path], prefilter=CMD)
    assert [r["event.id"] for _, r in source.records()] == ["T_0", "T_2"]
    # `{oops` is garbage: reported as such, not hidden under `prefilter`.
    assert source.stats.skipped == {"corrupt-gzip": 1, "prefilter": 2, "not-json": 1}
    everything = FileSource([path])
    assert len(list(everything.records())) == 4
    assert everything.stats.skipped == {"corrupt-gzip": 1, "not-json": 1}


def test_bad_line_numbers_survive_the_prefilter(tmp_path: Path, caplog) -> None:
    path = tmp_path / "cf.ndjson"
    path.write_bytes(b'{"event.id": "1"}\r\n\r\n{"x": "cmd.exe", broken\r\n')
    # The first line always goes on (so a file no record of maps is recognised).
    records = list(FileSource([path], prefilter=CMD).records())
    assert records == [("cloud-funnel", {"event.id": "1"})]
    assert f"{path}:3" in caplog.text
