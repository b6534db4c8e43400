"""Shared fixtures: where `../shared` is, and a clean logging/secret state per test."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures"

# Tests parse their rules afresh and never write to the developer's rule cache folder
# (`tests/detection/test_rule_cache.py` turns it on in a temporary folder). Set when this
# file is imported, before any test module loads rules at import time.
os.environ["S1_CONNECTOR_CACHE_DIR"] = "off"


def pytest_configure(config: pytest.Config) -> None:
    """Sigma conversions are cached in a folder of this test session, never the user's cache
    (set before any test, so CLI subprocesses inherit it too)."""
    os.environ["S1_CONNECTOR_SIGMA_CACHE"] = tempfile.mkdtemp(prefix="s1-sigma-cache-")


@pytest.fixture
def shared() -> Path:
    """The `../shared` folder beside the clone (CI puts it there); skip loudly if absent."""
    if not SHARED.is_dir():
        pytest.fail(f"../shared not found at {SHARED}: tests read fixtures from it")
    return SHARED


@pytest.fixture(autouse=True)
def _no_real_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch a developer's real keyring from a test."""
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyring.backends.null.Keyring")
    monkeypatch.delenv("S1_API_TOKEN", raising=False)
    monkeypatch.delenv("S1_CONNECTOR_CONFIG", raising=False)


@pytest.fixture(autouse=True)
def _fresh_root_logger():
    """`setup_logging` (run by CLI tests) binds a handler to that test's captured stderr;
    drop it afterwards so later tests never write to a closed stream."""
    yield
    root = logging.getLogger()
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler:
            root.removeHandler(handler)
