"""The first-pass needles of ECS lines: exact values between quotes, texts beyond ASCII, and
selective fields first. The answer must stay a superset: a line whose event a stage matches
passes that stage's test, whatever JSON writer wrote it, flat or nested."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.detection.eql.compiler import compile_condition
from connector.detection.needles import EDGE, KEYED, needle_options, needles_of
from connector.mapping.ecs_input import from_ecs
from connector.sources.literal_prefilter import field_filter, ranked_groups, stage_alternative
from connector.sources.query import Prefilter
from tests.detection.conditions import condition

ECS = field_filter("ecs")
_KEY = KEYED  # a field's value starts with the text (not for list fields: `process.args`)


def _test(text: str) -> Prefilter | None:
    alternative = stage_alternative(condition(text), ECS, keys=True)
    return None if alternative is None else Prefilter((alternative,))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('process.name : "cmd.exe"', {_KEY + "process.name" + _KEY + EDGE + "cmd.exe" + EDGE}),
        ('process.args in ("/c", "/k")', {EDGE + "/c" + EDGE, EDGE + "/k" + EDGE}),
        (
            'process.executable : "C:\\\\Windows\\\\*"',
            {_KEY + "process.executable" + _KEY + EDGE + "c:\\windows\\"},
        ),
        ('process.executable : "*\\\\cmd.exe"', {"\\cmd.exe" + EDGE}),
        ('process.command_line : "*-enc*"', {"-enc"}),
        ('startswith~(file.path, "C:\\\\Users")', {_KEY + "file.path" + _KEY + EDGE + "c:\\users"}),
        ('endswith(file.path, ".lnk")', {".lnk" + EDGE}),
        ('process.args : "/c"', {EDGE + "/c" + EDGE}),  # short, but a whole value
        ('process.args : "/c*"', None),  # short and not whole
    ],
)
def test_edges_mark_where_a_text_stands_in_the_value(text: str, expected: set[str] | None) -> None:
    found = needle_options(condition(text), edges=True)  # one term: one option or none
    assert (set(found[0].texts) if found else None) == expected
    plain = needles_of(condition(text), selective_only=False)  # the engine's: no marks
    assert plain is None or not any(EDGE in t for t in plain.texts)


def test_an_exact_value_is_looked_for_between_quotes() -> None:
    test = _test('process.name : "cmd.exe"')
    assert test is not None
    assert test(b'{"process.name":"CMD.EXE","event.id":"1"}')
    assert test(b'{"process": {"name": "cmd.exe"}}')  # nested, with spaces
    # the key says whose value it is: another field's does not pass
    assert not test(b'{"process.args":["cmd.exe","/c"]}')
    assert not test(b'{"process.parent.name":"cmd.exe","process.name":"x.exe"}')
    # the key written otherwise: the line always passes
    assert test(b'{"process.name":["x.exe","cmd.exe"]}')  # a list
    assert test(b'{"process.name" : "cmd.exe"}')
    assert test(b'{"process":{"name":\t"cmd.exe"}}')
    assert not test(b'{"process.command_line":"C:\\\\Windows\\\\cmd.exe /c x"}')


def test_a_term_only_texts_beyond_ascii_can_satisfy_rejects_every_plain_line() -> None:
    """`file.name : "*\u202e*"`: a plain (ASCII, escape-free) line cannot hold U+202E; a line
    that could (raw UTF-8, or a `\\u` escape) always passes."""
    test = _test('event.type == "creation" and file.name : "*\u202e*"')
    assert test is not None
    assert not test(b'{"event.type":["creation"],"file.name":"a.exe"}')
    assert test('{"file.name":"a\u202eexe.txt"}'.encode())
    assert test(b'{"file.name":"a\\u202eexe.txt"}')


def test_an_or_offers_the_selective_fields_of_each_branch() -> None:
    """Inside an `or`, a group pairs the selective fields' needles of the branches, not only
    `event.category == "process"` (which every process line holds)."""
    text = (
        '(event.category == "registry" and registry.path : "*\\\\Terminal Services\\\\Shadow")'
        ' or (event.category == "process" and process.name : "RdpSaProxy.exe")'
    )
    test = stage_alternative(condition(text), ECS, keys=True)
    assert test is not None
    assert any(
        set(group) >= {b'"name":"rdpsaproxy.exe"', b'\\\\terminal services\\\\shadow"'}
        for group in test
    )
    assert Prefilter((test,))(b'{"event.category":["process"],"process.name":"RdpSaProxy.exe"}')
    assert not Prefilter((test,))(b'{"event.category":["process"],"process.name":"x.exe"}')


_TEXT = st.text(alphabet='abAB."\\/ \tßİKé\u202e^`{', max_size=5)
_PATTERN = st.text(alphabet='abAB."\\/ ßİK*?\u202e^`{', min_size=1, max_size=5)
_AROUND = st.text(alphabet="xy -", min_size=1, max_size=3)
_VALUE = st.one_of(_TEXT, st.lists(_TEXT, max_size=3), st.integers(-(2**63), 2**63 - 1), st.none())
_FIELDS = ("process.name", "process.args", "file.path")


def _term(draw: st.DrawFn, seen: list[str]) -> str:
    field = draw(st.sampled_from(_FIELDS))
    patterns = draw(st.lists(_PATTERN, min_size=1, max_size=3))
    seen.extend(patterns)
    quoted = ", ".join(json.dumps(p, ensure_ascii=False) for p in patterns)
    kind = draw(st.sampled_from([":", "like", "like~", "==", "in", "in~", "fn", "not", "set"]))
    if kind == "==":
        return f"{field} == {quoted.split(', ')[0]}"
    if kind == "fn":
        name = draw(st.sampled_from(["startswith", "endswith~", "stringcontains~"]))
        return f"{name}({field}, {quoted.split(', ')[0]})"
    if kind == "not":
        return f"not {field} : ({quoted})"
    if kind == "set":  # SigmaHQ's "the field is set": only a line holding it can match
        return f"not (?{field} == null or {field} : ({quoted}))"
    return f"{field} {kind} ({quoted})"


@st.composite
def _conditions(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A condition and the patterns it uses."""
    seen: list[str] = []
    terms = [_term(draw, seen) for _ in range(draw(st.integers(1, 3)))]
    joiner = draw(st.sampled_from([" and ", " or "]))
    text = joiner.join(f"({t})" for t in terms)
    if draw(st.booleans()):
        text = f"({text}) and ({_term(draw, seen)})"
    return text, seen


