"""Exit codes: every error class maps to CONTRACT.md's code, and the CLI maps them once."""

from __future__ import annotations

import pytest

from connector import errors as e


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (e.UsageError("x"), 2),
        (e.ConfigError("x"), 78),
        (e.SecretError("x"), 78),
        (e.RuleError("x"), 78),
        (e.StateError("x"), 78),
        (e.AuthError("x"), 77),
        (e.RateLimited("x", 5), 75),
        (e.LockHeld("x"), 75),
        (e.DeadlineReached("x"), 75),
        (e.Unavailable("x"), 69),
        (e.BadInputError("x"), 65),
        (e.OutputFatal("x"), 3),
        (e.OutputRetriable("x"), 3),
        (e.OutputClosed("x"), 141),
    ],
)
def test_exit_codes(error: e.ConnectorError, code: int) -> None:
    assert error.exit_code == code
    assert isinstance(error, e.ConnectorError)


def test_most_actionable_order() -> None:
    assert e.most_actionable([75, 3, 69]) == 69
    assert e.most_actionable([3, 75]) == 3
    assert e.most_actionable([75, 77, 78]) == 78
    assert e.most_actionable([]) == 0


def test_rule_error_draws_a_caret() -> None:
    err = e.RuleError("unexpected 'wher'", source="r.toml", line=3, column=9, text="process wher x")
    lines = str(err).splitlines()
    assert lines[0] == "r.toml:3:9: unexpected 'wher'"
    assert lines[2].index("^") == lines[1].index("wher") + 0


def test_errors_compare_whole() -> None:
    assert e.ConfigError("a") == e.ConfigError("a")
    assert e.ConfigError("a") != e.AuthError("a")


def test_config_error_lists_problems() -> None:
    text = str(e.ConfigError("c.toml: 2 problem(s)", ["a: x", "b: y"]))
    assert text.splitlines() == ["c.toml: 2 problem(s)", "  a: x", "  b: y"]
