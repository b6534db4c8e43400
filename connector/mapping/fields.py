"""Deep Visibility v2.1 key ⇄ Cloud Funnel 2.0 / SDL key correspondence (one source of truth).

DV v2.1 JSON uses flat camelCase keys (`tgtProcUid`); Cloud Funnel, SDL and PowerQuery use flat
dotted keys (`tgt.process.uid`). `DV_TO_CF` maps every S1QL-era DV key the mapper reads (and a
few more that the simulator renders) to its Cloud Funnel twin; `CF_TO_DV` is its exact inverse.
The mapper's field tables are written in Cloud Funnel keys and reach DV records through
`CF_TO_DV`, so adding a field here is enough for both shapes.

Legacy DV keys (`processName`, `pid`, ...) have no Cloud Funnel twin, except
`processUniqueKey` ⇄ `process.unique.key`; the mapper's legacy fallbacks live in
`connector.mapping.tables`.

| DV key              | Cloud Funnel key           |
|---------------------|----------------------------|
| `eventTime`         | `event.time`               |
| `id`                | `event.id`                 |
| `tgtProcUid`        | `tgt.process.uid`          |
| `srcProcParentPid`  | `src.process.parent.pid`   |
| `dstIp`             | `dst.ip.address`           |
| `endpointOs`        | `endpoint.os`              |

Keys marked † in `../shared/reference/ecs-mapping.md` follow S1's naming pattern but have not
been seen in a public DV sample (`tgtProcImageMd5`, ...); they are listed all the same.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CF_TO_DV", "DV_TO_CF", "PROCESS_ROLES"]

_COMMON: Final[dict[str, str]] = {
    "eventTime": "event.time",
    "id": "event.id",
    "traceId": "trace.id",
    "eventType": "event.type",
    "objectType": "event.category",
    "metaEventName": "meta.event.name",
    "endpointName": "endpoint.name",
    "endpointOs": "endpoint.os",
    "endpointMachineType": "endpoint.type",
    "agentUuid": "agent.uuid",
    "agentVersion": "agent.version",
    "siteId": "site.id",
    "siteName": "site.name",
    "accountId": "account.id",
    "agentGroupId": "group.id",
    "processUniqueKey": "process.unique.key",
}

_NETWORK: Final[dict[str, str]] = {
    "srcIp": "src.ip.address",
    "srcPort": "src.port.number",
    "dstIp": "dst.ip.address",
    "dstPort": "dst.port.number",
    "netConnStatus": "event.network.connectionStatus",
    "netEventDirection": "event.network.direction",
    "netProtocolName": "event.network.protocolName",
}

_OBJECTS: Final[dict[str, str]] = {
    # File, registry, DNS, module and URL events (S1QL names; DV keys are †).
    "tgtFilePath": "tgt.file.path",
    "tgtFileOldPath": "tgt.file.oldPath",
    "tgtFileExtension": "tgt.file.extension",
    "tgtFileSize": "tgt.file.size",
    "tgtFileMd5": "tgt.file.md5",
    "tgtFileSha1": "tgt.file.sha1",
    "tgtFileSha256": "tgt.file.sha256",
    "registryKeyPath": "registry.keyPath",
    "registryValue": "registry.value",
    "registryValueType": "registry.valueType",
    "dnsRequest": "event.dns.request",
    "dnsResponse": "event.dns.response",
    "modulePath": "module.path",
    "moduleMd5": "module.md5",
    "moduleSha1": "module.sha1",
    "url": "url.address",
}

PROCESS_ROLES: Final[dict[str, str]] = {
    "srcProc": "src.process.",
    "srcProcParent": "src.process.parent.",
    "tgtProc": "tgt.process.",
}
"""DV key prefix → Cloud Funnel key prefix of the three process roles an event can carry."""

_PROCESS_SUFFIXES: Final[dict[str, str]] = {
    "Uid": "uid",
    "Pid": "pid",
    "Name": "name",
    "CmdLine": "cmdline",
    "ImagePath": "image.path",
    "DisplayName": "displayName",
    "StartTime": "startTime",
    "ImageMd5": "image.md5",
    "ImageSha1": "image.sha1",
    "ImageSha256": "image.sha256",
    "User": "user",
    "StorylineId": "storyline.id",
    "SignedStatus": "signedStatus",
    "VerifiedStatus": "verifiedStatus",
    "Publisher": "publisher",
    "IntegrityLevel": "integrityLevel",
    "SessionId": "sessionId",
    "IsStorylineRoot": "isStorylineRoot",
    "IsNative64Bit": "isNative64Bit",
    "IsRedirectCmdProcessor": "isRedirectCmdProcessor",
    "Subsystem": "subsystem",
    # † unverified DV spellings: derived from the S1QL names `TgtProcImageOriginalFileName`
    # and `SrcProcEUserUid` (pySigma-backend-sentinelone) by the camelCase rule above.
    "ImageOriginalFileName": "image.originalFileName",
    "EUserUid": "eUserUid",
}
"""DV key suffix → Cloud Funnel key suffix, the same for every process role."""


def _process_keys() -> dict[str, str]:
    return {
        dv_prefix + dv_suffix: cf_prefix + cf_suffix
        for dv_prefix, cf_prefix in PROCESS_ROLES.items()
        for dv_suffix, cf_suffix in _PROCESS_SUFFIXES.items()
    }


DV_TO_CF: Final[dict[str, str]] = {**_COMMON, **_NETWORK, **_OBJECTS, **_process_keys()}
"""DV v2.1 camelCase key → Cloud Funnel / SDL dotted key."""

CF_TO_DV: Final[dict[str, str]] = {cf: dv for dv, cf in DV_TO_CF.items()}
"""Cloud Funnel / SDL dotted key → DV v2.1 camelCase key (the inverse of `DV_TO_CF`; the tests
check that the correspondence is one-to-one)."""
