"""Value converters (spec §6)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping.values import (
    IP_CACHE,
    os_type,
    split_user,
    to_ip,
    to_port,
    to_text,
    to_timestamp,
    to_uint,
    trim_quotes,
)
from connector.timeutil import format_utc


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1664811149470, "2022-10-03T15:32:29.470Z"),
        ("1664811149470", "2022-10-03T15:32:29.470Z"),
        ("2022-01-24T18:49:35.296000Z", "2022-01-24T18:49:35.296Z"),
        ("2022-01-24T18:49:35.296Z", "2022-01-24T18:49:35.296Z"),
        ("2022-07-31T08:11:06+00:00", "2022-07-31T08:11:06.000Z"),
        ("2022-07-31T10:11:06.9999+02:00", "2022-07-31T08:11:06.999Z"),
        ("2022-01-24T18:49:35.123456789Z", "2022-01-24T18:49:35.123Z"),
        ("2022-01-24T18:49:35", "2022-01-24T18:49:35.000Z"),
        ("2022-01-24 18:49:35.1z", "2022-01-24T18:49:35.100Z"),
        ("2022-01-24T18:49:35.1-05:30", "2022-01-25T00:19:35.100Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1664811149, "1970-01-20T06:26:51.149Z"),  # epoch seconds are never guessed
    ],
)
def test_timestamps(raw: object, expected: str) -> None:
    assert to_timestamp(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        True,
        False,
        -1,
        1.5,
        1664811149470.0,
        "",
        "yesterday",
        "2022-13-01T00:00:00Z",
        "2022-01-24T25:00:00.000Z",
        "2022-02-30T00:00:00.000Z",
        "18:32:29.470",
        "-1664811149470",
        "1" * 17,
        "9" * 5000,
        "１２３",
        [],
        {},
        None,
        10**20,
    ],
)
def test_bad_timestamps(raw: object) -> None:
    assert to_timestamp(raw) is None


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=253_402_300_799_999))
def test_epoch_ms_agrees_with_format_utc(ms: int) -> None:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    assert to_timestamp(ms) == format_utc(moment)
    assert to_timestamp(str(ms)) == format_utc(moment)


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)))
def test_iso_agrees_with_format_utc(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    canonical = format_utc(aware)
    assert to_timestamp(aware.isoformat()) == canonical
    assert to_timestamp(canonical) == canonical
    assert to_timestamp(moment.isoformat()) == canonical  # no zone: UTC


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(1188, 1188), ("1188", 1188), (" 868 ", 868), (0, 0), (3.0, 3), (2**63 - 1, 2**63 - 1)],
)
def test_uint(raw: object, expected: int) -> None:
    assert to_uint(raw) == expected


@pytest.mark.parametrize(
    "raw", [-1, "-1", "12a", "", True, 1.5, [], {}, 2**63, "9" * 20, "9" * 5000, "١٢"]
)
def test_bad_uint(raw: object) -> None:
    assert to_uint(raw) is None


def test_port_range() -> None:
    assert to_port(65535) == 65535
    assert to_port("443") == 443
    assert to_port(65536) is None
    assert to_port("70000") is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("81.2.69.192", "81.2.69.192"),
        (" 10.0.0.1 ", "10.0.0.1"),
        ("2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
        ("::ffff:198.51.100.23", "198.51.100.23"),
        ("::1", "::1"),
        ("fe80::1%eth0", "fe80::1%eth0"),
    ],
)
def test_ip(raw: str, expected: str) -> None:
    assert to_ip(raw) == expected
    assert to_ip(raw) == expected  # the cached answer is the same


@pytest.mark.parametrize("raw", ["999.1.1.1", "example.com", "1.2.3", "", 123, None, ["1.2.3.4"]])
def test_bad_ip(raw: object) -> None:
    assert to_ip(raw) is None


def test_long_non_ip_text_is_not_cached() -> None:
    text = "1" * 100
    assert to_ip(text) is None
    assert text not in IP_CACHE


def test_text() -> None:
    assert to_text("a") == "a"
    assert to_text(649568400931684352) == "649568400931684352"
    assert to_text(True) is None
    assert to_text({"a": 1}) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("windows", "windows"),
        (" Windows ", "windows"),
        ("windows_legacy", "windows"),
        ("osx", "macos"),
        ("MacOS", "macos"),
        ("linux", "linux"),
        ("Windows 10", None),
        ("ios", None),
    ],
)
def test_os_type(raw: str, expected: str | None) -> None:
    assert os_type(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("NT AUTHORITY\\SYSTEM", ("NT AUTHORITY", "SYSTEM")),
        ("alice", (None, "alice")),
        ("A\\b\\c", ("A", "b\\c")),
        ("\\bob", (None, "bob")),
        ("DOM\\", ("DOM", "")),
    ],
)
def test_split_user(raw: str, expected: tuple[str | None, str]) -> None:
    assert split_user(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('"C:\\x.exe"', "C:\\x.exe"),
        ('"a" "b"', 'a" "b'),
        ('""', ""),
        ('"', '"'),
        ('"a', '"a'),
        ("a", "a"),
    ],
)
def test_trim_quotes(raw: str, expected: str) -> None:
    assert trim_quotes(raw) == expected


_MAX_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z


@settings(max_examples=500)
@given(st.one_of(st.integers(0, _MAX_SECOND), st.sampled_from([0, 59, 60, 3599, 3600, 86_399,
       86_400, 951_782_400, 951_868_799, _MAX_SECOND])))  # fmt: skip
def test_the_second_prefix_is_gmtime_s(seconds: int) -> None:
    """The cached `YYYY-MM-DDTHH:MM:SS.` (date per day, clock from the second of the day)
    equals `time.gmtime`'s, on a miss and on a hit."""
    import time  # noqa: PLC0415

    from connector.mapping import values  # noqa: PLC0415

    parts = time.gmtime(seconds)
    expected = (
        f"{parts.tm_year:04d}-{parts.tm_mon:02d}-{parts.tm_mday:02d}"
        f"T{parts.tm_hour:02d}:{parts.tm_min:02d}:{parts.tm_sec:02d}."
    )
    values._SECOND_PREFIX.pop(seconds, None)
    assert values._second_prefix(seconds) == expected
    assert to_timestamp(seconds * 1000 + 7) == expected + "007Z"
