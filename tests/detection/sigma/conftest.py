"""SigmaHQ's Windows rules, converted once per test session (the conversion cache is a folder
of this session, see tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.detection.check import RuleCheck, check_path
from connector.detection.rules import rule_files
from tests.conftest import FIXTURES

SIGMAHQ = FIXTURES / "sigmahq-windows" / "rules"


@pytest.fixture(scope="session")
def sigmahq_checks() -> list[RuleCheck]:
    files: list[Path] = rule_files(False, [SIGMAHQ])
    return [check for file in files for check in check_path(file)]
