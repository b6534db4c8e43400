"""`poll` run after run against each source: sequences across runs, late events, overlap.

Every test drives `connector.runner.poll(config, now=...)` with a controlled clock against a
fake console (`responses`) or a Cloud Funnel folder, with a real SQLite store and a real
`file` output, and reads what was delivered from the output file.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.config import Config
from connector.state import StateStore
from connector.timeutil import format_utc
from tests.e2e.conftest import ConfigFactory
from tests.e2e.support import (
    TOKEN,
    FakeDV,
    FakeSDL,
    Record,
    alert_ids,
    chain,
    first_output_alerts,
    matched_ids,
    noise,
    poll_at,
    write_cloud_funnel,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
Serve = Callable[[list[Record]], None]


run = poll_at
delivered = first_output_alerts


def last_summary(config: Config) -> dict[str, Any]:
    with StateStore.open(config.state.path, create=False) as store:
        last = store.last_run()
    assert last is not None
    summary: dict[str, Any] = last["summary"]
    return summary


@pytest.fixture(params=["deep-visibility", "sdl", "cloud-funnel"])
def source(
    request: pytest.FixtureRequest,
    rsps: responses.RequestsMock,
    tmp_path: Path,
    token: str,
) -> tuple[str, Serve, Any]:
    """(kind, serve(records), fake): `serve` adds records to what the console holds (for
    Cloud Funnel: writes them as a new export object)."""
    kind: str = request.param
    if kind == "deep-visibility":
        dv = FakeDV(rsps, [])

        def serve_dv(records: list[Record]) -> None:
            dv.records.extend(records)

        return kind, serve_dv, dv
    if kind == "sdl":
        sdl = FakeSDL(rsps, [])

        def serve_sdl(records: list[Record]) -> None:
            sdl.records.extend(records)

        return kind, serve_sdl, sdl
    parts = iter(range(1, 1000))

    def serve_cf(records: list[Record]) -> None:
        # A new export object per run: what was written stays, like a real bucket.
        write_cloud_funnel(tmp_path / "cf", records, f"part-{next(parts):04d}")

    return kind, serve_cf, None


def test_sequence_split_across_two_runs_alerts_exactly_once(
    source: tuple[str, Serve, Any], make_config: ConfigFactory
) -> None:
    kind, serve, fake = source
    # Overlap 2 s: the second run does not re-read the first event, so only the matcher
    # state saved by the first run can complete the sequence.
    _, config = make_config(kind, poll={"overlap": "2s"})
    edge = NOW - MINUTE  # end of the first run's window (now - lag)
    split = chain("split", edge - timedelta(seconds=5), gap_s=9)
    before = noise("n1", NOW - 8 * MINUTE, 6, 30 * timedelta(seconds=1))
    serve([*before, split.start])
    assert run(config, NOW) == 0
    assert delivered(config) == []
    with StateStore.open(config.state.path) as store:
        saved = store.engine_state()
    assert saved is not None

    serve([split.connect, *noise("n2", edge + timedelta(seconds=20), 4, MINUTE)])
    assert run(config, NOW + 5 * MINUTE) == 0
    alerts = delivered(config)
    assert [matched_ids(a) for a in alerts] == [split.ids]
    assert alerts[0]["event"]["kind"] == "alert"
    assert alerts[0]["@timestamp"] == format_utc(edge + timedelta(seconds=4))

    assert run(config, NOW + 10 * MINUTE) == 0  # nothing new: no repeat either
    assert len(delivered(config)) == 1
    if isinstance(fake, FakeDV):
        assert set(fake.auth_headers) == {f"ApiToken {TOKEN}"}
    if isinstance(fake, FakeSDL):
        assert fake.untagged == []
        assert sorted(fake.deleted) == sorted(f"lrq{n}" for n in range(1, len(fake.launched) + 1))


def test_late_event_within_allowed_lateness_completes_its_sequence(
    source: tuple[str, Serve, Any], make_config: ConfigFactory
) -> None:
    kind, serve, _ = source
    _, config = make_config(kind)  # allowed_lateness 2m, overlap = allowed_lateness
    edge = NOW - MINUTE
    late = chain("late", edge - timedelta(seconds=40), gap_s=5)
    # Run 1: the console has indexed the connection but not yet the process start.
    serve([late.connect, *noise("n1", NOW - 9 * MINUTE, 6, MINUTE)])
    assert run(config, NOW) == 0
    assert delivered(config) == []
    # Run 2: the start turns up, stamped 40 s before the last checkpoint (< 2m lateness);
    # the connection waited in the reorder buffer saved by run 1. (The run ends past the
    # chain by more than allowed_lateness, so the buffer releases both events.)
    serve([late.start])
    assert run(config, NOW + 3 * MINUTE) == 0
    assert [matched_ids(a) for a in delivered(config)] == [late.ids]
    assert last_summary(config)["alerts_new"] == 1
    assert run(config, NOW + 6 * MINUTE) == 0
    assert len(delivered(config)) == 1


def test_overlapping_windows_produce_no_duplicate_alerts(
    source: tuple[str, Serve, Any], make_config: ConfigFactory
) -> None:
    kind, serve, fake = source
    # Windows of 3m re-read the last 2m of the previous one (overlap = allowed_lateness).
    _, config = make_config(kind, poll={"max_window": "3m"})
    chains = [
        chain("a", NOW - timedelta(minutes=8, seconds=30)),  # in windows 1 and 2
        chain("b", NOW - 5 * MINUTE),  # in windows 2 and 3
        chain("c", NOW - timedelta(minutes=1, seconds=50)),  # window 3, and run 2's window
    ]
    serve([r for c in chains for r in c.records])
    serve(noise("n", NOW - 10 * MINUTE, 18, 30 * timedelta(seconds=1)))
    assert run(config, NOW) == 0
    first = last_summary(config)
    assert first["windows"] == 3
    # Consoles re-read the overlaps; Cloud Funnel reads each export object once (issue 12).
    rereads = kind != "cloud-funnel"
    assert (first["duplicates_dropped"] > 0) is rereads  # the overlaps were really read twice
    assert run(config, NOW + 2 * MINUTE) == 0
    second = last_summary(config)
    assert (second["duplicates_dropped"] >= 2) is rereads  # chain c's events, read again
    assert run(config, NOW + 5 * MINUTE) == 0  # past every chain by more than the lateness

    alerts = delivered(config)
    assert sorted(matched_ids(a) for a in alerts) == sorted(c.ids for c in chains)
    assert len(set(alert_ids(alerts))) == len(alerts) == 3
    if isinstance(fake, FakeDV):
        assert len(fake.windows) == 5  # one query per window, none repeated


def test_summary_counts_records_the_source_skipped_by_reason(
    make_config: ConfigFactory, tmp_path: Path
) -> None:
    _, config = make_config("cloud-funnel")
    found = chain("s", NOW - 6 * MINUTE)
    records = [*found.records, *noise("n", NOW - 8 * MINUTE, 3, MINUTE)]
    [part] = write_cloud_funnel(tmp_path / "cf", records, "p")
    # A damaged line that names cmd.exe on windows passes the raw prefilter, then fails.
    damaged = gzip.compress(b'{"endpoint.os": "windows", "tgt.process.name": "cmd.exe"\n')
    part.with_name("damaged.gz").write_bytes(damaged)
    assert run(config, NOW) == 0
    skipped = last_summary(config)["skipped"]
    assert skipped["not-json"] == 1  # an on-call engineer must see damaged exports
    assert skipped["prefilter"] >= 1  # chrome.exe noise never reached the JSON parser
    assert [matched_ids(a) for a in delivered(config)] == [found.ids]
