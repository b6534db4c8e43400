"""Sysmon / Windows field names in Sigma rules → this product's ECS fields (data only).

`FIELDS[logsource category][Sigma field]` is the ECS field the mapper writes for the same
fact (see `connector.mapping.tables`). A field whose ECS twin the mapping never produces (a
working directory, PE version metadata, a destination host name) still gets its ECS name here,
so the rule converts; folding it against the mapped-field catalog then decides whether the
rule can fire (`connector.detection.sigma.fold`). A Sigma field with no row here keeps its own
name, which no S1 record has either.

`CATEGORIES` maps a Sigma logsource category to the EQL event category the engine routes on;
a rule of another category is skipped with its reason. Not imported by anything at start-up:
the mapped-field test keeps these tables in step with the catalog without loading pySigma.
"""

from __future__ import annotations

from typing import Final

__all__ = ["CATEGORIES", "FIELDS", "NOT_IN_S1", "PRODUCTS", "sigma_name"]

CATEGORIES: Final[dict[str, str]] = {
    "process_creation": "process",
    "network_connection": "network",
}
"""Sigma logsource category → EQL event category (`event.category` value)."""

PRODUCTS: Final[dict[str, str]] = {"windows": "windows", "linux": "linux", "macos": "macos"}
"""Sigma logsource product → `host.os.type`, added to every rule of that product."""

_PROCESS: Final[dict[str, str]] = {
    "Image": "process.executable",
    "OriginalFileName": "process.pe.original_file_name",
    "CommandLine": "process.command_line",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "process.user.name",
    "IntegrityLevel": "process.Ext.token.integrity_level_name",
    "md5": "process.hash.md5",
    "sha1": "process.hash.sha1",
    "sha256": "process.hash.sha256",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "ParentProcessId": "process.parent.pid",
    "ParentProcessGuid": "process.parent.entity_id",
    "ParentUser": "process.parent.user.name",
    # ECS names S1 records lack (folded away; the rule says why it lost a branch).
    "CurrentDirectory": "process.working_directory",
    "Description": "process.pe.description",
    "Product": "process.pe.product",
    "Company": "process.pe.company",
    "FileVersion": "process.pe.file_version",
    "Imphash": "process.pe.imphash",
    # Sysmon's `Hashes` ("SHA256=…,IMPHASH=…") is split per algorithm first (pipeline.py).
    "Hash_MD5": "process.hash.md5",
    "Hash_SHA1": "process.hash.sha1",
    "Hash_SHA256": "process.hash.sha256",
    "Hash_IMPHASH": "process.pe.imphash",
    "LogonId": "process.Ext.authentication_id",
    "LogonGuid": "process.Ext.logon_guid",
    "TerminalSessionId": "process.Ext.session_id",
}

_NETWORK: Final[dict[str, str]] = {
    "Image": "process.executable",
    "CommandLine": "process.command_line",
    "ProcessId": "process.pid",
    "ProcessGuid": "process.entity_id",
    "User": "process.user.name",
    "ParentImage": "process.parent.executable",
    "ParentCommandLine": "process.parent.command_line",
    "Initiated": "network.direction",
    "SourceIp": "source.ip",
    "SourcePort": "source.port",
    "DestinationIp": "destination.ip",
    "DestinationPort": "destination.port",
    "DestinationHostname": "destination.domain",
    "SourceHostname": "source.domain",
    "Protocol": "network.transport",
    "DestinationIsIpv6": "network.type",
    "SourceIsIpv6": "network.type",
    "DestinationPortName": "destination.service",
    "SourcePortName": "source.service",
}

FIELDS: Final[dict[str, dict[str, str]]] = {
    "process_creation": _PROCESS,
    "network_connection": _NETWORK,
}

NOT_IN_S1: Final[frozenset[str]] = frozenset(
    {
        "process.working_directory",
        "process.pe.description",
        "process.pe.product",
        "process.pe.company",
        "process.pe.file_version",
        "process.pe.imphash",
        "process.Ext.authentication_id",
        "process.Ext.logon_guid",
        "process.Ext.session_id",
        "destination.domain",
        "source.domain",
        "network.transport",
        "network.type",
        "destination.service",
        "source.service",
    }
)
"""Target fields above that SentinelOne records do not carry (the catalog test checks it)."""


def sigma_name(ecs: str) -> str:
    """The Sigma field a target came from, for messages (`process.working_directory` →
    `CurrentDirectory`); the name itself when no row maps to it."""
    for table in FIELDS.values():
        for sigma, target in table.items():
            if target == ecs:
                return sigma
    return ecs
