"""Loading Sigma rules logs one INFO summary of the skipped ones; each skipped rule is named
at DEBUG only (a cron job's log stays one line long; `rules check --explain` lists them)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from connector.detection.rules import load_rules, sigma_skip_summary
from tests.conftest import FIXTURES

WINDOWS = FIXTURES / "sigmahq-windows" / "rules" / "windows"
SKIPPED = [  # DestinationHostname and CurrentDirectory are not in SentinelOne records
    WINDOWS / "network_connection" / "net_connection_win_domain_azurewebsites.yml",
    WINDOWS / "network_connection" / "net_connection_win_domain_btunnels.yml",
]


def test_one_info_line_sums_up_the_skipped_sigma_rules(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for file in SKIPPED:
        shutil.copy(file, tmp_path / file.name)
    with caplog.at_level(logging.DEBUG, logger="connector.detection.rules"):
        assert load_rules(builtin=False, paths=[tmp_path]) == []
    info = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert info == [
        "2 Sigma rules skipped: can never match SentinelOne data (2); "
        "`rules check --explain` lists them"
    ]
    assert len([m for m in debug if m.startswith("skipping Sigma rule")]) == 2
    assert all(f.name in " ".join(debug) for f in SKIPPED)


def test_the_summary_groups_reasons_by_their_gist() -> None:
    reasons = [
        "can never match SentinelOne data: needs Company (process.pe.company), which ...",
        "regular expression 'https?://(?:x)': word boundaries (\\b) are not Lucene syntax",
        "can never match SentinelOne data: needs Imphash (process.pe.imphash), which ...",
        "a rule with several conditions is not supported",
    ]
    assert sigma_skip_summary(reasons) == (
        "4 Sigma rules skipped: can never match SentinelOne data (2), regular expression (1), "
        "a rule with several conditions is not supported (1); "
        "`rules check --explain` lists them"
    )
    assert sigma_skip_summary(reasons[:1]).startswith("1 Sigma rule skipped: ")


def test_no_summary_without_skipped_rules(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="connector.detection.rules"):
        load_rules(builtin=True, paths=[])
    assert "Sigma" not in caplog.text
