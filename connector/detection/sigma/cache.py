"""Conversion cache: a Sigma file is converted once per content and library versions.

Converting SigmaHQ's 1,234 Windows rules costs about 25 s; a cron `poll` must not pay that
every run. Each file's outcome is stored as JSON under the cache folder, keyed by the SHA-256
of the file's bytes, its path, the installed pySigma and backend versions, this converter's
version and the code of the mapping (`conversion_key`). The mapped-field catalog that folding
depends on (`mapping.catalog.mapped_fields`) is a function of that code alone, so the key
needs the code's bytes, not the catalog: building the catalog costs ~0.2 s, and a hit needs
neither it nor pySigma. The rule cache (`rule_cache.py`) keeps the outcomes under the same key.

Folder: `$S1_CONNECTOR_SIGMA_CACHE`, else `$XDG_CACHE_HOME/s1-connector/sigma`, else
`~/.cache/s1-connector/sigma`. An unreadable or stale entry is converted again (and logged);
a folder that cannot be written only costs the conversion next time (logged once).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Collection
from dataclasses import asdict, fields
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from connector.detection.model import Rule
from connector.detection.sigma.convert import Converted, convert_text

__all__ = ["CONVERTER_VERSION", "cache_dir", "conversion_key", "load_sigma_file"]

log = logging.getLogger(__name__)

CONVERTER_VERSION = "s1-sigma-7"
"""Bump whenever the pipeline, backend or metadata mapping changes what a rule converts to."""

_TUPLE_FIELDS = {f.name for f in fields(Rule) if str(f.type).startswith("tuple")}


def cache_dir() -> Path:
    """The cache folder (see the module docstring); not created here."""
    override = os.environ.get("S1_CONNECTOR_SIGMA_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "s1-connector" / "sigma"


@cache
def _versions() -> str:
    found = []
    for package in ("pysigma", "pysigma-backend-elasticsearch"):
        try:
            found.append(f"{package}={version(package)}")
        except PackageNotFoundError:
            found.append(f"{package}=absent")
    return ";".join(found)


_CONNECTOR = Path(__file__).resolve().parent.parent.parent


@cache
def _mapping_digest() -> str:
    """SHA-256 of the code `mapped_fields` is a function of: every module of
    `connector/mapping` and `connector/ecsutil.py` (the one module outside it that the
    mapping calls), by name and bytes."""
    digest = hashlib.sha256()
    for path in [*sorted((_CONNECTOR / "mapping").glob("*.py")), _CONNECTOR / "ecsutil.py"]:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def conversion_key(path: Path, data: bytes) -> str:
    """What the conversion of the Sigma file `path` with bytes `data` depends on, hashed:
    those bytes, the path (rules name it), the converter and library versions and the
    mapping's code (see the module docstring)."""
    digest = hashlib.sha256()
    for part in (CONVERTER_VERSION, _versions(), str(path), _mapping_digest()):
        digest.update(part.encode("utf-8") + b"\0")
    digest.update(data)
    return digest.hexdigest()


def load_sigma_file(
    path: Path,
    produced: Callable[[], Collection[str]],
    *,
    data: bytes | None = None,
    key: str | None = None,
) -> list[Converted]:
    """Every document of one Sigma file, converted (from the cache when it is current).

    `produced()` gives the fields the mapping writes; it is called only to convert. `data`
    (the file's bytes) and `key` (their `conversion_key`) are read and computed here unless
    the caller has them."""
    if data is None:
        data = path.read_bytes()
    if key is None:
        key = conversion_key(path, data)
    entry = cache_dir() / f"{key}.json"
    cached = _read(entry)
    if cached is not None:
        return cached
    converted = convert_text(data.decode("utf-8"), str(path), produced())
    _write(entry, converted)
    return converted


def _read(entry: Path) -> list[Converted] | None:
    if not entry.is_file():
        return None
    try:
        items = json.loads(entry.read_text(encoding="utf-8"))
        return [_from_json(item) for item in items]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("ignoring the unreadable Sigma cache entry %s: %s", entry, exc)
        return None


def _from_json(item: dict[str, Any]) -> Converted:
    values: dict[str, Any] = {
        k: tuple(v) if k in _TUPLE_FIELDS else v for k, v in item["rule"].items()
    }
    return Converted(Rule(**values), skipped=item["skipped"], error=item["error"])


def _write(entry: Path, converted: list[Converted]) -> None:
    payload = [{"rule": asdict(c.rule), "skipped": c.skipped, "error": c.error} for c in converted]
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        temporary = entry.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(payload), encoding="utf-8")
        os.replace(temporary, entry)
    except OSError as exc:
        if not _WARNED:
            _WARNED.append(True)
            log.warning("cannot write the Sigma conversion cache in %s: %s", entry.parent, exc)


_WARNED: list[bool] = []
