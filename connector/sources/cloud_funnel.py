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

**With a ledger** (`poll`), the source reads each object once instead, whatever its events'
times: it lists the day folders from `window.start − rescan` through `end + slack`, skips
the objects the ledger holds with the same size and etag, and yields *every* record of every
other object (an agent that uploads hours late lands in today's folder with old events), then
tells the ledger it read it (`ledger.read`, committed by the caller with the window). An
object whose size or etag changed since it was read is reported and read again; a recorded
object gone from a folder that is still listed is reported (`ledger.gone`). With
`keys_sort_by_time`, a folder is listed with `StartAfter` = the newest key read in it, so
listing costs only the new objects (changes and removals of older keys are then not seen).
Counts are in `object_counts` (`read`, `known`, `changed`, `gone`, `before_start`).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Protocol

from connector.config import CloudFunnelConfig
from connector.sources.admit import Admission
from connector.sources.base import RawRecord, SourceStats
from connector.sources.ndjson import decode_stream, iter_lines
from connector.sources.objects import ObjectInfo, ObjectStore, open_store
from connector.sources.query import Prefilter
from connector.timeutil import Window

__all__ = ["CloudFunnelSource", "ObjectLedger", "day_prefixes"]

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


class ObjectLedger(Protocol):
    """Which objects poll has processed (kept in the state store by the caller)."""

    def known(self, prefix: str) -> dict[str, tuple[int, str]]:
        """Processed objects under `prefix`: key → (size, etag)."""
        ...

    def read(self, info: ObjectInfo) -> None:
        """`info` was read to its end (or is deliberately never to be read)."""
        ...

    def gone(self, key: str) -> None:
        """A processed object is no longer in the export."""
        ...


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
        self.ledger: ObjectLedger | None = None
        """Set by poll: read each object once (see the module docstring)."""
        self.object_counts: Counter[str] = Counter()
        self.oldest_prefix = ""
        """The first day folder the last ledger fetch listed (older ledger rows can go)."""

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
        if self.ledger is not None:
            yield from self._fetch_new(window, self.ledger)
            return
        admission = Admission(self.stats)
        for info in self._objects(window):
            for record in self._records(info.key):
                if admission.admit(window, record.get("event.time")):
                    yield ("cloud-funnel", record)

    def _fetch_new(self, window: Window, ledger: ObjectLedger) -> Iterator[RawRecord]:
        oldest = window.start - self.slack
        span = Window(window.start - self.config.rescan, window.end)
        prefixes = day_prefixes(span, self.slack, self.account_ids)
        self.oldest_prefix = prefixes[0][:11] if prefixes else ""  # "yyyy/mm/dd/"
        for prefix in prefixes:
            self.stats.api_calls["objects:list"] += 1
            known = ledger.known(prefix)
            after = max(known) if known and self.config.keys_sort_by_time else None
            listed: set[str] = set()
            for info in self._store.list(prefix, after):
                listed.add(info.key)
                if self._unread(info, known.get(info.key), oldest, ledger):
                    for record in self._records(info.key):
                        yield ("cloud-funnel", record)
                    self.object_counts["read"] += 1
                    ledger.read(info)
            if after is None:
                self._report_gone(sorted(set(known) - listed), ledger)

    def _unread(
        self,
        info: ObjectInfo,
        seen: tuple[int, str] | None,
        oldest: datetime,
        ledger: ObjectLedger,
    ) -> bool:
        """Whether `info` must be read now; counts and reports the other cases."""
        if seen == (info.size, info.etag):
            self.object_counts["known"] += 1
            return False
        if seen is not None:
            self.object_counts["changed"] += 1
            log.warning(
                "Cloud Funnel: %s/%s changed since it was read (size %d → %d); reading it "
                "again (events already seen are dropped as duplicates)",
                self._store.name, info.key, seen[0], info.size,
            )  # fmt: skip
            return True
        if info.modified is not None and info.modified < oldest:
            # Written before the poll's first window: history, not a late upload. Recorded
            # so that it is neither read nor counted again (hunt or replay covers history).
            self.object_counts["before_start"] += 1
            ledger.read(info)
            return False
        return True

    def _report_gone(self, keys: list[str], ledger: ObjectLedger) -> None:
        for key in keys:
            self.object_counts["gone"] += 1
            log.warning(
                "Cloud Funnel: %s/%s was read before and is no longer in the export",
                self._store.name, key,
            )  # fmt: skip
            ledger.gone(key)

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