def _value(draw: Callable[[st.SearchStrategy[Any]], Any], patterns: list[str]) -> Any:
    """A random value, or (mostly) one made from a pattern, so that terms often match."""
    if draw(st.integers(0, 3)) == 0:
        return draw(_VALUE)
    made = []
    for _ in range(draw(st.integers(1, 2))):
        pattern = draw(st.sampled_from(patterns))
        middle = pattern.replace("*", draw(_TEXT)).replace("?", draw(st.sampled_from("aZ.")))
        if draw(st.booleans()):  # the pattern's text inside the value, not at its edges
            middle = draw(_AROUND) + middle + draw(_AROUND)
        made.append(middle.upper() if draw(st.booleans()) else middle)
    return made if draw(st.booleans()) else made[0]


def _lines(event: dict[str, Any]) -> list[bytes]:
    nested: dict[str, Any] = {}
    for key, value in event.items():
        head, _, tail = key.partition(".")
        if tail:
            nested.setdefault(head, {})[tail] = value
        else:
            nested[key] = value
    return [
        json.dumps(event).encode(),
        json.dumps(event, ensure_ascii=False).encode(),
        orjson.dumps(event),
        json.dumps(nested, indent=None, separators=(", ", ": ")).encode(),
    ]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_conditions(), st.data())
def test_a_line_whose_event_the_stage_matches_passes_its_test(
    drawn: tuple[str, list[str]], data: st.DataObject
) -> None:
    text, patterns = drawn
    values = {field: _value(data.draw, patterns) for field in _FIELDS}
    record = {"@timestamp": "2025-11-23T12:00:00.000Z", "event.id": "1", **values}
    event = from_ecs(record)
    assert isinstance(event, dict)
    if not compile_condition(condition(text)).fn(event):
        return
    test = _test(text)
    if test is None:
        return  # no needle: every line passes
    for line in _lines(record):
        assert test(line), (text, line)


