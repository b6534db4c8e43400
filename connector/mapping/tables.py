"""The SentinelOne → ECS mapping as data (spec: `../shared/reference/ecs-mapping.md`).

Every row says: this Cloud Funnel key becomes this ECS field through this converter. DV
records reach the same rows through `fields.CF_TO_DV`, plus the legacy DV keys listed here.
Converters are named by string and resolved in `connector.mapping.writers`; what each one does
with a value is documented there. A new field is a new row, not new code.

Event classes: Process Creation and IP Connect follow the spec exactly. Every other S1 event
type is mapped too (the issue supersedes the spec's "skip others"): `event.category`,
`event.type` and `event.action` from `EVENT_TYPES` (values chosen like Elastic's Cloud Funnel
pipelines), the acting process as `process.*`, plus the kind's own fields (file, registry,
DNS, module, URL). An unknown type gets its category from the S1 category (`S1_CATEGORIES`)
and `event.type = ["info"]`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CF_FALLBACKS",
    "COMMON_FIELDS",
    "DV_FALLBACKS",
    "DV_VENDOR_FIELDS",
    "EVENT_TYPES",
    "KIND_FIELDS",
    "LEGACY_PARENT",
    "LEGACY_SUBJECT",
    "LEGACY_SUBJECT_SIGNATURE",
    "PROCESS_FIELDS",
    "ROLE_PLACEMENT",
    "ROLE_VENDOR_FIELDS",
    "S1_CATEGORIES",
    "TRIMMED_CMDLINES",
    "UNPLACED_ROLE_FIELDS",
    "VENDOR_FIELDS",
    "EventClass",
    "Row",
]

Row = tuple[str, str, str]
"""(Cloud Funnel key, ECS field, converter name)."""

# Kinds: which group of kind-specific rows applies, and how the process roles are placed.
PROCESS_CREATION: Final = "process_creation"
CONNECTION: Final = "connection"
NETWORK: Final = "network"
FILE: Final = "file"
REGISTRY: Final = "registry"
DNS: Final = "dns"
LIBRARY: Final = "library"
URL: Final = "url"
OTHER: Final = "other"


@dataclass(frozen=True, slots=True)
class EventClass:
    """How one S1 event type is classified in ECS. `action` None = no `event.action`."""

    kind: str
    category: tuple[str, ...]
    type: tuple[str, ...]
    action: str | None = None


def _c(kind: str, category: str, types: str, action: str | None = None) -> EventClass:
    return EventClass(kind, (category,) if category else (), tuple(types.split()), action)


EVENT_TYPES: Final[dict[str, EventClass]] = {
    # Key: the S1 event type lower-cased with spaces removed ("Process Creation" and Elastic's
    # "ProcessCreation" both become "processcreation").
    "processcreation": _c(PROCESS_CREATION, "process", "start", "start"),
    "processtermination": _c(OTHER, "process", "end", "end"),
    "processexit": _c(OTHER, "process", "end", "end"),
    "processmodification": _c(OTHER, "process", "change", "modification"),
    "duplicateprocesshandle": _c(OTHER, "process", "access", "duplicate_process_handle"),
    "duplicatethreadhandle": _c(OTHER, "process", "access", "duplicate_thread_handle"),
    "openremoteprocesshandle": _c(OTHER, "process", "access", "open_remote_process_handle"),
    "remotethreadcreation": _c(OTHER, "process", "change", "remote_thread_creation"),
    "remoteprocesstermination": _c(OTHER, "process", "end", "remote_process_termination"),
    "commandscript": _c(OTHER, "process", "info", "command_script"),
    "ipconnect": _c(CONNECTION, "network", "start connection"),  # action from the direction
    "iplisten": _c(NETWORK, "network", "info", "listen"),
    "dnsresolved": _c(DNS, "network", "info protocol", "lookup_requested"),
    "dnsunresolved": _c(DNS, "network", "info protocol", "lookup_requested"),
    "filecreation": _c(FILE, "file", "creation", "creation"),
    "filemodification": _c(FILE, "file", "change", "change"),
    "filedeletion": _c(FILE, "file", "deletion", "deletion"),
    "filerename": _c(FILE, "file", "change", "rename"),
    "filescan": _c(FILE, "file", "info", "scan"),
    "registrykeycreate": _c(REGISTRY, "registry", "creation", "creation"),
    "registrykeydelete": _c(REGISTRY, "registry", "deletion", "deletion"),
    "registrykeyrename": _c(REGISTRY, "registry", "change", "rename"),
    "registrykeysecuritychanged": _c(REGISTRY, "registry", "change", "security_change"),
    "registrykeyexport": _c(REGISTRY, "registry", "access", "export"),
    "registrykeyimport": _c(REGISTRY, "registry", "change", "import"),
    # A new value is also a change of its key: Elastic's registry rules test `event.type ==
    # "change"` (Elastic Defend's type for a value set) and must see values created.
    "registryvaluecreate": _c(REGISTRY, "registry", "creation change", "creation"),
    "registryvaluemodified": _c(REGISTRY, "registry", "change", "modification"),
    "registryvaluedelete": _c(REGISTRY, "registry", "deletion", "deletion"),
    "moduleload": _c(LIBRARY, "library", "start", "load"),
    "driverload": _c(OTHER, "driver", "start", "load"),
    "login": _c(OTHER, "authentication", "start", "logged-in"),
    "logout": _c(OTHER, "authentication", "end", "logged-out"),
    "url": _c(URL, "network", "info", "url"),
    "scheduledtaskregister": _c(OTHER, "configuration", "creation", "task_register"),
    "scheduledtaskupdate": _c(OTHER, "configuration", "change", "task_update"),
    "scheduledtaskdelete": _c(OTHER, "configuration", "deletion", "task_delete"),
    "scheduledtaskstart": _c(OTHER, "configuration", "info", "task_start"),
    "scheduledtasktrigger": _c(OTHER, "configuration", "info", "task_trigger"),
    "taskregister": _c(OTHER, "configuration", "creation", "task_register"),
    "taskupdate": _c(OTHER, "configuration", "change", "task_update"),
    "taskdelete": _c(OTHER, "configuration", "deletion", "task_delete"),
    "taskstart": _c(OTHER, "configuration", "info", "task_start"),
    "tasktrigger": _c(OTHER, "configuration", "info", "task_trigger"),
    "behavioralindicators": _c(OTHER, "intrusion_detection", "info", "behavioral_indicator"),
    "preexecutiondetection": _c(OTHER, "intrusion_detection", "info", "pre_execution_detection"),
    "namedpipecreation": _c(OTHER, "file", "creation", "named_pipe_creation"),
    "namedpipeconnection": _c(OTHER, "file", "access", "named_pipe_connection"),
}

S1_CATEGORIES: Final[dict[str, EventClass]] = {
    # Fallback for event types not listed above, keyed by the S1 category (CF `event.category`,
    # DV `objectType`), lower-cased. Categories not listed here leave `event.category` out.
    "process": _c(OTHER, "process", "info"),
    "cross_process": _c(OTHER, "process", "access"),
    "command_script": _c(OTHER, "process", "info"),
    "ip": _c(NETWORK, "network", "info"),
    "dns": _c(DNS, "network", "info"),
    "url": _c(URL, "network", "info"),
    "file": _c(FILE, "file", "info"),
    "registry": _c(REGISTRY, "registry", "access"),
    "module": _c(LIBRARY, "library", "info"),
    "driver": _c(OTHER, "driver", "info"),
    "logins": _c(OTHER, "authentication", "info"),
    "login": _c(OTHER, "authentication", "info"),
    "scheduled_task": _c(OTHER, "configuration", "info"),
    "indicators": _c(OTHER, "intrusion_detection", "info"),
    "threat_intelligence_indicators": _c(OTHER, "threat", "indicator"),
}

# --- process roles ------------------------------------------------------------------------

ROLE_PLACEMENT: Final[dict[bool, dict[str, str | None]]] = {
    # is Process Creation -> Cloud Funnel role prefix -> ECS prefix (None: vendor fields only).
    True: {
        "tgt.process.": "process.",
        "src.process.": "process.parent.",
        "src.process.parent.": None,
    },
    False: {
        "src.process.": "process.",
        "src.process.parent.": "process.parent.",
        "tgt.process.": None,
    },
}

PROCESS_FIELDS: Final[tuple[Row, ...]] = (
    # (role key suffix, ECS suffix under the placed prefix, converter)
    ("uid", "entity_id", "text"),
    ("pid", "pid", "uint"),
    ("name", "name", "text"),
    ("image.path", "executable", "text"),
    ("cmdline", "command_line", "cmdline"),
    ("displayName", "title", "text"),
    ("startTime", "start", "time"),
    ("image.md5", "hash.md5", "text"),
    ("image.sha1", "hash.sha1", "text"),
    ("image.sha256", "hash.sha256", "text"),
    ("user", "user.name", "text"),
    ("signedStatus", "code_signature.exists", "signed"),
    ("verifiedStatus", "code_signature.trusted", "verified"),
    ("publisher", "code_signature.subject_name", "text"),
    # PE original file name and the effective user's id (a SID on Windows), as Elastic's
    # Cloud Funnel pipeline reads them (`tgt.process.eUserUid` -> `process.user.id`).
    ("image.originalFileName", "pe.original_file_name", "text"),
    ("eUserUid", "user.id", "text"),
    # S1 writes SYSTEM / HIGH / MEDIUM / LOW; Elastic Defend's token field is lower-case.
    ("integrityLevel", "Ext.token.integrity_level_name", "lower"),
)

TRIMMED_CMDLINES: Final = frozenset({"tgt.process.cmdline", "src.process.parent.cmdline"})
"""Command lines whose surrounding quotes Elastic strips (§7.2); args still split the raw value."""

CF_FALLBACKS: Final[dict[str, tuple[str, ...]]] = {
    "tgt.process.user": ("tgt.process.eUserName",),
    "src.process.user": ("src.process.eUserName",),
}
"""Cloud Funnel keys read when the first key is absent."""

ROLE_VENDOR_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    # (role key suffix, converter) -> sentinel_one.<full Cloud Funnel key>, for placed roles.
    ("storyline.id", "text"),
    ("integrityLevel", "text"),
)

UNPLACED_ROLE_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    # A role without an ECS slot (PC grandparent, target of cross-process events) keeps these.
    ("uid", "text"),
    ("name", "text"),
    ("storyline.id", "text"),
)

# Legacy DV keys per role (used only when the role's S1QL-era uid key is absent). The subject
# is the process the event is about: the created one in Process Creation, else the actor.
LEGACY_SUBJECT: Final[dict[str, str]] = {
    "uid": "processUniqueKey",
    "pid": "pid",
    "name": "processName",
    "image.path": "processImagePath",
    "cmdline": "processCmd",
    "displayName": "processDisplayName",
    "startTime": "processStartTime",
    "image.sha1": "processImageSha1Hash",
    "user": "user",
    "storyline.id": "storyline",
    "integrityLevel": "processIntegrityLevel",
}
LEGACY_SUBJECT_SIGNATURE: Final[dict[str, str]] = {
    # Only outside Process Creation: there the legacy signature's owner is unverified.
    "signedStatus": "signedStatus",
    "verifiedStatus": "verifiedStatus",
    "publisher": "publisher",
}
LEGACY_PARENT: Final[dict[str, str]] = {
    "uid": "parentProcessUniqueKey",
    "pid": "parentPid",
    "name": "parentProcessName",
    "startTime": "parentProcessStartTime",
}

# --- fields outside the process roles -----------------------------------------------------

COMMON_FIELDS: Final[tuple[Row, ...]] = (
    ("endpoint.name", "host.name", "hostname"),
    ("agent.uuid", "host.id", "text"),
    ("endpoint.os", "host.os.type", "os"),
    ("os.name", "host.os.name", "text"),
    ("endpoint.type", "host.type", "text"),
    ("src.process.user", "user.name", "user"),
    ("src.process.eUserUid", "user.id", "text"),
    # Ingest time: `sca:atlantisIngestTime` (ms) when present, else `sca:ingestTime` (s);
    # rows apply in order, so the later, more precise one wins.
    ("sca:ingestTime", "event.ingested", "time_s"),
    ("sca:atlantisIngestTime", "event.ingested", "time"),
)

VENDOR_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    # (Cloud Funnel key, converter) -> sentinel_one.<key>
    ("trace.id", "text"),
    ("event.type", "text"),
    ("event.category", "text"),
    ("meta.event.name", "text"),
    ("site.id", "text"),
    ("account.id", "text"),
    ("agent.uuid", "text"),
    ("event.repetitionCount", "uint"),
)

DV_VENDOR_FIELDS: Final[tuple[Row, ...]] = (
    # DV keys without a Cloud Funnel twin: (DV key, ECS field, converter).
    ("eventIndex", "sentinel_one.event.index", "text"),
    ("createdAt", "event.ingested", "time"),  # when the console stored the event
)

_NETWORK_ROWS: Final[tuple[Row, ...]] = (
    ("src.ip.address", "source.ip", "ip"),
    ("src.port.number", "source.port", "port"),
    ("dst.ip.address", "destination.ip", "ip"),
    ("dst.port.number", "destination.port", "port"),
    ("event.network.protocolName", "network.protocol", "lower"),
    ("event.network.connectionStatus", "event.outcome", "outcome"),
)

KIND_FIELDS: Final[dict[str, tuple[Row, ...]]] = {
    PROCESS_CREATION: (),
    CONNECTION: (
        *_NETWORK_ROWS,
        ("event.network.direction", "network.direction", "direction_action"),
    ),
    NETWORK: (*_NETWORK_ROWS, ("event.network.direction", "network.direction", "direction")),
    FILE: (
        ("tgt.file.path", "file.path", "file_path"),
        ("tgt.file.extension", "file.extension", "text"),
        ("tgt.file.size", "file.size", "uint"),
        ("tgt.file.md5", "file.hash.md5", "text"),
        ("tgt.file.sha1", "file.hash.sha1", "text"),
        ("tgt.file.sha256", "file.hash.sha256", "text"),
        ("tgt.file.oldPath", "sentinel_one.tgt.file.oldPath", "text"),
    ),
    REGISTRY: (
        ("registry.keyPath", "registry.path", "registry_path"),
        ("registry.value", "registry.data.strings", "strings"),
        ("registry.valueType", "registry.data.type", "text"),
    ),
    DNS: (
        ("event.dns.request", "dns.question.name", "dns_question"),
        ("event.dns.response", "dns.resolved_ip", "dns_answers"),
    ),
    LIBRARY: (
        ("module.path", "dll.path", "dll_path"),
        ("module.md5", "dll.hash.md5", "text"),
        ("module.sha1", "dll.hash.sha1", "text"),
    ),
    URL: (("url.address", "url.full", "text"),),
    OTHER: (),
}

DV_FALLBACKS: Final[dict[str, tuple[str, ...]]] = {
    # S1QL-era DV key -> legacy DV keys read when it is absent (fields outside the roles).
    "eventTime": ("createdAt",),
    "endpointName": ("agentName",),
    "endpointOs": ("agentOs",),
    "endpointMachineType": ("agentMachineType",),
    "srcProcUser": ("user",),
    "netEventDirection": ("direction",),
    "netConnStatus": ("connectionStatus",),
    "tgtFilePath": ("fileFullName",),
    "tgtFileMd5": ("fileMd5",),
    "tgtFileSha1": ("fileSha1",),
    "tgtFileSha256": ("fileSha256",),
    "tgtFileSize": ("fileSize",),
    "registryKeyPath": ("registryPath",),
    "url": ("networkUrl",),
}
