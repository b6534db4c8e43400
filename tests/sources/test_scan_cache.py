"""Hyperscan databases kept on disk (`scan_cache.py`): a second replay reads the database
instead of compiling it; a damaged, foreign or refused file is logged and compiled anew."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

import hyperscan
import pytest

from connector.sources import scan_cache

KEYS = [b"cmd.exe", b'"process.name":"explorer.exe"', b"\\\\temp\\\\"]
FLAGS = [hyperscan.HS_FLAG_CASELESS] * len(KEYS)
BLOCK = b'{"a":"CMD.EXE"}\n{"process.name":"explorer.exe","p":"c:\\\\temp\\\\x"}\n'


def _hits(database: Any) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []

    def on_match(number: int, start: int, end: int, flags: int, context: object) -> None:
        found.append((end, number))

    scratch = hyperscan.Scratch(database)
    database.scan(BLOCK, match_event_handler=on_match, scratch=scratch)
    return sorted(found)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("S1_CONNECTOR_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_a_second_run_reads_the_database_it_compiled(cache: Path) -> None:
    first = scan_cache.database(KEYS, FLAGS, literal=True)
    assert len(list(cache.glob("hyperscan-*.bin"))) == 1
    with patch.object(scan_cache, "_compile", side_effect=AssertionError("compiled again")):
        again = scan_cache.database(KEYS, FLAGS, literal=True)
    assert _hits(again) == _hits(first) == [(13, 0), (46, 1), (62, 2)]


def test_other_expressions_flags_or_mode_are_another_database(cache: Path) -> None:
    keys = {
        scan_cache.database_key(KEYS, FLAGS, True),
        scan_cache.database_key(KEYS[:2], FLAGS[:2], True),
        scan_cache.database_key(KEYS, [0] * len(KEYS), True),
        scan_cache.database_key(KEYS, FLAGS, False),
        scan_cache.database_key([b"ab", b"c"], [0, 0], True),
        scan_cache.database_key([b"a", b"bc"], [0, 0], True),
    }
    assert len(keys) == 6


@pytest.mark.parametrize(
    "damage",
    [
        lambda data: data[:-10],  # cut short
        lambda data: data[:-1] + bytes([data[-1] ^ 1]),  # a bit flipped
        lambda data: b"junk",
        lambda data: data.replace(b"s1-connector", b"s2-connector", 1),
    ],
)
def test_a_damaged_file_is_logged_and_compiled_anew(
    cache: Path, damage: object, caplog: pytest.LogCaptureFixture
) -> None:
    scan_cache.database(KEYS, FLAGS, literal=True)
    (path,) = cache.glob("hyperscan-*.bin")
    path.write_bytes(damage(path.read_bytes()))  # type: ignore[operator]
    with caplog.at_level(logging.WARNING, logger="connector.sources.scan_cache"):
        again = scan_cache.database(KEYS, FLAGS, literal=True)
    assert "ignored and compiled again" in caplog.text
    assert _hits(again) == [(13, 0), (46, 1), (62, 2)]
    with patch.object(scan_cache, "_compile", side_effect=AssertionError("compiled again")):
        scan_cache.database(KEYS, FLAGS, literal=True)  # written anew, whole


def test_a_database_hyperscan_refuses_is_compiled_anew(
    cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    scan_cache.database(KEYS, FLAGS, literal=True)
    with (
        patch.object(hyperscan, "loadb", side_effect=hyperscan.error("wrong platform")),
        caplog.at_level(logging.WARNING, logger="connector.sources.scan_cache"),
    ):
        again = scan_cache.database(KEYS, FLAGS, literal=True)
    assert "wrong platform" in caplog.text
    assert _hits(again) == [(13, 0), (46, 1), (62, 2)]


def test_off_compiles_and_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S1_CONNECTOR_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _hits(scan_cache.database(KEYS, FLAGS, literal=True)) == [(13, 0), (46, 1), (62, 2)]
    assert not list(tmp_path.rglob("hyperscan-*"))


def test_the_newest_databases_are_kept(cache: Path) -> None:
    for number in range(scan_cache._KEEP + 3):
        scan_cache.database([b"key%d" % number], [0], literal=True)
    assert len(list(cache.glob("hyperscan-*.bin"))) == scan_cache._KEEP
