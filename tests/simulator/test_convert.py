"""Cloud Funnel → DV conversion, checked on Elastic's verbatim Cloud Funnel fixtures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from connector.mapping.fields import CF_TO_DV, DV_TO_CF
from connector.simulator.convert import cf_to_dv

FIXTURES = ("test-process.log", "test-network-action.log")


def _fixture(shared: Path, name: str) -> dict[str, Any]:
    path = shared / "fixtures" / "elastic-cloud-funnel" / name
    return dict(json.loads(path.read_text(encoding="utf-8").splitlines()[0]))


@pytest.mark.parametrize("name", FIXTURES)
def test_every_table_key_is_carried_over_and_nothing_else_dotted(shared: Path, name: str) -> None:
    record = _fixture(shared, name)
    event = cf_to_dv(record)
    for cf_key in record.keys() & CF_TO_DV.keys():
        assert CF_TO_DV[cf_key] in event, cf_key
    assert not [k for k in event if "." in k]
    assert all(DV_TO_CF.get(k, "") != "" or k[0].islower() for k in event)


@pytest.mark.parametrize("name", FIXTURES)
def test_values_take_the_dv_forms(shared: Path, name: str) -> None:
    record = _fixture(shared, name)
    event = cf_to_dv(record)
    assert event["eventTime"] == "2022-10-03T15:32:29." + str(record["event.time"])[-3:] + "Z"
    assert event["srcProcPid"] == str(record["src.process.pid"])
    assert event["eventType"] in ("Process Creation", "IP Connect")  # spaces restored
    assert event["id"] == record["event.id"]
    assert event["eventIndex"] == record["event.id"].rsplit("_", 1)[1]
    assert event["createdAt"].endswith("000Z") and len(event["createdAt"]) == 27
    assert event["agentName"] == event["endpointName"] == record["endpoint.name"]


def test_process_creation_specifics(shared: Path) -> None:
    event = cf_to_dv(_fixture(shared, "test-process.log"))
    assert event["tgtProcPid"] == "4720"
    assert event["tgtProcStartTime"] == "2022-10-03T15:32:29.464Z"
    assert event["srcProcParentIsStorylineRoot"] == "False"  # DV flags are strings
    assert event["tgtProcUid"] == event["processUniqueKey"] == "D0046CBAF5BC03DA"
    assert "netProtocolName" not in event


def test_ip_connect_specifics(shared: Path) -> None:
    event = cf_to_dv(_fixture(shared, "test-network-action.log"))
    assert event["dstPort"] == 443 and isinstance(event["srcPort"], int)  # ports stay ints
    assert event["netEventDirection"] == "OUTGOING"
    assert event["processName"] == event["srcProcName"] == "chrome.exe"  # legacy mirror
    assert event["pid"] == "12952"


def test_missing_protocol_is_the_string_null_as_dv_sends_it() -> None:
    event = cf_to_dv({"event.type": "IPConnect", "event.category": "ip", "event.time": 0})
    assert event["netProtocolName"] == "null"
    assert event["eventType"] == "IP Connect"


def test_none_values_are_left_out() -> None:
    assert "tgtProcName" not in cf_to_dv({"tgt.process.name": None, "event.time": 0})
