"""`next_window`: where each poll window starts and ends (outputs-and-operations.md §5.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from connector.config import PollConfig
from connector.pipeline import next_window
from connector.timeutil import EPOCH, Window, to_epoch_ms

NOW = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)


def poll(**values: Any) -> PollConfig:
    defaults = {"initial_lookback": "1h", "lag": "2m", "max_window": "1h", "allowed_lateness": "5m"}
    return PollConfig.model_validate({**defaults, **values})


def ms(moment: datetime) -> int:
    return to_epoch_ms(moment)


def test_first_run_looks_back_initial_lookback_minus_overlap_up_to_now_minus_lag() -> None:
    window = next_window(None, NOW, poll())
    assert window == Window(NOW - timedelta(hours=1, minutes=5), NOW - timedelta(minutes=2))


def test_first_run_longer_than_max_window_stops_after_one_max_window() -> None:
    window = next_window(None, NOW, poll(initial_lookback="6h", max_window="1h"))
    assert window is not None
    assert window.end == NOW - timedelta(hours=5)


def test_catch_up_proceeds_in_max_window_steps_until_now_minus_lag() -> None:
    config = poll(max_window="30m", overlap="1m")
    checkpoint = ms(NOW - timedelta(hours=2))
    windows = []
    while (window := next_window(checkpoint, NOW, config)) is not None:
        windows.append(window)
        checkpoint = ms(window.end)
        assert len(windows) < 10, "catch-up does not converge"
    ends = [w.end for w in windows]
    assert ends == [NOW - timedelta(minutes=m) for m in (90, 60, 30, 2)]
    starts = [w.start for w in windows]
    assert starts == [NOW - timedelta(minutes=m) for m in (121, 91, 61, 31)]  # 1m overlap


def test_lag_keeps_the_newest_minutes_for_the_next_run() -> None:
    window = next_window(ms(NOW - timedelta(minutes=10)), NOW, poll(lag="7m"))
    assert window is not None and window.end == NOW - timedelta(minutes=7)


def test_overlap_defaults_to_allowed_lateness_and_can_be_set() -> None:
    checkpoint = NOW - timedelta(minutes=10)
    default = next_window(ms(checkpoint), NOW, poll(allowed_lateness="3m"))
    explicit = next_window(ms(checkpoint), NOW, poll(allowed_lateness="3m", overlap="30s"))
    none = next_window(ms(checkpoint), NOW, poll(overlap="0s"))
    assert default is not None and default.start == checkpoint - timedelta(minutes=3)
    assert explicit is not None and explicit.start == checkpoint - timedelta(seconds=30)
    assert none is not None and none.start == checkpoint


def test_nothing_new_when_the_checkpoint_reached_now_minus_lag() -> None:
    assert next_window(ms(NOW - timedelta(minutes=2)), NOW, poll()) is None
    assert next_window(ms(NOW - timedelta(minutes=1)), NOW, poll()) is None  # clock went back


def test_end_is_floored_to_whole_milliseconds_so_no_sliver_is_left() -> None:
    now = NOW + timedelta(microseconds=123_456)
    window = next_window(ms(NOW - timedelta(minutes=10)), now, poll(lag="0s"))
    assert window is not None
    assert window.end == NOW + timedelta(milliseconds=123)
    assert EPOCH + timedelta(milliseconds=ms(window.end)) == window.end
    # The checkpoint that window leaves behind is already caught up.
    assert next_window(ms(window.end), now, poll(lag="0s")) is None
