"""What a Deep Visibility console knows about S1QL fields: enums, their values, numbers.

Enum fields accept only `=`, `!=`, `In` and `Not In`, with one of the documented values; any
other operator (`In Anycase`, `ContainsCIS`, `StartsWithCIS`, `Contains`, `RegExp`,
`Is Not Empty`, `<` ...) or any other value gets 400 "could not parse query"
(sentinelone-api-evidence.md, "Differences" 1). Numeric fields take no string operator.

Sources of the tables below (facts, not code): stix-shifter's SentinelOne `type_map.json`
(`enum_supported_fields`, `enum_supported_values`, `int_supported_fields`) and its
`_check_value_comparator_support` (enum: `=`, `!=`, `IN`, `NOT IN` only);
pySigma-backend-sentinelone, which writes `EventType = "Process Creation"`,
`EndpointOS = "windows"`, `ObjectType = "File"`; SentinelLabs' S1QL-Queries, which only ever
uses `=` / `In` on these fields. `AgentOS` carries the same values as `EndpointOS` (the issue
names "the agent OS"; no public list differs).

Whether a console matches enum values ignoring case is not confirmed (stix-shifter sends them
upper-cased): the connector always sends the documented spelling below, and the simulator
accepts a value only when it is one of these, ignoring case.

Field names are keys in S1QL spelling, compared case-insensitively (`enum_values`).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ENUM_VALUES",
    "EVENT_TYPES",
    "NUMERIC_FIELDS",
    "documented_value",
    "enum_values",
    "is_numeric",
]

_OS: Final = ("windows", "osx", "linux")
_SIGNED: Final = ("signed", "unsigned")
_VERIFIED: Final = ("verified", "unverified")
_INTEGRITY: Final = ("HIGH", "MEDIUM", "LOW", "SYSTEM", "INTEGRITY_LEVEL_UNKNOWN", "UNTRUSTED")
_CONTENT: Final = ("CLI", "FILE")
_REGISTRY_TYPES: Final = (
    "BINARY", "DWORD", "DWORD_BIG_ENDIAN", "EXPAND_SZ", "LINK", "MULTI_SZ", "QWORD", "SZ",
    "RESOURCE_LIST",
)  # fmt: skip

EVENT_TYPES: Final = (
    "Process Exit", "Process Modification", "Process Creation", "Duplicate Process Handle",
    "Duplicate Thread Handle", "Open Remote Process Handle", "Remote Thread Creation",
    "Remote Process Termination", "Command Script", "IP Connect", "IP Listen",
    "File Modification", "File Creation", "File Scan", "File Deletion", "File Rename",
    "Pre Execution Detection", "Login", "Logout", "GET", "OPTIONS", "POST", "PUT", "DELETE",
    "CONNECT", "HEAD", "Not Reported", "DNS Resolved", "DNS Unresolved", "Task Register",
    "Task Update", "Task Start", "Task Trigger", "Task Delete", "Registry Key Create",
    "Registry Key Rename", "Registry Key Delete", "Registry Key Export",
    "Registry Key Security Changed", "Registry Key Import", "Registry Value Modified",
    "Registry Value Create", "Registry Value Delete", "Behavioral Indicators", "Module Load",
    "Firmware Test", "Threat Intelligence Indicators",
)  # fmt: skip

ENUM_VALUES: Final[dict[str, tuple[str, ...]]] = {
    "EventType": EVENT_TYPES,
    "ObjectType": (
        "process", "cross_process", "command_script", "ip", "file", "logins", "url", "dns",
        "scheduled_task", "registry", "indicators", "module", "firmware",
        "threat_intelligence_indicators",
    ),
    "EndpointOS": _OS,
    "AgentOS": _OS,
    "EndpointMachineType": ("Server", "Laptop", "Desktop", "Kubernetes Node", "Unknown"),
    "NetEventDirection": ("INCOMING", "OUTGOING"),
    "NetConnStatus": ("Success", "Failure", "Blocked", "Unknown"),
    "LoginType": (
        "SYSTEM", "INTERACTIVE", "NETWORK", "BATCH", "SERVICE", "UNLOCK", "NETWORK_CLEAR_TEXT",
        "NETWORK_CREDENTIALS", "REMOTE_INTERACTIVE", "CACHED_INTERACTIVE",
        "CACHED_REMOTE_INTERACTIVE", "CACHED_UNLOCK",
    ),
    "TgtFileType": (
        "UNKNOWN", "PE", "ELF", "MACH", "VECT", "PDF", "COM", "OLE", "OPENXML", "PKZIP", "RAR",
        "LZMA", "BZIP2", "TAR", "CABINET", "SFX", "DOTNET", "EICAR", "LNK",
    ),
    "TgtFileLocation": ("Local", "Network Drive", "External Device"),
    "TgtFileConvictedBy": ("Reputation", "Static AI"),
    "IndicatorCategory": (
        "Abnormalities", "Hiding/Stealthiness", "General", "Packer", "InfoStealer",
        "Boot Configuration Update", "Exploitation", "Persistence", "Privilege Escalation",
        "Ransomware", "Injection", "Malware", "Evasion", "Post Exploitation", "Reconnaissance",
    ),
    "SrcProcIntegrityLevel": _INTEGRITY,
    "TgtProcIntegrityLevel": _INTEGRITY,
    "SrcProcSignedStatus": _SIGNED,
    "TgtProcSignedStatus": _SIGNED,
    "SrcProcVerifiedStatus": _VERIFIED,
    "TgtProcVerifiedStatus": _VERIFIED,
    "SrcProcActiveContentType": _CONTENT,
    "TgtProcActiveContentType": _CONTENT,
    "SrcProcActiveContentSignedStatus": _SIGNED,
    "TgtProcActiveContentSignedStatus": _SIGNED,
    "RegistryValueType": _REGISTRY_TYPES,
    "RegistryOldValueType": _REGISTRY_TYPES,
}  # fmt: skip
"""Enum field (S1QL spelling) → its documented values, in the documented spelling."""

NUMERIC_FIELDS: Final = frozenset(
    name.casefold()
    for name in (
        "SrcPort", "DstPort", "SrcProcPid", "TgtProcPid", "SrcProcParentPid", "TgtFileSize",
        "RegistryValueFullSize", "RegistryOldValueFullSize", "LoginSessionId",
        "SrcProcSessionId", "TgtProcSessionId",
    )
)  # fmt: skip
"""Integer fields (case-folded names): numbers and `=`/`!=`/`In`/`<`…, no string operator."""

_BY_FOLDED: Final = {name.casefold(): values for name, values in ENUM_VALUES.items()}


def enum_values(field: str) -> tuple[str, ...] | None:
    """The documented values of an enum field (any letter case), or None for other fields."""
    return _BY_FOLDED.get(field.casefold())


def is_numeric(field: str) -> bool:
    return field.casefold() in NUMERIC_FIELDS


def documented_value(field: str, value: str, *, ignore_spaces: bool = False) -> str | None:
    """The documented spelling of `value` for enum `field`, compared ignoring case (and
    spaces, when asked); None when the field is no enum or the value is not one of its."""
    values = enum_values(field)
    if values is None:
        return None
    key = _fold(value, ignore_spaces)
    return next((v for v in values if _fold(v, ignore_spaces) == key), None)


def _fold(text: str, ignore_spaces: bool) -> str:
    folded = text.casefold()
    return folded.replace(" ", "") if ignore_spaces else folded
