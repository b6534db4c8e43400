"""`requires_beyond_ascii`: a Lucene regex every match of which holds a character beyond
ASCII (a class of such characters, needed at least once, outside any group), so a plain
ASCII line can never hold a value it matches (`needles.BEYOND_ASCII`)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from connector.detection.eql.patterns import lucene_regex
from connector.detection.eql.regex_runs import requires_beyond_ascii
from connector.sources.literal_prefilter import field_filter, stage_alternative
from connector.sources.query import Prefilter
from tests.detection.conditions import condition


@pytest.mark.parametrize(
    ("pattern", "claim"),
    [
        (".*[ʰ-˿ᴬ-ᶻ]+.*", True),  # Command Obfuscation via Unicode Modifier Letters
        ("[ʰ-˿]{1,2}", True),
        (".*[ʰ-˿ᴬ-ᶻ]*.*", False),  # may be absent
        ("[ʰ-˿]{0,2}", False),
        ("[ʰ-˿]??x", False),
        (".*[ʰ-˿a]+.*", False),  # `a` is ASCII
        (".*[^ʰ-˿].*", False),  # a negated class
        ("(.*[ʰ-˿])?x", False),  # inside a group
        ("a|.*[ʰ-˿].*", False),  # an alternation
        ("x[-ʰ]", False),  # `-` is a member
        ("[ʰ\\-˿]", False),  # an escape in the class
        ("abc", False),
    ],
)
def test_the_claim(pattern: str, claim: bool) -> None:
    assert requires_beyond_ascii(pattern) is claim


_PIECES = st.sampled_from(
    [
        ".*",
        "a",
        "[ʰ-˿]",
        "[ʰ-˿]+",
        "[ʰ-˿]*",
        "[ʰ-˿]?",
        "[ʰ-˿a]",
        "[^ʰ]",
        "(",
        ")",
        "|",
        "x?",
        "[é]{1,2}",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_PIECES, min_size=1, max_size=6).map("".join), st.data())
def test_every_match_of_a_claimed_pattern_holds_a_character_beyond_ascii(
    pattern: str, data: st.DataObject
) -> None:
    try:
        python = re.compile(lucene_regex(pattern), re.DOTALL)
    except (re.error, ValueError):
        assume(False)
        return
    if not requires_beyond_ascii(pattern):
        return
    text = data.draw(st.from_regex(python, fullmatch=True))
    assert not text.isascii(), (pattern, text)


def test_a_plain_line_cannot_hold_such_a_value() -> None:
    """The stage's test then has an empty group: only lines that always pass (raw UTF-8, or
    a `\\u` escape) can hold such a command line."""
    query = 'process.name : "cmd.exe" and process.command_line regex """.*[ʰ-˿ᴬ-ᶻ]+.*"""'
    alternative = stage_alternative(condition(query), field_filter("ecs"), keys=True)
    assert alternative is not None and () in alternative
    test = Prefilter((alternative,))
    assert not test(b'{"process.name":"cmd.exe","process.command_line":"cmd /c whoami"}')
    assert test('{"process.name":"cmd.exe","process.command_line":"cmd /c whoᵃmi"}'.encode())
    assert test(b'{"process.name":"cmd.exe","process.command_line":"cmd /c who\\u1d43mi"}')
    # case-insensitive (`regex~`): no claim, the ASCII needles only
    folded = query.replace("regex", "regex~")
    alternative = stage_alternative(condition(folded), field_filter("ecs"), keys=True)
    assert alternative is not None and () not in alternative
