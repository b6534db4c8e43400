"""The DV ⇄ Cloud Funnel key correspondence other stages rely on."""

from __future__ import annotations

import pytest

from connector.mapping import CF_TO_DV, DV_TO_CF


@pytest.mark.parametrize(
    ("dv", "cf"),
    [
        ("eventTime", "event.time"),
        ("tgtProcUid", "tgt.process.uid"),
        ("dstIp", "dst.ip.address"),
        ("endpointOs", "endpoint.os"),
        ("eventType", "event.type"),
        ("id", "event.id"),
        ("agentUuid", "agent.uuid"),
        ("srcProcParentCmdLine", "src.process.parent.cmdline"),
        ("srcProcImageSha256", "src.process.image.sha256"),
        ("netConnStatus", "event.network.connectionStatus"),
        ("srcPort", "src.port.number"),
        ("processUniqueKey", "process.unique.key"),
    ],
)
def test_contract_pairs(dv: str, cf: str) -> None:
    assert DV_TO_CF[dv] == cf
    assert CF_TO_DV[cf] == dv


def test_tables_are_inverse() -> None:
    assert len(DV_TO_CF) == len(CF_TO_DV)
    assert {cf: dv for dv, cf in DV_TO_CF.items()} == CF_TO_DV


def test_key_styles() -> None:
    assert all("." not in dv and dv[0].islower() for dv in DV_TO_CF)
    assert all("." in cf for cf in CF_TO_DV)
