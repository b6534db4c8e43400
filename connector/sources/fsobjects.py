"""The objects of a cluster back-fill: local files or `s3://` objects, listed through fsspec.

`list_objects(locations, window)` expands each location (a file, a folder, or an
`s3://bucket/prefix`) into the data files `replay` would read there, in the order it
would read them: the `FileSource` suffixes (`.json`, `.ndjson`, `.jsonl`, `.log`, `.gz`),
hidden files and folders skipped, sorted by path component (as `sorted(Path)` sorts).

With a `window`, only objects under a Cloud Funnel day folder (`…/yyyy/mm/dd/…`) from the
window's start date through the date of `end + slack` are kept (objects land after the
events they hold, possibly after midnight); objects outside any day folder are left out and
counted in `Listing.outside_days`.

Workers open objects with `open_object(url)`. fsspec (and s3fs for `s3://`) come with the
`cluster` extra and are imported only here, when a back-fill runs; S3 credentials and the
endpoint come from the usual AWS settings (environment, config files, instance role) of the
process that lists or reads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import PurePosixPath
from typing import Any, BinaryIO

from connector.errors import BadInputError, ConfigError, ConnectorError, Unavailable
from connector.sources.files import DATA_SUFFIXES
from connector.timeutil import Window

__all__ = ["Listing", "ObjectRef", "list_objects", "open_object"]

_DAY = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$")


@dataclass(frozen=True)
class ObjectRef:
    """One object of the run: its place in the read order, its fsspec URL and size."""

    index: int
    url: str
    size: int


@dataclass
class Listing:
    """The objects to read, in order; what the day selection left out."""

    objects: list[ObjectRef] = field(default_factory=list)
    outside_days: int = 0

    @property
    def bytes(self) -> int:
        return sum(o.size for o in self.objects)


def list_objects(
    locations: Sequence[str], window: Window | None, slack: timedelta = timedelta(hours=1)
) -> Listing:
    """The objects of every location, in `replay`'s read order (see the module docstring).

    Raises BadInputError for a location that does not exist, ConfigError when fsspec (or
    s3fs for `s3://`) is missing, and AuthError/Unavailable-like ConnectorErrors for S3.
    """
    days = _days(window, slack) if window is not None else None
    listing = Listing()
    for location in locations:
        for url, size, relative in _expand(location):
            if days is not None and _day_of(relative) not in days:
                listing.outside_days += 1
                continue
            listing.objects.append(ObjectRef(len(listing.objects), url, size))
    return listing


def open_object(url: str) -> Any:
    """An fsspec `OpenFile` of `url` for binary reading (a context manager)."""
    fsspec = _fsspec()
    opened: BinaryIO = fsspec.open(url, "rb")
    return opened


def _expand(location: str) -> list[tuple[str, int, str]]:
    """(URL, size, path relative to the location) of each data file, in read order."""
    fsspec = _fsspec()
    try:
        fs, root = fsspec.core.url_to_fs(location)
        if fs.isfile(root):
            info = fs.info(root)
            # A file named on its own: its whole path decides its day folder.
            return [(fs.unstrip_protocol(root), int(info.get("size") or 0), root)]
        if not fs.isdir(root):
            raise BadInputError(f"{location}: no such file, folder or prefix")
        found = fs.find(root, detail=True)
    except ConnectorError:
        raise
    except ImportError as exc:  # s3fs missing for s3://
        raise ConfigError(
            f"reading {location} needs s3fs: pip install 's1-dv-connector[cluster]'"
        ) from exc
    except (OSError, ValueError) as exc:
        raise Unavailable(f"cannot list {location} ({type(exc).__name__}: {exc})") from exc
    root = root.rstrip("/")
    picked: list[tuple[tuple[str, ...], str, int, str]] = []
    for path, info in found.items():
        relative = PurePosixPath(path).relative_to(root)
        if _wanted(relative) and info.get("type", "file") == "file":
            picked.append((relative.parts, fs.unstrip_protocol(path), int(info.get("size") or 0),
                           relative.as_posix()))  # fmt: skip
    picked.sort(key=lambda item: item[0])
    return [(url, size, relative) for _, url, size, relative in picked]


def _wanted(relative: PurePosixPath) -> bool:
    if any(part.startswith(".") for part in relative.parts):
        return False
    return relative.suffix.lower() in DATA_SUFFIXES


def _days(window: Window, slack: timedelta) -> set[date]:
    first, last = window.start.date(), (window.end + slack).date()
    return {first + timedelta(days=n) for n in range((last - first).days + 1)}


def _day_of(relative: str) -> date | None:
    """The date of the first `yyyy/mm/dd` folder triple in `relative`, or None."""
    parts = relative.split("/")[:-1]
    for start in range(len(parts) - 2):
        found = _DAY.match("/".join(parts[start : start + 3]))
        if found:
            try:
                return date(*(int(g) for g in found.groups()))
            except ValueError:
                continue
    return None


def _fsspec() -> Any:
    try:
        import fsspec  # noqa: PLC0415 - the `cluster` extra, needed only for a back-fill
    except ImportError as exc:
        raise ConfigError(
            "--cluster needs the cluster extra: pip install 's1-dv-connector[cluster]'"
        ) from exc
    return fsspec
