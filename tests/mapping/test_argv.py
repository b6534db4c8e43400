"""Windows command-line splitting (spec §7.1, worked examples §7.3)."""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping.argv import split_command_line

TAB = "\t"

CASES: list[tuple[str, list[str]]] = [
    # §7.3 worked examples (1-14, 17; 15-16 are about the trim position, see test_mapper.py)
    ("./nr-winpkg", ["./nr-winpkg"]),
    (
        "C:\\ProgramFiles(x86)\\Microsoft\\important_stuff\\stuff.EXE\\",
        ["C:\\ProgramFiles(x86)\\Microsoft\\important_stuff\\stuff.EXE\\"],
    ),
    (
        '"C:\\ProgramFiles(x86)\\Google\\Chrome\\Application\\chrome.exe"',
        ["C:\\ProgramFiles(x86)\\Google\\Chrome\\Application\\chrome.exe"],
    ),
    ('cmd.exe /c "C:\\a b\\run.bat"', ["cmd.exe", "/c", "C:\\a b\\run.bat"]),
    ("curl.exe https://example.com/a?b=1&c=2", ["curl.exe", "https://example.com/a?b=1&c=2"]),
    ('a\\"b', ['a"b']),
    ('a\\\\"b c"', ["a\\b c"]),
    ('a\\\\\\"b', ['a\\"b']),
    ('"C:\\dir\\"', ['C:\\dir"']),
    (f"a{TAB}b", ["a", "b"]),
    (f'"a{TAB}b"', [f"a{TAB}b"]),
    ("", []),
    ('a "" b', ["a", "", "b"]),
    ('"a""b c"', ['a"b', "c"]),
    (
        'C:\\Windows\\System32\\svchost.exe" -k termsvcs -s TermService',
        ["C:\\Windows\\System32\\svchost.exe -k termsvcs -s TermService"],
    ),
    ('"C:\\a b\\x.exe" "y"', ["C:\\a b\\x.exe", "y"]),
    ('"C:\\Program Files\\x.exe"', ["C:\\Program Files\\x.exe"]),
    ("sh -c 'echo hi'", ["sh", "-c", "'echo", "hi'"]),
    # more edges
    ("   ", []),
    (f" {TAB} a {TAB} ", ["a"]),
    ('""', [""]),
    ('"', [""]),
    ('"unclosed arg', ["unclosed arg"]),
    ("\\", ["\\"]),
    ("a\\\\ b", ["a\\\\", "b"]),
    ("\\\\server\\share\\x.bat", ["\\\\server\\share\\x.bat"]),
    ('a\\\\\\\\"b"', ["a\\\\b"]),
    ("line1\nline2", ["line1\nline2"]),
    ("a\u00a0b", ["a\u00a0b"]),
    ('x "a b"c d', ["x", "a bc", "d"]),
    ('""""', ['"']),
    ('"a"""', ['a"']),
    ('a""b', ["ab"]),
    ('a"b"c', ["abc"]),
]


@pytest.mark.parametrize(("text", "expected"), CASES, ids=[repr(c[0]) for c in CASES])
def test_split_table(text: str, expected: list[str]) -> None:
    assert split_command_line(text) == expected


def test_long_lines_are_split_the_same_way_without_the_cache() -> None:
    text = 'cmd.exe /c "' + "x" * 3000 + '" tail'
    assert split_command_line(text) == ["cmd.exe", "/c", "x" * 3000, "tail"]
    assert split_command_line(text) == _reference(text)


def test_result_is_a_fresh_list() -> None:
    first = split_command_line("cmd.exe /c dir")
    first.append("changed")
    assert split_command_line("cmd.exe /c dir") == ["cmd.exe", "/c", "dir"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.characters(codec="utf-8"), max_size=12), max_size=6))
def test_list2cmdline_round_trip(args: list[str]) -> None:
    """Whatever `subprocess.list2cmdline` builds splits back into the same list.

    list2cmdline quotes an argument only for spaces and tabs, so other whitespace must stay
    inside one argument, which the splitter does (only space and tab separate).
    """
    assert split_command_line(subprocess.list2cmdline(args)) == args


def _reference(text: str) -> list[str]:
    """The spec's §7.1 algorithm, one character at a time (slow, obviously literal)."""
    args: list[str] = []
    i, n = 0, len(text)
    while True:
        while i < n and text[i] in " \t":
            i += 1
        if i >= n:
            return args
        buf: list[str] = []
        quoted, slashes = False, 0
        while i < n:
            ch = text[i]
            if ch == "\\":
                slashes += 1
                i += 1
                continue
            if ch == '"':
                buf.append("\\" * (slashes // 2))
                if slashes % 2:
                    buf.append('"')
                elif quoted and i + 1 < n and text[i + 1] == '"':
                    buf.append('"')
                    i += 1
                    quoted = False
                else:
                    quoted = not quoted
                slashes = 0
                i += 1
                continue
            if ch in " \t" and not quoted:
                break
            buf.append("\\" * slashes + ch)
            slashes = 0
            i += 1
        buf.append("\\" * slashes)
        args.append("".join(buf))


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet='ab \t"\\\n', max_size=24))
def test_matches_the_literal_algorithm(text: str) -> None:
    assert split_command_line(text) == _reference(text)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet='ab \t"\\\n', max_size=24).filter(
        lambda text: '\\"' not in text and '""' not in text
    )
)
def test_toggling_fast_path_matches_the_literal_algorithm(text: str) -> None:
    """Quotes that only toggle (no `\\"`, no `""`) take a split-based path; same answers."""
    assert split_command_line(text) == _reference(text)
