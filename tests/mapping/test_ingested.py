"""`event.ingested` (CONTRACT.md additions): Cloud Funnel / SDL `sca:atlantisIngestTime` (ms),
else `sca:ingestTime` (s); DV `createdAt`. Values from the samples in sentinelone-api.md."""

from __future__ import annotations

from typing import Any

import pytest

from connector.mapping import Mapper

CF: dict[str, Any] = {
    "event.id": "01GEF7NPDYKJDP1X0XSQ9K7J2N_41",
    "event.type": "Process Creation",
    "event.time": 1664811149470,
    "sca:atlantisIngestTime": 1664811195133,
    "sca:ingestTime": 1664811195,
}


@pytest.mark.parametrize(
    ("drop", "expected"),
    [
        ((), "2022-10-03T15:33:15.133Z"),  # the ms field wins
        (("sca:atlantisIngestTime",), "2022-10-03T15:33:15.000Z"),  # seconds, scaled
        (("sca:atlantisIngestTime", "sca:ingestTime"), None),
    ],
)
def test_cloud_funnel_ingest_time(drop: tuple[str, ...], expected: str | None) -> None:
    record = {k: v for k, v in CF.items() if k not in drop}
    event = Mapper().map(record, "cloud-funnel")
    assert event is not None
    assert event.get("event.ingested") == expected
    assert event["@timestamp"] == "2022-10-03T15:32:29.470Z"


def test_seconds_given_as_text_are_scaled_and_garbage_is_counted() -> None:
    mapper = Mapper()
    text = mapper.map({**CF, "sca:atlantisIngestTime": None, "sca:ingestTime": "1664811195"})
    assert text is not None and text["event.ingested"] == "2022-10-03T15:33:15.000Z"
    bad = mapper.map({**CF, "sca:atlantisIngestTime": None, "sca:ingestTime": "soon"})
    assert bad is not None and "event.ingested" not in bad
    assert mapper.bad_fields["bad_field:event.ingested"] == 1


def test_dv_created_at_is_the_ingest_time() -> None:
    record = {
        "id": "649568400931684352",
        "eventType": "Process Creation",
        "eventTime": "2022-01-24T18:49:31.000Z",
        "createdAt": "2022-01-24T18:49:35.296000Z",
    }
    event = Mapper().map(record, "dv")
    assert event is not None and event["event.ingested"] == "2022-01-24T18:49:35.296Z"
