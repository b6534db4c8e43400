"""The block-at-a-time prefilter (`block_scan.py`) and the JSON form of needles: exactly the
lines `Prefilter` passes, and never a line that holds a needle's text."""

from __future__ import annotations

import json
from typing import Any
from unittest.mock import patch

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.sources import ndjson
from connector.sources.block_scan import BlockScanner
from connector.sources.line_forms import number_needles
from connector.sources.literal_prefilter import field_filter, raw_run, stage_alternative
from connector.sources.ndjson import PrefilteredLines, iter_blocks
from connector.sources.query import Prefilter, _expression
from tests.detection.conditions import condition

# Values full of what JSON escapes: backslashes (Windows paths), quotes, slashes, controls.
values = st.lists(
    st.sampled_from([*'abcXYZ\\/" .:-\t\n\x01\x7féЖ`', "cmd.exe", "\\Temp\\"]), max_size=12
).map("".join)


@settings(max_examples=400, deadline=None)
@given(values, st.data())
def test_a_line_holding_a_text_holds_its_json_form(value: str, data: st.DataObject) -> None:
    """Whatever JSON writer made the line (escaped Unicode or not), a value holding a text
    gives a line that passes the text's needle (the line may pass for being forced)."""
    lowered = value.lower()
    start = data.draw(st.integers(0, len(lowered)))
    end = data.draw(st.integers(start, len(lowered)))
    text = lowered[start:end]
    if not text.isascii():
        return  # such needles are dropped: the line is not ASCII, or holds `\u`
    needle = raw_run(text)
    if not needle:
        return
    prefilter = Prefilter((((needle,),),))
    for line in (
        json.dumps({"f": value}).encode(),
        json.dumps({"f": value}, ensure_ascii=False).encode(),
        orjson.dumps({"f": value}),
        json.dumps({"f": value}).replace("/", "\\/").encode(),
    ):
        assert prefilter(line), (line, needle)


# One-byte needles too: the scan looks for them in a database of their own (`_key_scan`).
needles = st.sampled_from(
    [b"cmd.exe", b"temp", b"\\\\temp\\\\", b"a/b", b'x\\"y', b"zz", b"`", b"z", b"{", b":"]
)


def _alternatives(
    pool: st.SearchStrategy[bytes], group_size: int, count: int
) -> st.SearchStrategy[tuple[tuple[tuple[bytes, ...], ...], ...]]:
    """Prefilter alternatives: up to `count` of up to 3 groups of up to `group_size` needles."""
    groups = st.lists(pool, min_size=1, max_size=group_size).map(tuple)
    return st.lists(
        st.lists(groups, min_size=1, max_size=3).map(tuple), min_size=1, max_size=count
    ).map(tuple)


alternatives = _alternatives(needles, 3, 3)
records = st.lists(
    st.dictionaries(st.sampled_from(["a", "b", "p"]), values | st.integers(), max_size=3),
    max_size=50,
)


@settings(max_examples=300, deadline=None)
@given(records, alternatives, st.integers(1, 4000))
def test_plain_blocks_give_exactly_the_passing_lines(
    rows: list[dict[str, object]], alternatives: tuple[tuple[tuple[bytes, ...], ...], ...], cut: int
) -> None:
    prefilter = Prefilter(alternatives)
    data = b"".join(json.dumps(row).encode() + b"\n" for row in rows)
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    selected = PrefilteredLines(prefilter)
    got = [line for _, line in selected.lines(iter_blocks(chunks))]
    lines = data.splitlines()
    assert got == [line for line in lines if prefilter(line)]
    assert selected.skipped == len(lines) - len(got)


def test_the_scanner_leaves_blocks_that_are_not_plain_to_the_line_by_line_way() -> None:
    scanner = BlockScanner(Prefilter((((b"cmd.exe",),),)))
    assert scanner.select(b'{"a":"cmd.exe"}\n{"a":"x"}\n') == ([(0, b'{"a":"cmd.exe"}')], 2)
    assert scanner.select(b'{"a":"cmd.exe"}\r\n{"a":"x"}') == ([(0, b'{"a":"cmd.exe"}')], 2)
    for block in (
        b'{"a":"cmd.exe"}\nnot json\n',  # a shapeless line: the parser must see it
        b'{"a":"cmd\\u002eexe"}\n',  # an escape could hide a needle
        b'{"a":"cmd.exe"}\n\n',  # a blank line
        '{"a":"é"}\n'.encode(),  # not ASCII
    ):
        assert scanner.select(block) is None


