"""The substring pre-check of regex matchers: it only ever skips regexes that cannot match."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.detection.eql.patterns import StringMatcher, lucene_regex, wildcard_regex

# SigmaHQ `|re` rules as converted (proc_creation_win_powershell_token_obfuscation.yml).
_TOKEN = r".*(\w+`(\w+|-|.)`[\w+|\s]).*"
_FORMAT = r".*(\"(\{\d\})+\"\s*-f).*"
_ENV = r".*(\$\{`?e`?n`?v`?:`?p`?a`?t`?h`?\}).*"


@pytest.mark.parametrize(
    ("patterns", "fold", "required"),
    [
        ([_TOKEN], False, ("`",)),
        ([_FORMAT], False, ("-f",)),
        ([_ENV], True, ("${",)),  # under regex~ only characters without case count
        ([r".*(ipconfig\s+/all).*"], True, ("/",)),
        ([r".*(ipconfig\s+/all).*"], False, ("ipconfig",)),
        ([_TOKEN, r"abc.*"], False, ("`", "abc")),
        ([_TOKEN, r".*(a|b).*"], False, None),  # one pattern without a run: no pre-check
        ([r"[a-z]+"], False, None),
    ],
)
def test_regex_matchers_get_one_run_per_pattern(
    patterns: list[str], fold: bool, required: tuple[str, ...] | None
) -> None:
    assert StringMatcher.regexes(patterns, fold).required == required


@pytest.mark.parametrize(
    ("patterns", "fold", "required"),
    [
        (["*\\temp\\*.EXE"], True, ("\\temp\\",)),
        (["C:\\*\\x?.dll", "*.exe"], False, (".dll",)),
        (["a?c*"], False, ("a",)),
        (["*?*"], False, None),
        (["*.exe", "cmd.exe"], False, None),  # no regex at all
    ],
)
def test_wildcard_matchers_get_the_longest_text_between_wildcards(
    patterns: list[str], fold: bool, required: tuple[str, ...] | None
) -> None:
    assert StringMatcher.wildcards(patterns, fold).required == required


def test_the_pre_check_spares_the_regex() -> None:
    matcher = StringMatcher.regexes([_TOKEN], False)
    line = "powershell.exe -NoProfile " + "word " * 200
    matcher.regex = None  # would be compiled by a run of the regex
    assert not matcher.matches(line)
    assert matcher.regex is None
    assert matcher.matches("iex `I`E`X foo")


_PIECES = st.sampled_from(
    ["ab", "cd", "i", "I", "K", "k", "s", "S", "é", "\\.", "\\$", ".", ".*", "\\s+", "\\d", "(",
     ")", "|", "?", "*", "+", "{0,2}", "{1,2}", "[a-c]", "[^x]", "xyz", "-f", "\\[", "\\W", "`",
     "\\{", "\\}", "\\\"", "\\w+", "${"]
)  # fmt: skip
_ODD = ("ı", "İ", "\u212a", "ſ")  # letters Python's ignore-case pairs with ASCII ones


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(pieces=st.lists(_PIECES, min_size=1, max_size=10), fold=st.booleans(), data=st.data())
def test_a_regex_matcher_answers_as_its_regex(
    pieces: list[str], fold: bool, data: st.DataObject
) -> None:
    """Strings the regex fully matches (drawn from it, some with odd case partners swapped
    in) and arbitrary ones: the matcher with its pre-check says what the regex says."""
    pattern = "".join(pieces)
    flags = re.DOTALL | (re.IGNORECASE if fold else 0)
    try:
        compiled = re.compile(lucene_regex(pattern), flags)
    except (re.error, ValueError):
        return
    matcher = StringMatcher.regexes([pattern], fold)
    drawn = data.draw(st.from_regex(compiled, fullmatch=True))
    swapped = [drawn.replace(c, odd) for c in "iIkKsS" for odd in _ODD]
    upper = [drawn.upper(), drawn.lower(), drawn.swapcase()]
    other = data.draw(st.text(alphabet='abcdikIKs`-${}"f .ıſ\u212a', max_size=12))
    for text in [drawn, *swapped, *upper, other]:
        assert matcher.matches(text) == (compiled.fullmatch(text) is not None), (pattern, text)


_WILD = st.lists(st.sampled_from(["a", "B", "*", "?", "\\", "x.e", "K", "ß", "ss"]), max_size=8)


@settings(max_examples=300, deadline=None)
@given(pieces=_WILD, fold=st.booleans(), text=st.text(alphabet="aAbB\\x.eKkßsS\u212a", max_size=10))
def test_a_wildcard_matcher_answers_as_its_regex(pieces: list[str], fold: bool, text: str) -> None:
    pattern = "".join(pieces)
    matcher = StringMatcher.wildcards([pattern], fold)
    folded = (pattern.casefold(), text.casefold()) if fold else (pattern, text)
    expected = re.fullmatch(wildcard_regex(folded[0]), folded[1], re.DOTALL) is not None
    assert matcher.matches(text) == expected, (pattern, text)
