"""The pieces every run shares: records → ECS events → matches → alert documents.

`Detector` owns the mapper, the engine and alert building for one run; `AlertWriter` writes
JSON Lines to a stream (stdout or a file) and turns a closed pipe into `OutputClosed`;
`build_source` picks and configures the source for the config; `next_window` computes the
next poll window from the checkpoint (outputs-and-operations.md §5.1).
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TextIO

import orjson

from connector.alerts import build_alert
from connector.config import Config, PollConfig
from connector.detection.engine import Engine
from connector.detection.model import Event, Match, Rule
from connector.detection.suppression import Suppressor
from connector.detection.tuning import Tuning
from connector.errors import OutputClosed, StateError
from connector.mapping import Mapper
from connector.ops import RunSummary
from connector.sources.base import RawRecord, Source
from connector.timeutil import EPOCH, Window, format_utc, to_datetime, to_epoch_ms

__all__ = [
    "AlertWriter",
    "Detector",
    "build_source",
    "dumps",
    "event_ms",
    "in_time_order",
    "next_window",
    "source_key",
]

log = logging.getLogger(__name__)


def dumps(document: Any) -> str:
    """Compact JSON, UTF-8 kept as is (one JSON Lines record): exactly the text of
    `json.dumps(document, separators=(",", ":"), ensure_ascii=False)`, and its errors.

    orjson writes the same text ~8× faster for JSON data (str keys, str, int up to 64 bits,
    float, bool, None, list, tuple, dict) except for floats that `json` writes with an
    exponent (|x| < 1e-4 or ≥ 1e16) or as NaN/Infinity: orjson's text for those always holds
    `e+`/`e-` before a digit, `0.0000` or `null`, so any output holding one of these is made
    again with `json` (so are the rare texts that merely contain one). What orjson refuses
    (other key types, subclasses, big integers, lone surrogates, deep nesting, cycles,
    dates, dataclasses) goes to `json` too. The one difference left: an `Enum` or `UUID`
    value, which `json` refuses (TypeError) and orjson encodes; no alert holds one (alerts
    are built from parsed JSON, TOML and YAML data)."""
    try:
        text = orjson.dumps(document, option=_ORJSON_OPTIONS)
    except orjson.JSONEncodeError:
        return _json_dumps(document)  # json decides: it writes these, or raises its error
    if b"null" in text or b"0.0000" in text or _EXPONENT.search(text):
        return _json_dumps(document)
    return text.decode()


def _json_dumps(document: Any) -> str:
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


_ORJSON_OPTIONS = (
    orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
_EXPONENT = re.compile(rb"e[-+][0-9]")


def event_ms(event: Event) -> int | None:
    """The event's `@timestamp` in epoch ms, or None when it is unusable."""
    moment = to_datetime(event.get("@timestamp"))
    return to_epoch_ms(moment) if moment else None


def in_time_order(events: Iterable[Event]) -> list[Event]:
    """Events sorted by `@timestamp`, ties by `event.id`: the engine then numbers them in an
    order that does not depend on how they arrived. Mapped timestamps all read
    `YYYY-MM-DDTHH:MM:SS.mmmZ`, so text order is time order."""
    return sorted(events, key=_time_and_id)


def _time_and_id(event: Event) -> tuple[str, str]:
    return (str(event.get("@timestamp", "")), str(event.get("event.id", "")))