@pytest.mark.parametrize(
    ("query", "os_name", "passes"),
    [
        ('host.os.type == "macos"', "OSX", True),
        ('host.os.type == "macos"', "macos", True),
        ('host.os.type == "macos"', "windows", False),
        ('host.os.type in ("linux", "windows")', "windows_legacy", True),
        ('host.os.type in ("linux", "windows")', "osx", False),
    ],
)
def test_os_needles_on_cloud_funnel_lines_are_the_raw_os_names(
    query: str, os_name: str, passes: bool
) -> None:
    """`host.os.type` is not copied from one raw value (`osx` becomes `macos`): its needles
    on Cloud Funnel lines are the raw names that map to the value."""
    test = stage_alternative(condition(query), field_filter("cloud-funnel"))
    assert test is not None
    line = json.dumps({"endpoint.os": os_name, "event.type": "Process Creation"}).encode()
    assert Prefilter((test,))(line) is passes


def test_field_names_are_needles_only_for_ecs_lines() -> None:
    """`dns.question.name != null` needs the keys `dns` and `question` in an ECS line (not
    `name`: nearly every line has one), and `destination.port == 53` the number; not on Cloud
    Funnel lines, whose keys have other names (and values the mapping may convert)."""
    needs = condition("dns.question.name != null and destination.port == 53")
    test = stage_alternative(needs, field_filter("ecs"), keys=True)
    expected = {(b"question",), (b"dns",), (b"destination",), (b"port",), number_needles(53)}
    assert test is not None and set(test) == expected
    assert stage_alternative(needs, field_filter("cloud-funnel")) is None


many_needles = st.sampled_from(
    [b"cmd.exe", b"temp", b"\\\\temp\\\\", b"a/b", b'x\\"y', b"zz", b"abc", b"xyz"]
    + [b"n%02d" % i for i in range(30)]
)
big_prefilters = _alternatives(many_needles, 4, 12)
lines_with_needles = st.lists(
    st.lists(many_needles | st.sampled_from([b"q", b" ", b"{", b"}"]), max_size=8).map(b"".join),
    max_size=30,
)


@settings(max_examples=300, deadline=None)
@given(big_prefilters, lines_with_needles)
def test_a_large_prefilter_answers_like_its_expression(
    alternatives: tuple[tuple[tuple[bytes, ...], ...], ...], lines: list[bytes]
) -> None:
    """Past `_AUTOMATON_FROM` needles a prefilter tests lines with one automaton walk
    (`needle_index.py`) and orders its groups from the same walk: the same answers as the
    plain expression of `in` tests."""
    prefilter = Prefilter(alternatives)
    plain: dict[str, Any] = {}
    exec(f"def passes(low):\n    return {_expression(alternatives)}\n", plain)
    expected = [i for i, low in enumerate(lines) if plain["passes"](low)]
    assert prefilter.select_lowered(lines) == expected
    assert [i for i, low in enumerate(lines) if prefilter.passes_lowered(low)] == expected
    ordered = prefilter.ordered_by(lines)
    assert ordered.select_lowered(lines) == expected
    for alternative, reordered in zip(alternatives, ordered.alternatives, strict=True):
        assert sorted(alternative) == sorted(reordered)
        rates = [sum(1 for low in lines if any(n in low for n in g)) for g in reordered]
        assert rates == sorted(rates)


many_rows = st.lists(
    st.dictionaries(
        st.sampled_from(["a", "b"]),
        st.lists(many_needles.map(lambda n: n.decode()) | values, max_size=4).map("".join)
        | st.lists(st.sampled_from(["CMD.EXE", "Temp", "N07", "é", "\x01"]), max_size=3).map(
            "-".join
        ),
        max_size=2,
    ),
    max_size=60,
)


