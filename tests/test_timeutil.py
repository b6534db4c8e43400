from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.timeutil import (
    Window,
    format_utc,
    parse_duration,
    parse_time,
    split_windows,
    to_datetime,
    to_epoch_ms,
)

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("5m", 300), ("2h", 7200), ("1d", 86400), ("250ms", 0.25)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "5", "5 minutes", "-5m", "m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("-24h", NOW - timedelta(hours=24)),
        ("-30m", NOW - timedelta(minutes=30)),
        ("2026-11-20T10:00:00Z", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T10:00:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
        ("2026-11-20T11:00:00+01:00", datetime(2026, 11, 20, 10, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    assert parse_time(text, now=NOW) == expected


def test_parse_time_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not a time"):
        parse_time("yesterday", now=NOW)


def test_to_datetime_accepts_every_s1_form() -> None:
    expected = datetime(2022, 1, 24, 18, 49, 35, 296000, tzinfo=UTC)
    assert to_datetime("2022-01-24T18:49:35.296000Z") == expected
    assert to_datetime("2022-01-24T18:49:35.296Z") == expected
    assert to_datetime(1643050175296) == expected
    assert to_datetime("1643050175296") == expected
    assert to_datetime(1643050175) == expected.replace(microsecond=0)
    assert to_datetime(True) is None
    assert to_datetime("garbage") is None
    assert to_datetime(None) is None


def test_format_and_epoch_round_trip() -> None:
    moment = datetime(2026, 11, 20, 10, 15, 1, 870999, tzinfo=UTC)
    assert format_utc(moment) == "2026-11-20T10:15:01.870Z"
    assert to_epoch_ms(moment) == 1795169701870


def test_windows_split_and_halve() -> None:
    parts = list(split_windows(NOW, NOW + timedelta(minutes=150), timedelta(hours=1)))
    assert [w.span for w in parts] == [
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(minutes=30),
    ]
    assert parts[0].end == parts[1].start
    left, right = Window(NOW, NOW + timedelta(seconds=1)).halves()
    assert left.end == right.start == NOW + timedelta(milliseconds=500)
    with pytest.raises(ValueError):
        Window(NOW, NOW - timedelta(seconds=1))


def _strftime_form(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@settings(max_examples=2000, deadline=None)
@given(
    moment=st.datetimes(
        min_value=datetime(2, 1, 1),
        max_value=datetime(9998, 12, 31),
        timezones=st.one_of(
            st.just(UTC),
            st.integers(-23 * 60, 23 * 60).map(lambda m: timezone(timedelta(minutes=m))),
        ),
    )
)
def test_format_utc_is_the_strftime_form_for_every_year(moment: datetime) -> None:
    assert format_utc(moment) == _strftime_form(moment)
    assert format_utc(moment.replace(microsecond=999_999)) == _strftime_form(
        moment.replace(microsecond=999_999)
    ), "milliseconds truncated, never rounded up"


@pytest.mark.parametrize("text", ["¹", "²³", "-¹", "1²"])
def test_digits_float_does_not_read_are_no_time(text: str) -> None:
    assert to_datetime(text) is None