class Detector:
    """Map raw records, run the rules, build alert documents — for one run."""

    def __init__(
        self,
        rules: Sequence[Rule],
        *,
        allowed_lateness: timedelta,
        console_url: str = "",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        project: bool = False,
        tuning: Tuning | None = None,
        live_suppression: bool = False,
        partition_field: str | None = None,
        idle: timedelta | None = None,
        keep_fields: Iterable[str] = (),
    ) -> None:
        """`project`: map only the fields and event categories the rules read (replay's fast
        path), and `keep_fields` (e.g. the cluster's partition key); alerts are still built
        from the matched events mapped in full. `tuning`: the rules' exception items
        (applied by the engine) and suppression: `live_suppression` (poll) hands out a
        group's first alert at once and its later counts through `suppressor.take_updates()`;
        otherwise (hunt, replay) each group comes out once, final, when its window closes or
        at the flush (`detect(..., None)`). `partition_field`/`idle`:
        keep time per value of that field (poll: per agent), and drop a partition idle that
        long (see `Engine`)."""
        self.rules = list(rules)
        self.tuning = tuning or Tuning()
        self.engine = Engine(
            self.rules,
            allowed_lateness_ms=int(allowed_lateness / timedelta(milliseconds=1)),
            exceptions=self.tuning.exceptions,
            partition_field=partition_field,
            idle_ms=None if idle is None else int(idle / timedelta(milliseconds=1)),
        )
        self.ingest_lags: list[int] = []
        """`event.ingested − @timestamp` (ms) of every mapped event of `map_records`."""
        self.mapper = (
            Mapper(
                fields=_rule_fields(self.engine) | self.tuning.fields() | set(keep_fields),
                categories=_categories(self.engine),
            )
            if project and self.rules
            else Mapper()
        )
        self.lateness_ms = int(allowed_lateness / timedelta(milliseconds=1))
        self.console_url = console_url
        self.now = now
        self.suppressor = Suppressor(self.tuning.suppression, live=live_suppression)
        self.base_totals: dict[str, dict[str, int]] = {}

    def map_records(
        self, records: Iterable[RawRecord], window: Window | None, summary: RunSummary
    ) -> list[Event]:
        """Map every record; keep events inside `window` (half-open) when one is given."""
        low = format_utc(window.start) if window else ""
        high = format_utc(window.end) if window else ""
        events: list[Event] = []
        for shape, record in records:
            summary.records += 1
            event = self.mapper.map(record, shape)
            if event is None:
                continue
            stamp = event.get("@timestamp", "")
            self._ingest_lag(stamp, event.get("event.ingested"))
            if window and not (low <= stamp < high):
                summary.skipped["outside_window"] += 1
                continue
            events.append(event)
        return events

    def _ingest_lag(self, stamp: str, ingested: object) -> None:
        if not isinstance(ingested, str):
            return
        moment, stored = to_datetime(stamp), to_datetime(ingested)
        if moment is not None and stored is not None:
            self.ingest_lags.append(to_epoch_ms(stored) - to_epoch_ms(moment))

    def detect(self, events: Sequence[Event], watermark_ms: int | None) -> list[dict[str, Any]]:
        """Run the engine (None flushes its reorder buffer and, unless live, the open
        suppression groups); one alert per match, suppressed ones folded into their group's."""
        matches = self.engine.process(events, watermark_ms=watermark_ms)
        return self.alerts(matches, final=watermark_ms is None)

    def alerts(self, matches: Iterable[Match], *, final: bool) -> list[dict[str, Any]]:
        """The alert documents of `matches`, through suppression; `final` also flushes the
        open suppression groups (unless live)."""
        alerts = [self.alert(match) for match in matches]
        if not self.suppressor.specs:
            return alerts
        out = [kept for alert in alerts for kept in self.suppressor.offer(alert)]
        if final and not self.suppressor.live:
            out += self.suppressor.flush()
        return out

    def alert(self, match: Match) -> dict[str, Any]:
        """The alert document, from the matched events mapped in full (see `project`)."""
        complete = self.mapper.complete
        full = Match(match.rule, tuple(complete(e) for e in match.events), match.join_key)
        return build_alert(full, created=self.now(), console_url=self.console_url)

    def fold_stats(self, summary: RunSummary) -> None:
        """Copy the mapper's and engine's counters into the run summary."""
        summary.mapped = self.mapper.mapped
        summary.skipped.update(self.mapper.skipped)
        summary.bad_fields.update(self.mapper.bad_fields)
        summary.engine = self.engine.stats.as_dict()
        summary.excepted = Counter(self.engine.stats.excepted)
        summary.suppressed = Counter(self.suppressor.suppressed)
        stats = self.engine.stats
        summary.late_events = stats.late_events
        summary.late_hosts = Counter(stats.late_hosts)
        summary.lanes_evicted = stats.lanes_evicted
        summary.record_ingest_lags(self.ingest_lags)

    def tuning_state(self) -> dict[str, Any]:
        """Open suppression groups and the per-rule totals (earlier runs + this one), for the
        store; `load_tuning_state` restores it."""
        state = self.suppressor.dump()
        totals = {name: dict(counts) for name, counts in self.base_totals.items()}
        runs = {"excepted": self.engine.stats.excepted, "suppressed": self.suppressor.suppressed}
        for name, counts in runs.items():
            merged = totals.setdefault(name, {})
            for rule_id, count in counts.items():
                merged[rule_id] = merged.get(rule_id, 0) + count
        state["totals"] = totals
        return state

    def load_tuning_state(self, state: Mapping[str, Any] | None) -> None:
        """Restore `tuning_state()` output (None: nothing saved yet)."""
        if not state:
            return
        self.suppressor.load(state)
        totals = state.get("totals", {})
        try:
            self.base_totals = {
                str(name): {str(k): int(v) for k, v in counts.items()}
                for name, counts in totals.items()
                if isinstance(counts, dict)
            }
        except (AttributeError, TypeError, ValueError) as exc:
            raise StateError(f"suppression totals are malformed: {exc!r}") from exc