@settings(max_examples=200, deadline=None)
@given(many_rows, big_prefilters, st.integers(1, 3000), st.booleans())
def test_many_key_needles_give_exactly_the_passing_lines(
    rows: list[dict[str, object]],
    alternatives: tuple[tuple[tuple[bytes, ...], ...], ...],
    cut: int,
    ascii_only: bool,
) -> None:
    """The block is scanned with Hyperscan (ASCII case ignored, every overlapping
    occurrence), plain blocks and the others alike, with many key needles, and each hit
    line is tested against the alternatives its key starts: exactly the lines the prefilter
    passes, in order, and the rest counted."""
    prefilter = Prefilter(alternatives)
    data = b"".join(json.dumps(row, ensure_ascii=ascii_only).encode() + b"\n" for row in rows)
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    selected = PrefilteredLines(prefilter)
    with patch.object(ndjson, "DENSE", 1.01):  # never read whole: the scan is under test
        got = [line for _, line in selected.lines(iter_blocks(chunks))]
    lines = data.splitlines()
    assert got == [line for line in lines if prefilter(line)]
    assert selected.skipped == len(lines) - len(got)


@pytest.mark.parametrize("padding", [0, 20])  # a few key needles, and many
def test_a_line_failing_one_keys_test_is_still_tested_for_the_next_key(padding: int) -> None:
    """`aaa` starts an alternative that also needs `zzz`; `bbb` one that needs nothing more. A
    line holding `aaa` then `bbb` fails the first and passes by the second."""
    filler = tuple(((b"pad%02d" % i,), (b"never",)) for i in range(padding))
    prefilter = Prefilter((((b"aaa",), (b"zzz",)), ((b"bbb",), (b"yyy", b"bbb")), *filler))
    scanner = BlockScanner(prefilter)
    block = b'{"a":"AAA BBB"}\n{"a":"aaa"}\n{"a":"bbb aaa zzz"}\n{"a":"pad01"}\n'
    assert scanner.select(block) == ([(0, b'{"a":"AAA BBB"}'), (2, b'{"a":"bbb aaa zzz"}')], 4)
    lowered = block.lower().split(b"\n")[:-1]
    assert scanner.needle_lines(block, lowered) == [0, 2]


@pytest.mark.parametrize("padding", [0, 20])
@pytest.mark.parametrize(
    "block",
    [
        b'{"a":"cmd.exe"}\r\n{"a":"x"}\r\n{"b":"CMD.EXE"}\r\n',
        b'{"a":"x"}\n{"a":"cmd.exe"}',  # no line break after the last line
        b'{"a":"cmd.exe"}\r\n{"a":"x"}\n{"a":"cmd.exe"}\r',
        b'{"a":"cmd.exe"}',
    ],
)
def test_plain_blocks_are_read_without_splitting_them(block: bytes, padding: int) -> None:
    """Plain blocks, CRLF or not, with or without a last line break: the lines chosen and
    counted are those of splitting the block and testing each line."""
    filler = tuple(((b"pad%02d" % i,), (b"never",)) for i in range(padding))
    prefilter = Prefilter((((b"cmd.exe",),), *filler))
    lines = block.split(b"\n")
    lines = lines[:-1] if lines[-1] == b"" else lines
    expected = [(i, line.removesuffix(b"\r")) for i, line in enumerate(lines) if prefilter(line)]
    assert BlockScanner(prefilter).select(block) == (expected, len(lines))
    blank = block.replace(b"}", b"}\n\n", 1)  # a blank line after the first
    for broken in (blank, b"\n" + block, block.replace(b"}", b"} ", 1)):
        assert BlockScanner(prefilter).select(broken) is None  # a blank or shapeless line


def test_a_one_byte_needle_is_found_after_any_byte_a_line_may_hold() -> None:
    """A one-byte key is scanned alone (`block_scan._key_scan`), its hits merged in order
    with the other keys': found after every ASCII byte JSON writes raw in a string (and
    after its escapes' last bytes), and a line failing its test is still tested for the
    other key."""
    prefilter = Prefilter((((b"`",), (b"a",)), ((b"zz",),)))
    scanner = BlockScanner(prefilter)
    lines = [
        json.dumps({"a": chr(b) + "`"}).encode() for b in range(32, 127) if chr(b) not in '\\"'
    ]
    lines += [b'{"a":"\\"`"}', b'{"a":"\\\\`"}', b'{"a":"x"}', b'{"a":"`"}']
    lines += [b'{"b":"`zz"}', b'{"b":"zz`"}', b'{"b":"`"}', b'{"b":"zz"}']
    block = b"\n".join(lines) + b"\n"
    found = scanner.select(block)
    assert found is not None
    assert [line for _, line in found[0]] == [line for line in lines if prefilter(line)]
    assert found[1] == len(lines) and len(found[0]) == len(lines) - 2
