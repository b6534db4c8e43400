"""Cloud Funnel 2.0: gzip NDJSON objects under `yyyy/mm/dd/account_id=…/`, local or S3.

For `fetch(window)` the source reads the day folders from the window's start date through
the date of `end + slack` (objects land after the events they hold, possibly after
midnight), skips objects last modified before `start - slack` (they were written before
the window began, so they cannot hold its events), and streams each object line by line:

1. a line the `prefilter` rules out (e.g. lacks `cmd.exe` in any case) is skipped before
   JSON parsing (`stats.skipped["prefilter"]`);
2. a line that is not JSON, or not an object, is skipped and counted (`not-json`,
   `not-an-object`), with its object key and line number logged for the first few;
3. a record whose `event.time` is outside `[start, end)` is skipped (`outside-window`).

A corrupt gzip member is skipped and counted (`corrupt-gzip`) and the rest of the object is
still read. Records are yielded as `("cloud-funnel", record)` with their flat dotted keys.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from datetime import date, timedelta
from typing import Any

from connector.config import CloudFunnelConfig
from connector.sources.admit import Admission
from connector.sources.base import RawRecord, SourceStats
from connector.sources.ndjson import decode_stream, iter_lines
from connector.sources.objects import ObjectInfo, ObjectStore, open_store
from connector.sources.query import Prefilter
from connector.timeutil import Window

__all__ = ["CloudFunnelSource", "day_prefixes"]

log = logging.getLogger(__name__)
_LOGGED_PROBLEMS = 5


def day_prefixes(window: Window, slack: timedelta, account_ids: Sequence[str] = ()) -> list[str]:
    """The `yyyy/mm/dd/[account_id=…/]` prefixes that may hold events of `window`."""
    first: date = window.start.date()
    last: date = (window.end + slack).date()
    prefixes: list[str] = []
    day = first
    while day <= last:
        folder = f"{day:%Y/%m/%d}/"
        if account_ids:
            prefixes.extend(f"{folder}account_id={a}/" for a in account_ids)
        else:
            prefixes.append(folder)
        day += timedelta(days=1)
    return prefixes


class CloudFunnelSource:
    """Read Cloud Funnel exports for a time window (see the module docstring)."""

    name = "cloud-funnel"

    def __init__(
        self,
        config: CloudFunnelConfig,
        prefilter: Prefilter | None = None,
        *,
        account_ids: Sequence[str] = (),
        slack: timedelta = timedelta(hours=1),
        s3_client: Any = None,
        store: ObjectStore | None = None,
    ) -> None:
        self.config = config
        self.prefilter = prefilter
        self.account_ids = tuple(account_ids)
        self.slack = slack
        self.stats = SourceStats()
        self._store = store or open_store(config.location, config.prefix, s3_client)
        self._logged = 0

    @property
    def max_window(self) -> timedelta | None:
        return None

    def __enter__(self) -> CloudFunnelSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Nothing stays open between objects."""

    def fetch(self, window: Window) -> Iterator[RawRecord]:
        admission = Admission(self.stats)
        for info in self._objects(window):
            for record in self._records(info.key):
                if admission.admit(window, record.get("event.time")):
                    yield ("cloud-funnel", record)

    def _objects(self, window: Window) -> Iterator[ObjectInfo]:
        oldest = window.start - self.slack
        for prefix in day_prefixes(window, self.slack, self.account_ids):
            self.stats.api_calls["objects:list"] += 1
            for info in self._store.list(prefix):
                if info.modified is not None and info.modified < oldest:
                    self.stats.skipped["object-before-window"] += 1
                    continue
                yield info

    def _records(self, key: str) -> Iterator[dict[str, Any]]:
        self.stats.objects += 1
        self.stats.api_calls["objects:read"] += 1
        chunks = decode_stream(self._counted(self._store.read(key)), self._problem(key))
        for number, line in iter_lines(chunks):
            if not line.strip():
                continue
            if self.prefilter is not None and not self.prefilter(line):
                self.stats.skipped["prefilter"] += 1
                continue
            try:
                record = json.loads(line)
            except ValueError:
                self._skip("not-json", key, number)
                continue
            if not isinstance(record, dict):
                self._skip("not-an-object", key, number)
                continue
            yield record

    def _counted(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for chunk in chunks:
            self.stats.bytes += len(chunk)
            yield chunk

    def _problem(self, key: str) -> Callable[[str], None]:
        def report(reason: str) -> None:
            self._skip(reason, key, None)

        return report

    def _skip(self, reason: str, key: str, line: int | None) -> None:
        self.stats.skipped[reason] += 1
        if self._logged < _LOGGED_PROBLEMS:
            self._logged += 1
            where = f"{self._store.name}/{key}" + (f":{line}" if line is not None else "")
            log.warning("Cloud Funnel: skipped %s (%s)", where, reason)
