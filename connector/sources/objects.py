"""Where Cloud Funnel objects live: a local folder or an S3 bucket, behind one small API.

`open_store(location)` returns a store with `list(prefix, start_after)` (object infos,
sorted by key, only keys after `start_after` when given) and `read(key)` (byte chunks).
boto3 is an optional extra, imported only for `s3://`;
botocore errors become connector errors here: credentials/permission → `AuthError`,
missing bucket → `ConfigError`, anything else → `Unavailable`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from connector.errors import AuthError, ConfigError, ConnectorError, Unavailable

__all__ = ["LocalStore", "ObjectInfo", "ObjectStore", "S3Store", "open_store"]

log = logging.getLogger(__name__)
CHUNK = 1 << 16
_AUTH_CODES = frozenset(
    {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "403"}
)
_MISSING_CODES = frozenset({"NoSuchBucket", "PermanentRedirect"})


@dataclass(frozen=True)
class ObjectInfo:
    """One object: key relative to the store root, size, last modification (aware UTC), and
    an etag that changes when the content does (S3's ETag; a file's mtime in ns)."""

    key: str
    size: int
    modified: datetime | None
    etag: str = ""


class ObjectStore(Protocol):
    name: str

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        """Objects whose key starts with `prefix` (and sorts after `start_after`), by key."""
        ...

    def read(self, key: str) -> Iterator[bytes]:
        """The object's bytes in chunks."""
        ...


class LocalStore:
    """Objects are files under `root`; keys use `/`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.name = str(root)

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        folder = self.root / prefix.rstrip("/")
        if not folder.is_dir():
            return
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            key = path.relative_to(self.root).as_posix()
            if any(part.startswith(".") for part in path.relative_to(self.root).parts):
                continue
            if start_after is not None and key <= start_after:
                continue
            stat = path.stat()
            modified = datetime.fromtimestamp(stat.st_mtime, UTC)
            yield ObjectInfo(key, stat.st_size, modified, str(stat.st_mtime_ns))

    def read(self, key: str) -> Iterator[bytes]:
        try:
            with (self.root / key).open("rb") as handle:
                while chunk := handle.read(CHUNK):
                    yield chunk
        except OSError as exc:
            raise Unavailable(f"cannot read {self.root / key}: {exc.strerror}") from exc


class S3Store:
    """Objects under `s3://bucket/<root>`; keys are relative to `root`."""

    def __init__(self, bucket: str, root: str, client: Any) -> None:
        self.bucket = bucket
        self.root = root.strip("/")
        self.client = client
        self.name = f"s3://{bucket}/{self.root}"

    def _full(self, key: str) -> str:
        return f"{self.root}/{key}" if self.root else key

    def list(self, prefix: str, start_after: str | None = None) -> Iterator[ObjectInfo]:
        strip = len(self.root) + 1 if self.root else 0
        extra = {"StartAfter": self._full(start_after)} if start_after else {}
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._full(prefix), **extra
            )
            items = [item for page in pages for item in page.get("Contents", [])]
        except Exception as exc:  # botocore raises many types; mapped in one place
            raise _s3_error(exc, f"listing {self.name}/{prefix}") from exc
        for item in sorted(items, key=lambda i: str(i["Key"])):
            yield ObjectInfo(str(item["Key"])[strip:], int(item.get("Size", 0)),
                             item.get("LastModified"), str(item.get("ETag", "")))  # fmt: skip

    def read(self, key: str) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._full(key))["Body"]
            yield from body.iter_chunks(CHUNK)
        except Exception as exc:  # botocore/urllib3 stream errors; mapped in one place
            raise _s3_error(exc, f"reading {self.name}/{key}") from exc


def _s3_error(exc: Exception, doing: str) -> ConnectorError:
    if isinstance(exc, ConnectorError):
        return exc
    name = type(exc).__name__
    code = ""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
    if name in ("NoCredentialsError", "PartialCredentialsError") or code in _AUTH_CODES:
        return AuthError(f"S3 refused access while {doing} ({code or name})")
    if code in _MISSING_CODES:
        return ConfigError(f"S3 bucket problem while {doing} ({code}); check [cloud_funnel]")
    return Unavailable(f"S3 failed while {doing} ({code or name})")


def open_store(location: str, prefix: str, client: Any = None) -> ObjectStore:
    """The store for `location` (folder or `s3://bucket/path`), rooted at the export prefix.

    The root is `location/prefix`, unless `location` already ends with `prefix`
    (`s3://bucket/s1/cloud_funnel` with the default prefix `s1/cloud_funnel`).
    """
    prefix = prefix.strip("/")
    if not location:
        raise ConfigError("[cloud_funnel] location is not set")
    if location.startswith("s3://"):
        bucket, _, path = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"[cloud_funnel] location {location!r} names no bucket")
        return S3Store(bucket, _join(path.strip("/"), prefix), client or _s3_client())
    return LocalStore(Path(_join(location.rstrip("/"), prefix)))


def _join(base: str, prefix: str) -> str:
    if not prefix or base == prefix or base.endswith("/" + prefix):
        return base
    return f"{base}/{prefix}" if base else prefix


def _s3_client() -> Any:
    try:
        import boto3  # noqa: PLC0415 - optional extra, needed only for s3:// locations
        from botocore.config import Config  # noqa: PLC0415
    except ImportError as exc:
        raise ConfigError(
            "an s3:// location needs boto3: pip install 's1-dv-connector[s3]'"
        ) from exc
    return boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 5}))
