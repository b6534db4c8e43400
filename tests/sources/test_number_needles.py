"""Number needles on ECS lines (`line_forms.number_needles`, `needles.NUMBER`): a stage that needs
`destination.port == 88` looks for `:88,` and its other delimited forms, and a line holding
a number JSON could write otherwise (`88.0`, `8.8e1`, `87.99999999999999999`, odd spaces)
always passes. The answer stays a superset of what the engine matches, and the block scans
and the second pass decide each line as the line test does."""

from __future__ import annotations

import json
import re
from unittest.mock import patch

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.detection.eql.compiler import compile_condition
from connector.mapping.ecs_input import from_ecs
from connector.sources import ndjson
from connector.sources.line_forms import ODD_NUMBER_PATTERNS, is_number_needle, number_needles
from connector.sources.literal_prefilter import field_filter, ranked_groups
from connector.sources.ndjson import PrefilteredLines, iter_blocks
from connector.sources.query import Prefilter
from tests.detection.conditions import condition

ECS = field_filter("ecs")
ODD_NUMBER = re.compile(b"|".join(ODD_NUMBER_PATTERNS))


def _test(text: str) -> Prefilter:
    ranked = ranked_groups(condition(text), ECS, keys=True)
    return Prefilter((tuple(group for _, group in ranked),))


def _spellings(value: int) -> st.SearchStrategy[str]:
    """JSON texts of numbers at or near `value`: the integer, floats that read as it (or do
    not quite), exponent forms."""
    return st.sampled_from(
        [
            str(value),
            str(value + 1),
            str(-value),
            f"{value}.0",
            f"{value}.000000000000000001",
            f"{value - 1}.99999999999999999",
            f"{value}e0",
            f"{value * 10}e-1",
            f"{value}E+0",
            f"{value}.5",
            "-0" if value == 0 else str(value),
            f'"{value}"',  # a string: never equals a number
            "true",
        ]
    )


_SPACE = st.sampled_from(["", " ", "  ", "\t", " \r"])
_CONSTANTS = st.sampled_from([0, 1, 4, 25, 88, 3389, 65535, -7, 2**63])


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_CONSTANTS, st.data())
def test_a_line_whose_number_equals_the_constant_passes(value: int, data: st.DataObject) -> None:
    text = data.draw(_spellings(value))
    before, after = data.draw(_SPACE), data.draw(_SPACE)
    form = data.draw(st.sampled_from(["flat", "nested", "list"]))
    number = f"{before}{text}{after}"
    if form == "flat":
        line = '{"destination.port":' + number + ',"event.id":"1"}'
    elif form == "nested":
        line = '{"event.id": "1", "destination": {"port":' + number + "}}"
    else:
        line = '{"event.id":"1","destination.port":[1,' + number + "]}"
    record = {"@timestamp": "2025-11-23T12:00:00.000Z", **json.loads(line)}
    event = from_ecs(record)
    assert isinstance(event, dict)
    queries = [
        f"destination.port == {value}",
        f"destination.port in (5, {value})",
        f"destination.port == {float(value)}",
    ]
    if value >= 0:  # EQL takes no sign in a pattern list
        queries += [f"destination.port : {value}", f"destination.port like~ ({value}, 9)"]
    query = data.draw(st.sampled_from(queries))
    if not compile_condition(condition(query)).fn(event):
        return
    assert _test(query)(line.encode()), (query, line)


def test_number_needles_are_delimited_and_rank_by_their_digits() -> None:
    test = _test("destination.port == 3389")
    assert test(b'{"destination.port":3389,"x":1}')
    assert test(b'{"destination": {"port": 3389}}')  # json.dumps' spaces
    assert not test(b'{"destination.port":33890}')
    assert not test(b'{"destination.port":"3389"}')  # a string never equals a number
    assert not test(b'{"process.pid":13389,"destination.port":443}')
    assert test(b'{"destination.port":3389.0}')  # odd: passes whatever its needles
    assert not _test("destination.port == 88")(b'{"destination.ip":"2001:4860::8888"}')
    assert (
        ranked_groups(condition("a.b == 3389"), ECS) == []
    )  # without `keys` (Cloud Funnel, DV lines): no number needles
    ranked = {
        group: rank
        for rank, group in ranked_groups(condition("destination.port == 3389"), ECS, keys=True)
    }
    assert ranked[number_needles(3389)][0] == 0  # four digits: as selective as a long text
    assert b":-0," in number_needles(0)  # JSON's other way to write 0
    fraction = ranked_groups(condition("destination.port == 88.5"), ECS, keys=True)
    assert not any(is_number_needle(n) for _, group in fraction for n in group)  # floats only


@pytest.mark.parametrize(
    ("line", "odd"),
    [
        (b'{"a":88}', False),
        (b'{"a": 88, "b": [1, 2]}', False),
        (b'{"t":"2025-11-23T12:13:20.007Z"}', False),
        (b'{"a":88.0}', True),
        (b'{"a":8.8e1}', True),
        (b'{"a":[1,2E3]}', True),
        (b'{"a":  88}', True),
        (b'{"a":\t88}', True),
        (b'{"a":88 }', True),
    ],
)
def test_odd_numbers(line: bytes, odd: bool) -> None:
    assert (ODD_NUMBER.search(line) is not None) is odd


