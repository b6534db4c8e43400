"""pydantic's plugin scan is skipped only while plugins are disabled (`pydantic_plugins.py`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# Loads the config module (its models), validates a config with an error, and reports what
# stands for pydantic's plugin loader, whether `importlib.metadata` was imported, the
# validation message, and what the loader gives once plugins are enabled in-process.
_PROBE = """
import json, os, sys
from pathlib import Path
from connector.config import parse_config, ConfigError
from connector.pydantic_plugins import LOADER
loader = type(sys.modules[LOADER]).__name__
scanned = "importlib.metadata" in sys.modules
try:
    parse_config({"poll": {"lag": "5 minutes"}, "outputs": [{"type": "file", "path": 3}]},
                 Path("x.toml"))
    message = ""
except ConfigError as exc:
    message = str(exc)
os.environ["PYDANTIC_DISABLE_PLUGINS"] = ""
from pydantic.plugin._loader import get_plugins, PYDANTIC_ENTRY_POINT_GROUP
plugins = list(get_plugins())
print(json.dumps({"loader": loader, "scanned": scanned, "message": message,
                  "group": PYDANTIC_ENTRY_POINT_GROUP, "after": "importlib.metadata" in sys.modules,
                  "plugins": len(plugins)}))
"""


def _probe(setting: str | None) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    if setting is not None:
        env["PYDANTIC_DISABLE_PLUGINS"] = setting
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], check=False, capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("setting", ["__all__", "1", "true"])
def test_disabled_plugins_are_not_looked_for(setting: str) -> None:
    result = _probe(setting)
    assert result["loader"] == "_StandIn"
    assert result["scanned"] is False
    # enabling them later defers to pydantic's own loader (which scans)
    assert result["group"] == "pydantic" and result["after"] is True


@pytest.mark.parametrize("setting", [None, "", "some_plugin"])
def test_enabled_plugins_use_pydantic_s_own_loader(setting: str | None) -> None:
    result = _probe(setting)
    assert result["loader"] == "module"
    assert result["scanned"] is True


def test_validation_errors_are_the_same_either_way() -> None:
    disabled, enabled = _probe("__all__"), _probe(None)
    assert disabled["message"] == enabled["message"]
    assert "poll.lag: not a duration" in str(disabled["message"])
