"""The three ways the product runs, one module each: `poll` (scheduled), `hunt` (one-shot
range), `replay` (files). `common` holds what they share.

hunt and replay never read or write the poll checkpoint or matcher state.

The names below are imported on first use (PEP 562), so that `replay` does not pay for
importing `hunt` and `poll` (the state store, delivery, outputs) at start-up. As when this
module imported them eagerly, `connector.runner.replay` (and `.hunt`, `.poll`) is the
function, never the submodule of the same name (`importlib.import_module` gives that).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from connector.runner.hunt import HuntRequest, hunt
    from connector.runner.poll import poll
    from connector.runner.replay import replay

__all__ = ["HuntRequest", "hunt", "poll", "replay"]

_HOME = {
    "HuntRequest": "connector.runner.hunt",
    "hunt": "connector.runner.hunt",
    "poll": "connector.runner.poll",
    "replay": "connector.runner.replay",
}


def __getattr__(name: str) -> Any:
    """`connector.runner.NAME` for the names of `__all__`, imported on first use."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


class _Package(types.ModuleType):
    """This package; importing a submodule named like an exported function does not bind
    the submodule over the function's name (the import system sets that attribute)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOME and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