def _prefilter(ports: list[int], padding: int) -> Prefilter:
    """`(port in ports and "egress") or <padding alternatives>` (many key needles or few)."""
    group = tuple(n for port in ports for n in number_needles(port))
    filler = tuple(((b"pad%02d" % i,), (b"never",)) for i in range(padding))
    return Prefilter(((group, (b'"egress"',)), *filler))


rows = st.lists(
    st.tuples(
        st.sampled_from(["88", "89", "88.0", "8.8e1", " 88", "  88", "88 ", "[88, 1]", '"88"']),
        st.sampled_from(["egress", "ingress"]),
        st.booleans(),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(rows, st.sampled_from([0, 3]), st.integers(1, 400), st.sampled_from([0, 20]))
def test_scans_and_the_second_pass_decide_as_the_line_test(
    drawn: list[tuple[str, str, bool]], port_shift: int, cut: int, padding: int
) -> None:
    """The first pass yields exactly the lines `first(line)` passes (odd lines forced); a
    second pass with `exclude=first` exactly those `second` passes that `first` did not."""
    escaped = ',"n":"\\u00e9"'  # a line every pass takes
    lines = [
        f'{{"destination.port":{number},"network.direction":"{direction}"{escaped * escape}}}'
        .encode()
        for number, direction, escape in drawn
    ]  # fmt: skip
    data = b"".join(line + b"\n" for line in lines)
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    first = _prefilter([88 + port_shift], padding)
    second = Prefilter((((b"ingress",),),))
    with patch.object(ndjson, "DENSE", 1.01):  # never read whole: the scan is under test
        got = [line for _, line in PrefilteredLines(first).lines(iter_blocks(chunks))]
        again = PrefilteredLines(second, exclude=first)
        more = [line for _, line in again.lines(iter_blocks(chunks))]
    assert got == [line for line in lines if first(line)]
    assert more == [line for line in lines if second(line) and not first(line)]
    assert again.taken == len(more)


def test_a_test_without_the_automaton_answers_alike() -> None:
    """`automaton=False` (block_scan's per-key tests) always tests with `in`, however many
    needles: the same answers, and no automaton is built."""
    alternatives = (tuple((b"n%02d" % i,) for i in range(30)), ((b"x",), (b"n07", b"y")))
    lines = [b'{"a":"n07 x"}', b'{"a":"n01"}', b"".join(b"n%02d " % i for i in range(30))]
    with_automaton = Prefilter(alternatives)
    plain = Prefilter(alternatives, automaton=False)
    with patch("connector.sources.needle_index.NeedleIndex", side_effect=AssertionError):
        answers = [plain.passes_lowered(line) for line in lines]
    assert (
        answers
        == [with_automaton.passes_lowered(line) for line in lines]
        == [
            True,
            False,
            True,
        ]
    )


keyed_rows = st.lists(
    st.tuples(
        st.sampled_from(
            [
                '"process.name":"cmd.exe"',
                '"process.name": "CMD.EXE"',
                '"process": {"name": "cmd.exe"}',
                '"process.parent.name":"cmd.exe"',
                '"process.name" : "cmd.exe"',
                '"process.name":\t"cmd.exe"',
                '"process.name":["x","cmd.exe"]',
                '"process.name": [ "cmd.exe"]',
                '"process.name":"x.exe"',
            ]
        ),
        st.sampled_from(["egress", "ingress"]),
    ),
    max_size=40,
)


@settings(max_examples=200, deadline=None)
@given(keyed_rows, st.integers(1, 400), st.sampled_from([0, 20]))
def test_keyed_lines_are_decided_as_the_line_test(
    drawn: list[tuple[str, str]], cut: int, padding: int
) -> None:
    """A keyed needle's odd key forms are found with the key needles in the block scan: the
    same lines as `first(line)`, and the second pass leaves exactly what the first took."""
    lines = [f'{{{field},"network.direction":"{d}"}}'.encode() for field, d in drawn]
    data = b"".join(line + b"\n" for line in lines)
    chunks = [data[i : i + cut] for i in range(0, len(data), cut)]
    ranked = ranked_groups(condition('process.name : "cmd.exe"'), ECS, keys=True)
    filler = tuple(((b"pad%02d" % i,), (b"never",)) for i in range(padding))
    first = Prefilter(((ranked[0][1], (b'"egress"',)), *filler))
    assert b'"process.name":"cmd.exe"' in ranked[0][1]
    second = Prefilter((((b"ingress",),),))
    with patch.object(ndjson, "DENSE", 1.01):
        got = [line for _, line in PrefilteredLines(first).lines(iter_blocks(chunks))]
        again = PrefilteredLines(second, exclude=first)
        more = [line for _, line in again.lines(iter_blocks(chunks))]
    assert got == [line for line in lines if first(line)]
    assert more == [line for line in lines if second(line) and not first(line)]
    odd = [line for line in lines if b" :" in line or b"\t" in line or b"[" in line]
    assert all(first(line) for line in odd)  # whatever their direction
