"""Compiled Hyperscan databases kept on disk beside the rule cache.

The block scan (`block_scan.py`) compiles one database of key needles per replay: with the
408 Elastic rules on ECS lines ~4,600 keys, ~0.15–0.3 s of each start; deserializing the
same database takes about a millisecond. A database is a function of its expressions, their
flags, literal or regex mode, and the Hyperscan build and machine: the file is named after a
SHA-256 of all of them, and holds a magic, that key, a SHA-256 of the database's bytes and
the bytes (no pickle: nothing in the file is run).
A file that cannot be read, is cut short, damaged, foreign or refused by Hyperscan (another
CPU, another version) is logged and the database compiled and written anew. The newest
`_KEEP` files are kept; `S1_CONNECTOR_CACHE_DIR=off` turns this off with the rule cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import platform
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from connector.detection.rule_cache import cache_dir, keep_newest

__all__ = ["database", "database_key"]

log = logging.getLogger(__name__)

_VERSION = 1
_KEEP = 16
"""How many databases the folder keeps, newest first (a replay compiles one to three)."""
_PREFIX = "hyperscan-"
_MAGIC = b"s1-connector hyperscan 1\n"


def database_key(expressions: Sequence[bytes], flags: Sequence[int], literal: bool) -> str:
    """The SHA-256 naming a database of these expressions, flags and mode, built by this
    Hyperscan on this kind of machine."""
    import hyperscan  # noqa: PLC0415 - a replay's first pass only

    digest = hashlib.sha256()
    build = (_VERSION, getattr(hyperscan, "__version__", ""), platform.machine(), literal)
    digest.update(repr(build).encode())
    for expression, flag in zip(expressions, flags, strict=True):
        digest.update(b"%d:%d:" % (flag, len(expression)))
        digest.update(expression)
    return digest.hexdigest()


def database(expressions: Sequence[bytes], flags: Sequence[int], *, literal: bool) -> Any:
    """A block-mode Hyperscan database of `expressions` (ids: their positions), from the
    cache when it holds it, else compiled (and kept)."""
    key = database_key(expressions, flags, literal)
    folder = cache_dir()
    path = folder / f"{_PREFIX}{key}.bin" if folder is not None else None
    if path is not None:
        found = _read(path, key)
        if found is not None:
            return found
    compiled = _compile(expressions, flags, literal)
    if path is not None:
        _write(path, key, compiled)
    return compiled


def _compile(expressions: Sequence[bytes], flags: Sequence[int], literal: bool) -> Any:
    import hyperscan  # noqa: PLC0415

    compiled = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    compiled.compile(
        expressions=list(expressions),
        ids=list(range(len(expressions))),
        flags=list(flags),
        literal=literal,
    )
    return compiled


def _read(path: Path, key: str) -> Any:
    import hyperscan  # noqa: PLC0415

    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.info("scan cache %s not read: %s", path, exc)
        return None
    head = len(_MAGIC) + 64 + 32
    stored_key = data[len(_MAGIC) : len(_MAGIC) + 64]
    checksum, payload = data[len(_MAGIC) + 64 : head], data[head:]
    if not data.startswith(_MAGIC) or stored_key != key.encode("ascii"):
        log.warning("scan cache %s ignored and compiled again: not this database", path)
        return None
    if hashlib.sha256(payload).digest() != checksum:
        log.warning("scan cache %s ignored and compiled again: damaged", path)
        return None
    try:
        return hyperscan.loadb(payload, hyperscan.HS_MODE_BLOCK)
    except hyperscan.error as exc:  # another CPU or Hyperscan build
        log.warning("scan cache %s ignored and compiled again: %s", path, exc)
        return None


def _write(path: Path, key: str, compiled: Any) -> None:
    import hyperscan  # noqa: PLC0415

    try:
        payload = hyperscan.dumpb(compiled)
        data = _MAGIC + key.encode("ascii") + hashlib.sha256(payload).digest() + payload
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)
        keep_newest(path.parent, f"{_PREFIX}*.bin", _KEEP)
    except OSError as exc:
        log.info("scan cache %s not written: %s", path, exc)
