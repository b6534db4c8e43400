"""pydantic's plugin discovery, skipped when plugins are disabled (start-up time).

pydantic looks for plugins when it builds the first model's validator: its
`pydantic.plugin._loader` imports `importlib.metadata` (with `email`, `zipfile`, `csv`, …:
~20 ms of every start, up to 50 ms on a busy machine) even when `PYDANTIC_DISABLE_PLUGINS`
says not to look, and then returns no plugins. `skip_plugin_scan()` puts a stand-in for that
module in place when plugins are disabled the way pydantic reads it (`__all__`, `1`, `true`;
the console script sets `__all__` unless the variable is set): its `get_plugins()` gives no
plugins while they are disabled and defers to pydantic's own otherwise, and any other name
loads pydantic's module. Nothing changes when plugins are enabled.
"""

from __future__ import annotations

import importlib
import os
import sys
import types
from collections.abc import Iterable

__all__ = ["LOADER", "skip_plugin_scan"]

LOADER = "pydantic.plugin._loader"
_DISABLED = ("__all__", "1", "true")  # pydantic's own test (pydantic/plugin/_loader.py)


def _disabled() -> bool:
    return os.environ.get("PYDANTIC_DISABLE_PLUGINS") in _DISABLED


def _real() -> types.ModuleType:
    """pydantic's own loader module, imported now (it replaces the stand-in)."""
    if isinstance(sys.modules.get(LOADER), _StandIn):
        del sys.modules[LOADER]
    return importlib.import_module(LOADER)


def _get_plugins() -> Iterable[object]:
    if _disabled():
        return ()
    plugins: Iterable[object] = _real().get_plugins()
    return plugins


class _StandIn(types.ModuleType):
    """`pydantic.plugin._loader` while plugins are disabled."""

    def __getattr__(self, name: str) -> object:
        if name.startswith("__"):  # the import system asks for `__path__` and the like
            raise AttributeError(name)
        return getattr(_real(), name)


def skip_plugin_scan() -> None:
    """Stand in for pydantic's plugin loader when plugins are disabled and it is not loaded
    yet; call before the first model is built. Idempotent."""
    if not _disabled() or LOADER in sys.modules:
        return
    stand_in = _StandIn(LOADER, __doc__)
    stand_in.get_plugins = _get_plugins  # type: ignore[attr-defined]
    sys.modules[LOADER] = stand_in
