"""Needles: necessary texts of a stage condition, and the literal pass that finds them."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.detection.eql.compiler import compile_condition
from connector.detection.eql.patterns import lucene_regex
from connector.detection.literal_pass import CACHE_CHARACTERS, LiteralPass
from connector.detection.needles import _regex_run, needle_options, needles_of
from tests.detection.conditions import condition as parse_condition


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('process.name == "CMD.exe"', {"cmd.exe"}),
        ('process.name in~ ("A.exe", "b.EXE")', {"a.exe", "b.exe"}),
        ('process.args : ("*\\\\Temp\\\\*.bat", "-EncodedCmd")', {"\\temp\\", "-encodedcmd"}),
        ('startswith~(file.path, "C:\\\\Users")', {"c:\\users"}),
        ('stringcontains(process.command_line, "curl")', {"curl"}),
        ('process.name : "cmd.exe" and process.args : "*-enc*"', {"cmd.exe"}),
        ('process.name : ("a.exe", "b.exe", "c.exe") and process.args : "*-enc*"', {"-enc"}),
        ('process.args : "*-enc*" or file.name : "x.ps1"', {"-enc", "x.ps1"}),
        ('process.args : "*-enc*" or process.pid == 4', None),
        ('not process.name : "cmd.exe"', None),
        ('process.name != "cmd.exe"', None),
        ('host.os.type == "windows"', None),
        ('process.args : "-"', None),
        ('file.name : "*\u202e*"', {"\u202e"}),
        ('process.command_line : ("*\U0001f600*", "*ab*")', None),
        ('process.args regex~ "ab+c"', None),
        ('process.name in ("cmd.exe", null)', None),
        ("process.pid == 4", None),
        # short texts with a rare character (`RARE`) are needles, ranked after longer ones
        ('process.command_line : ("*^^*", "*,;,*")', {"^^", ",;,"}),
        ('process.command_line : "*`*"', {"`"}),
        ('process.command_line : ("*${*", "*-f*")', None),  # `-f` is short, not rare
        ('process.command_line : "*^^*" and process.args : ("*abc*", "*def*")', {"abc", "def"}),
        ('process.command_line : "*{*"', {"{"}),
    ],
)
def test_needles_of(text: str, expected: set[str] | None) -> None:
    needles = needles_of(parse_condition(text))
    assert (None if needles is None else set(needles.texts)) == expected


def test_the_anchor_field_is_skipped_for_the_second_gate() -> None:
    condition = parse_condition('process.name : "cmd.exe" and process.args : "*-enc*"')
    needles = needles_of(condition, skip="process.name")
    assert needles is not None and set(needles.texts) == {"-enc"}
    assert needles_of(parse_condition('process.name : "cmd.exe"'), skip="process.name") is None


_VALUES = st.one_of(
    st.text(alphabet="abcAB-\\ßİK.", max_size=8),
    st.lists(st.text(alphabet="abcAB-\\ßİK.", max_size=6), max_size=3),
    st.integers(),
    st.none(),
)
_PATTERNS = st.text(alphabet="abcAB-\\ßİK.*?", min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(_PATTERNS, min_size=1, max_size=3),
    operator=st.sampled_from([":", "like", "like~", "==", "in", "in~"]),
    value=_VALUES,
)
def test_an_event_the_condition_matches_carries_a_needle(
    patterns: list[str], operator: str, value: object
) -> None:
    """The literal pass finds a needle in every event the compiled condition accepts."""
    quoted = ", ".join('"' + p.replace("\\", "\\\\").replace('"', "") + '"' for p in patterns)
    first = quoted.split(", ")[0]
    text = f"f == {first}" if operator == "==" else f"f {operator} ({quoted})"
    condition = parse_condition(text)
    needles = needles_of(condition)
    if needles is None:
        return
    literals = LiteralPass()
    numbers = frozenset().union(*(literals.ids_of(t, needles.fields) for t in needles.texts))
    literals.freeze()
    event = {"f": value, "other": "zzz"}
    if compile_condition(condition).fn(event):
        assert numbers & literals.found(event, literals.plan(needles.fields)), (text, value)


@pytest.mark.parametrize(
    ("pattern", "fold", "expected"),
    [
        (r".*(ipconfig\s+/all).*", False, "ipconfig"),
        (r".*(ipconfig\s+/all).*", True, "pconf"),  # `i` may match a dotless ı (see module)
        (r".*(\$PSHome\[\s*\d{1,3}\s*\]).*", False, "$PSHome["),
        (r"abc?def", False, "def"),
        (r"(xyz)?abcd", False, "abcd"),
        (r"(abcd)+", False, "abcd"),
        (r".*(\"(\{\d\})+\"\s*-f).*", False, '"{'),  # a run joined with a group's first
        (r".*(\w+`(\w+|-|.)`[\w+|\s]).*", False, "`"),  # short, with a rare character
        (r".*(\$\{`?e`?n`?v`?:`?p`?a`?t`?h`?\}).*", True, "${"),
        (r"ab(cd)+ef", False, "abcd"),
        (r"abc(\dde)+", False, "abc"),  # the group starts with a class: nothing joined
        (r"ab(cd)?ef", False, None),
        (r".*-f.*", False, None),
        (r".*(a|bcdef).*", False, None),
        (r"ab(cd|ef)gh", False, None),
        (r"x(abcd)*", False, None),
        (r"a{b", False, None),
        (r"a.*b", False, None),
    ],
)
def test_regex_run(pattern: str, fold: bool, expected: str | None) -> None:
    assert _regex_run(pattern, fold) == expected


_PIECES = st.sampled_from(
    ["ab", "cd", "i", "I", "K", "s", "é", "\\.", "\\$", ".", ".*", "\\s+", "\\d", "(", ")",
     "|", "?", "*", "+", "{0,2}", "{1,2}", "[a-c]", "[^x]", "xyz", "-f", "\\[", "\\W",
     "`", "\\{", "\\$", '"', "^"]
)  # fmt: skip


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(pieces=st.lists(_PIECES, min_size=1, max_size=10), fold=st.booleans(), data=st.data())
def test_every_match_of_a_regex_carries_its_run(
    pieces: list[str], fold: bool, data: st.DataObject
) -> None:
    """Strings the regex fully matches (drawn from it) hold the run, case-folded."""
    pattern = "".join(pieces)
    try:
        compiled = re.compile(lucene_regex(pattern), re.DOTALL | (re.IGNORECASE if fold else 0))
    except (re.error, ValueError):
        return
    run = _regex_run(pattern, fold)
    if run is None:
        return
    text = data.draw(st.from_regex(compiled, fullmatch=True))
    assert run.casefold() in text.casefold(), (pattern, text)
    for odd in ("ı", "İ", "\u212a", "ſ"):  # letters Python's ignore-case pairs with ASCII
        swapped = text.replace("i", odd).replace("I", odd).replace("k", odd).replace("s", odd)
        if compiled.fullmatch(swapped):
            assert run.casefold() in swapped.casefold(), (pattern, swapped)


def test_the_literal_pass_cache_stays_bounded_and_exact() -> None:
    """Answers are the same from the cache and from a scan; the cache never outgrows its
    character budget (long values are many) nor its count."""
    literals = LiteralPass()
    numbers = literals.ids_of("-enc", {"process.args"})
    literals.freeze()
    plan = literals.plan({"process.args"})
    cache = plan[0][1]
    long = 4_000  # cached (≤ 4 KiB), ~1,100 of them pass the character budget
    for index in range(CACHE_CHARACTERS // long + 100):
        value = f"{index:08d}-ENC".ljust(long, "x") if index % 2 else f"{index:08d}".ljust(long)
        assert literals.found({"process.args": [value]}, plan) == (numbers if index % 2 else set())
        assert sum(map(len, cache)) <= CACHE_CHARACTERS
    assert len(cache) < CACHE_CHARACTERS // long
    assert literals.found({"process.args": "x -Enc y"}, plan) == numbers
    assert literals.found({"process.args": "x -Enc y"}, plan) == numbers  # now from the cache


def test_a_needle_counts_only_in_the_fields_it_is_read_from() -> None:
    """A text numbered for one field is not found in another field's value, nor in a field
    the plan leaves out; the same text read from two fields has two numbers."""
    literals = LiteralPass()
    executable = literals.ids_of("\\powershell.exe", {"process.executable"})
    both = literals.ids_of("-enc", {"process.command_line", "process.args"})
    in_line = literals.ids_of("-enc", {"process.command_line"})
    literals.freeze()
    assert len(both) == 2 and in_line < both
    plan = literals.plan(literals.fields_of(executable | both))
    line = {"process.command_line": "C:\\Windows\\PowerShell.exe -Enc x"}
    assert literals.found(line, plan) == in_line
    assert literals.found({"process.executable": "c:\\x\\powershell.exe"}, plan) == executable
    assert literals.found(line, literals.plan({"process.executable"})) == frozenset()


def test_needle_options_offer_every_branch_pairing() -> None:
    """`(a and b) or (c and d)`: any pairing of one term of each branch is necessary."""
    text = (
        '(process.name : "aaa.exe" and process.args : "*bbbb*") or '
        '(file.name : "ccc.txt" and file.path : "*dddd*")'
    )
    options = needle_options(parse_condition(text))
    assert {frozenset(o.texts) for o in options} == {
        frozenset({"aaa.exe", "ccc.txt"}),
        frozenset({"aaa.exe", "dddd"}),
        frozenset({"bbbb", "ccc.txt"}),
        frozenset({"bbbb", "dddd"}),
    }
    assert needle_options(parse_condition('process.name : "aaa.exe" or process.pid == 4')) == []
    assert len(needle_options(parse_condition(text), limit=2)) == 2


@settings(max_examples=300, deadline=None)
@given(
    patterns=st.lists(_PATTERNS, min_size=4, max_size=4),
    value=_VALUES,
    other=_VALUES,
)
def test_every_needle_option_is_carried_by_a_matching_event(
    patterns: list[str], value: object, other: object
) -> None:
    """Each option alone is necessary: an event the condition accepts carries one of its texts."""
    quoted = ['"' + p.replace("\\", "\\\\").replace('"', "") + '"' for p in patterns]
    text = f"(f : {quoted[0]} and g : {quoted[1]}) or (f like~ {quoted[2]} and g == {quoted[3]})"
    condition = parse_condition(text)
    event = {"f": value, "g": other}
    if not compile_condition(condition).fn(event):
        return
    values = [v for v in (value, other) for v in (v if isinstance(v, list) else [v])]
    folded = [v.casefold() for v in values if isinstance(v, str)]
    for option in needle_options(condition):
        assert any(t in v for t in option.texts for v in folded), (text, option)
