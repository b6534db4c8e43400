"""`poll` run after run against each source: sequences across runs, late events, overlap.

Every test drives `connector.runner.poll(config, now=...)` with a controlled clock against a
fake console (`responses`) or a Cloud Funnel folder, with a real SQLite store and a real
`file` output, and reads what was delivered from the output file.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import responses

from connector.config import Config
from connector.runner import poll
from connector.state import StateStore
from connector.timeutil import format_utc
from tests.e2e.conftest import ConfigFactory
from tests.e2e.support import (
    TOKEN,
    Chain,
    FakeDV,
    FakeSDL,
    Record,
    alert_ids,
    chain,
    connect_record,
    matched_ids,
    noise,
    read_alerts,
    start_record,
    write_cloud_funnel,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
Serve = Callable[[list[Record]], None]


def run(config: Config, at: datetime) -> int:
    return poll(config, now=lambda: at)


def delivered(config: Config) -> list[dict[str, Any]]:
    return read_alerts(config.outputs[0].path)  # type: ignore[union-attr]


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
    """(kind, serve(records), fake): `serve` sets what the console holds from now on."""
    kind: str = request.param
    if kind == "deep-visibility":
        dv = FakeDV(rsps, [])

        def serve_dv(records: list[Record]) -> None:
            dv.records = list(records)

        return kind, serve_dv, dv
    if kind == "sdl":
        sdl = FakeSDL(rsps, [])

        def serve_sdl(records: list[Record]) -> None:
            sdl.records = list(records)

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
