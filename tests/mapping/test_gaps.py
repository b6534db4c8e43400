"""The fields Elastic's SentinelOne rules read that the mapping used to leave out (issue 14).

One golden record per gap, in both input shapes where the key has a DV twin:
PE original file name, user SIDs, integrity level, and Registry Value Create as a change.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.mapping import Skip, to_ecs
from connector.mapping.catalog import mapped_fields

_CF_PROCESS: dict[str, Any] = {
    "event.time": 1764000000000,
    "event.id": "01JGAP_1",
    "event.type": "Process Creation",
    "endpoint.name": "WKS-1",
    "endpoint.os": "windows",
    "tgt.process.uid": "AAAA000000000001",
    "tgt.process.name": "vss.exe",
    "tgt.process.image.originalFileName": "VSSADMIN.EXE",
    "tgt.process.eUserUid": "S-1-5-18",
    "tgt.process.integrityLevel": "SYSTEM",
    "src.process.uid": "AAAA000000000002",
    "src.process.name": "cmd.exe",
    "src.process.image.originalFileName": "Cmd.Exe",
    "src.process.eUserUid": "S-1-5-21-1-2-3-1001",
    "src.process.integrityLevel": "HIGH",
}

_DV_PROCESS: dict[str, Any] = {
    "id": "700000000000000001",
    "eventType": "Process Creation",
    "eventTime": "2025-11-24T16:00:00.000Z",
    "endpointName": "WKS-1",
    "endpointOs": "windows",
    "tgtProcUid": "AAAA000000000001",
    "tgtProcName": "vss.exe",
    "tgtProcImageOriginalFileName": "VSSADMIN.EXE",
    "tgtProcEUserUid": "S-1-5-18",
    "tgtProcIntegrityLevel": "SYSTEM",
    "srcProcUid": "AAAA000000000002",
    "srcProcName": "cmd.exe",
    "srcProcImageOriginalFileName": "Cmd.Exe",
    "srcProcEUserUid": "S-1-5-21-1-2-3-1001",
    "srcProcIntegrityLevel": "HIGH",
}

_EXPECTED_PROCESS = {
    "process.pe.original_file_name": "VSSADMIN.EXE",
    "process.parent.pe.original_file_name": "Cmd.Exe",
    "process.user.id": "S-1-5-18",
    "process.parent.user.id": "S-1-5-21-1-2-3-1001",
    "user.id": "S-1-5-21-1-2-3-1001",
    "process.Ext.token.integrity_level_name": "system",
    "process.parent.Ext.token.integrity_level_name": "high",
}


def _mapped(record: dict[str, Any], shape: str) -> dict[str, Any]:
    event = to_ecs(record, shape)  # type: ignore[arg-type]
    assert not isinstance(event, Skip), event
    return event


@pytest.mark.parametrize(("record", "shape"), [(_CF_PROCESS, "cloud-funnel"), (_DV_PROCESS, "dv")])
def test_process_creation_carries_pe_name_sids_and_integrity(
    record: dict[str, Any], shape: str
) -> None:
    event = _mapped(record, shape)
    assert {key: event.get(key) for key in _EXPECTED_PROCESS} == _EXPECTED_PROCESS


def test_ip_connect_places_the_acting_process_and_its_parent() -> None:
    record = {
        "event.time": 1764000000000,
        "event.id": "01JGAP_2",
        "event.type": "IP Connect",
        "event.network.direction": "OUTGOING",
        "src.process.uid": "AAAA000000000002",
        "src.process.image.originalFileName": "Cmd.Exe",
        "src.process.eUserUid": "S-1-5-21-1-2-3-1001",
        "src.process.integrityLevel": "Medium",
        "src.process.parent.uid": "AAAA000000000003",
        "src.process.parent.image.originalFileName": "WINWORD.EXE",
        "src.process.parent.eUserUid": "S-1-5-21-1-2-3-1001",
    }
    event = _mapped(record, "cloud-funnel")
    assert event["process.pe.original_file_name"] == "Cmd.Exe"
    assert event["process.parent.pe.original_file_name"] == "WINWORD.EXE"
    assert event["process.user.id"] == event["user.id"] == "S-1-5-21-1-2-3-1001"
    assert event["process.parent.user.id"] == "S-1-5-21-1-2-3-1001"
    assert event["process.Ext.token.integrity_level_name"] == "medium"


def test_legacy_dv_integrity_level_reaches_the_token_field() -> None:
    record = {
        "id": "700000000000000002",
        "eventType": "Process Creation",
        "createdAt": "2025-11-24T16:00:00.000Z",
        "processUniqueKey": "AAAA000000000004",
        "processName": "cmd.exe",
        "processIntegrityLevel": "LOW",
    }
    assert _mapped(record, "dv")["process.Ext.token.integrity_level_name"] == "low"


@pytest.mark.parametrize("shape", ["cloud-funnel", "dv"])
def test_registry_value_create_is_a_creation_and_a_change(shape: str) -> None:
    record: dict[str, Any]
    if shape == "dv":
        record = {
            "id": "700000000000000003",
            "eventType": "Registry Value Create",
            "eventTime": "2025-11-24T16:00:00.000Z",
            "srcProcUid": "AAAA000000000002",
            "registryKeyPath": "MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\x",
        }
    else:
        record = {
            "event.time": 1764000000000,
            "event.id": "01JGAP_3",
            "event.type": "Registry Value Create",
            "src.process.uid": "AAAA000000000002",
            "registry.keyPath": "MACHINE\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Run\\x",
        }
    event = _mapped(record, shape)
    assert event["event.category"] == ["registry"]
    assert event["event.type"] == ["creation", "change"]
    assert event["event.action"] == "creation"


def test_the_catalog_knows_the_new_fields() -> None:
    assert set(_EXPECTED_PROCESS) <= mapped_fields()
