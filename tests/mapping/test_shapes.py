"""One table, two shapes: a Cloud Funnel record and its DV rendering map to the same event."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.mapping import CF_TO_DV, Skip, to_ecs
from connector.mapping.values import to_timestamp

CF_ONLY_FIELDS = {"host.os.name", "sentinel_one.event.repetitionCount"}


def as_dv(record: dict[str, Any]) -> dict[str, Any]:
    """Render a Cloud Funnel record the way DV serves it: camelCase keys, ISO times, text pids."""
    dv: dict[str, Any] = {}
    for key, raw in record.items():
        dv_key = CF_TO_DV.get(key)
        if dv_key is None:
            continue
        if key == "event.time" or key.endswith(".startTime"):
            dv[dv_key] = to_timestamp(raw)
        elif key.endswith(".pid"):
            dv[dv_key] = str(raw)
        else:
            dv[dv_key] = raw
    if "sca:atlantisIngestTime" in record:  # DV serves the ingest time as `createdAt`
        dv["createdAt"] = to_timestamp(record["sca:atlantisIngestTime"])
    return dv


def fixture_records(shared: Path) -> list[dict[str, Any]]:
    folder = shared / "fixtures" / "elastic-cloud-funnel"
    return [
        json.loads(line)
        for name in ("test-process.log", "test-network-action.log")
        for line in (folder / name).read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]


@pytest.mark.parametrize("index", [0, 1])
def test_dv_rendering_maps_like_cloud_funnel(shared: Path, index: int) -> None:
    record = fixture_records(shared)[index]
    from_cf = to_ecs(record, "cloud-funnel")
    from_dv = to_ecs(as_dv(record), "dv")
    assert not isinstance(from_cf, Skip) and not isinstance(from_dv, Skip)
    expected = {key: value for key, value in from_cf.items() if key not in CF_ONLY_FIELDS}
    assert from_dv == expected
    assert len(from_dv) > 40  # the comparison covers the whole event, not a handful of keys