def test_a_stage_of_a_category_needs_that_category_between_quotes() -> None:
    """`process where not process.name : "x.exe"` has no needle of its own; the engine runs it
    only for events whose `event.category` is (or lists) "process"."""
    cond = condition('host.os.type == "windows" and not process.name : "x.exe"')
    ranked = ranked_groups(cond, ECS, keys=True, category="process")
    test = Prefilter((tuple(group for _, group in ranked),))
    assert (b'"process"',) in [group for _, group in ranked]
    assert test(b'{"event.category":["process"],"host.os.type":"windows"}')
    assert test(b'{"event": {"category": "Process"}, "host": {"os": {"type": "windows"}}}')
    assert not test(b'{"event.category":["network"],"host.os.type":"windows","process.pid":4}')
    assert ranked_groups(cond, ECS, keys=False, category="process") == ranked_groups(cond, ECS)


def test_every_part_of_a_required_field_name_is_a_group() -> None:
    """`destination.address : "*"` needs the field, so a line holds both `destination` and
    `address` (flat or nested); `destination` alone is in every network line, `address`
    may be in none."""
    cond = condition('destination.port == 88 and destination.address : "*"')
    groups = [group for _, group in ranked_groups(cond, ECS, keys=True)]
    assert (b"destination",) in groups
    assert (b"address",) in groups
    test = Prefilter((tuple(groups),))
    assert not test(b'{"destination.ip":"10.0.0.1","destination.port":88}')
    assert test(b'{"destination.address":"dc01","destination.port":88}')
    assert test(b'{"destination": {"address": "DC01", "port": 88}}')
    # a derived field (the intake may add it) gives no group; parts under three characters
    # (`pe`) or in nearly every line (`process`) give none either
    assert ranked_groups(condition("process.args_count > 2"), ECS, keys=True) == []
    parts = [g for _, g in ranked_groups(condition("process.pe.imphash != null"), ECS, keys=True)]
    assert parts == [(b"imphash",)]


@pytest.mark.parametrize(
    ("text", "needed"),
    [
        ('not (?process.executable == null or process.executable : "-")', True),
        ('not process.executable : "*\\\\*" and not (process.executable == null)', True),
        ('not (not process.executable : "*x*")', True),
        ('(not ?process.executable == null) or process.executable : "*x*"', True),
        ("not (?process.executable == null and ?process.pid == null)", False),
        ("not (process.executable != null)", False),
        ('not (?process.executable == null) or process.name : "x"', False),
    ],
)
def test_a_field_a_negation_needs_set_is_a_group(text: str, needed: bool) -> None:
    """SigmaHQ writes "the field is set" as `not (?f == null or …)`: `f == null` holds when
    the event lacks the field, so its negation needs it, and a line without its name cannot
    match."""
    groups = [group for _, group in ranked_groups(condition(text), ECS, keys=True)]
    assert ((b"executable",) in groups) is needed
    if needed:
        test = Prefilter((tuple(groups),))
        assert not test(b'{"event.category":["process"],"process.name":"x"}')
        assert test(b'{"process": {"Executable": "x"}}')


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('process.command_line : ("*^^*", "*;;;;*")', ((b";;;;", b"^^"),)),
        ('process.command_line : "*`*"', ((b"`",),)),
        (r'process.command_line regex ".*\\\"\\{.*"', ((b'\\"{',),)),  # `"` as JSON writes it
        ('process.command_line : "*{*"', None),  # every JSON line holds a brace
        ('process.command_line : "*-f*"', None),
    ],
)
def test_a_short_text_with_a_rare_character_is_looked_for_in_lines(
    text: str, expected: tuple[tuple[bytes, ...], ...] | None
) -> None:
    alternative = stage_alternative(condition(text), ECS)
    assert alternative == expected