def _rule_fields(engine: Engine) -> set[str]:
    """Every field the engine reads: the rules' fields and join keys, category and time."""
    fields = {engine.category_field, engine.timestamp_field}
    for compiled in engine.compiled:
        fields |= compiled.fields()
    if engine.tiebreaker_field:
        fields.add(engine.tiebreaker_field)
    return fields


def _categories(engine: Engine) -> set[str] | None:
    """The event categories some rule stage can take; None when a stage takes any."""
    categories: set[str] = set()
    for compiled in engine.compiled:
        for stage in [*compiled.stages, *([compiled.until] if compiled.until else [])]:
            if stage.category is None:
                return None
            categories.add(stage.category)
    return categories


class AlertWriter:
    """JSON Lines to a text stream, flushed per line; a closed pipe becomes OutputClosed."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.written = 0

    def write(self, document: Any) -> None:
        try:
            self.stream.write(dumps(document) + "\n")
            self.stream.flush()
        except BrokenPipeError as exc:
            raise OutputClosed("output closed by the reader") from exc
        self.written += 1


def source_key(config: Config) -> str:
    """Checkpoints are per source *and* tenant, so pointing at another console starts afresh."""
    if config.source.kind == "cloud-funnel":
        return f"cloud-funnel|{config.cloud_funnel.location}"
    return f"{config.source.kind}|{config.console.url}"


def next_window(checkpoint_ms: int | None, now: datetime, poll: PollConfig) -> Window | None:
    """The next poll window, or None when there is nothing new yet.

    `start = checkpoint − overlap`, `end = min(now − lag, checkpoint + max_window)`; the first
    run's checkpoint is `now − initial_lookback`.
    """
    checkpoint = (
        EPOCH + timedelta(milliseconds=checkpoint_ms)
        if checkpoint_ms is not None
        else now - poll.initial_lookback
    )
    end = min(now - poll.lag, checkpoint + poll.max_window)
    # Checkpoints are stored in whole milliseconds; an end with microseconds would leave a
    # sub-millisecond sliver after every window and the run would chase it forever.
    end = end.replace(microsecond=end.microsecond // 1000 * 1000)
    if end <= checkpoint:
        return None
    return Window(checkpoint - poll.effective_overlap, end)


def build_source(config: Config, rules: Sequence[Rule], deadline: float | None) -> Source:
    """The configured source, with the rules' pushdown query and the resolved token."""
    from connector.sources import pushdown as translate  # noqa: PLC0415 - parser is heavy

    kind = config.source.kind
    if kind == "cloud-funnel":
        from connector.sources.cloud_funnel import CloudFunnelSource  # noqa: PLC0415

        # Cloud Funnel is read, not queried: only the prefilter, no S1QL / SDL to build.
        return CloudFunnelSource(config.cloud_funnel, translate.build_prefilter(rules))
    pushdown = translate.build_pushdown(
        rules,
        max_s1ql=config.console.max_s1ql_length,
        max_sdl=config.console.max_sdl_filter_length,
    )
    for note in pushdown.widened:
        log.warning("pushdown: %s", note)
    from connector.secrets import resolve_token  # noqa: PLC0415 - replay never needs it

    token = resolve_token(config.console.url, config.console.token_file).value
    if kind == "sdl":
        from connector.sources.sdl import SdlSource  # noqa: PLC0415

        return SdlSource(config.console, token, pushdown, deadline=deadline)
    from connector.sources.deep_visibility import DeepVisibilitySource  # noqa: PLC0415

    return DeepVisibilitySource(config.console, token, pushdown, deadline=deadline)
