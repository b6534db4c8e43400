"""Building blocks of the demo day: hosts, processes, and Cloud Funnel records about them.

`Recorder` writes records shaped like the verbatim Cloud Funnel samples of
sentinelone-api.md §7.2 (same keys, same value types: epoch-ms times, int pids, real
booleans). Ids depend only on the seed and the time offset within the day, never on the wall
clock, so a scenario rebuilt later names the same events.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = ["Host", "Proc", "Recorder"]

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_MGMT_URL = "demo.sentinelone.example"
_NOISE_TYPES = {
    "file": ("file", "File Modification", "FILEMODIFICATION", "tgt.file.path"),
    "registry": ("registry", "Registry Value Modified", "REGVALUEMODIFIED", "registry.keyPath"),
    "dns": ("dns", "DNS Resolved", "DNS", "event.dns.request"),
    "module": ("module", "Module Load", "MODULELOAD", "module.path"),
}
"""Event kinds the rule never reads: (category, type, meta name, the key naming the object)."""


@dataclass(frozen=True)
class Host:
    """One Windows endpoint with a SentinelOne agent."""

    name: str
    agent_uuid: str
    ip: str
    user: str
    machine_type: str
    os_name: str
    site_id: str
    site_name: str
    account_id: str = "1600000000000000001"
    group_id: str = "1650000000000000001"


@dataclass
class Proc:
    """A running process: what the agent reports about it as source or target."""

    name: str
    uid: str
    pid: int
    cmdline: str
    image_path: str
    user: str
    storyline: str
    start_ms: int
    integrity: str = "MEDIUM"
    parent: Proc | None = None
    children: int = field(default=0)


class Recorder:
    """Appends Cloud Funnel records for events on hosts; `records` holds them in call order."""

    def __init__(self, rng: random.Random, day_start_ms: int) -> None:
        self.rng = rng
        self.day_start_ms = day_start_ms
        self.records: list[dict[str, Any]] = []

    # -- identities ---------------------------------------------------------------------

    def uid(self) -> str:
        """A 16-hex-digit process uid."""
        return f"{self.rng.getrandbits(64):016X}"

    def pid(self) -> int:
        """A Windows pid (a multiple of 4)."""
        return 4 * self.rng.randint(200, 16000)

    def _trace_id(self, offset_ms: int) -> str:
        # ULID-like: 10 characters of time (offset within the day), 16 of randomness.
        head = "".join(_CROCKFORD[(offset_ms >> (5 * i)) & 31] for i in range(9, -1, -1))
        tail = "".join(self.rng.choice(_CROCKFORD) for _ in range(16))
        return "01" + head[2:] + tail

    # -- processes ----------------------------------------------------------------------

    def running(
        self,
        name: str,
        image: str,
        *,
        user: str,
        start_ms: int,
        parent: Proc | None = None,
        integrity: str = "MEDIUM",
    ) -> Proc:
        """A process that already runs (no creation record); its command line is its image."""
        storyline = parent.storyline if parent else self.uid()
        return Proc(
            name, self.uid(), self.pid(), image, image, user, storyline, start_ms, integrity, parent
        )

    def spawn(
        self,
        host: Host,
        parent: Proc,
        offset_ms: int,
        cmdline: str,
        *,
        image: str,
        new_storyline: bool = False,
    ) -> tuple[Proc, str]:
        """Record a Process Creation of `image` by `parent`; return the child and the event id."""
        t = self.day_start_ms + offset_ms
        storyline = self.uid() if new_storyline else parent.storyline
        name = image.rsplit("\\", 1)[-1]
        child = Proc(
            name,
            self.uid(),
            self.pid(),
            cmdline,
            image,
            parent.user,
            storyline,
            t,
            parent.integrity,
            parent,
        )
        parent.children += 1
        record = self._base(host, offset_ms, "process", "Process Creation", "PROCESSCREATION")
        record.update(_role("src.process.", parent))
        if parent.parent is not None:
            record.update(_role("src.process.parent.", parent.parent, full=False))
        record.update(_role("tgt.process.", child))
        record["process.unique.key"] = child.uid
        return child, self._add(record)

    # -- other events -------------------------------------------------------------------

    def connect(
        self,
        host: Host,
        proc: Proc,
        offset_ms: int,
        dst: str,
        port: int,
        *,
        protocol: str = "https",
        repeat: int = 1,
    ) -> str:
        """Record an outgoing IP Connect by `proc`; return the event id."""
        meta = "TCPV6" if ":" in dst else "TCPV4"
        record = self._base(host, offset_ms, "ip", "IP Connect", meta)
        record.update(_role("src.process.", proc))
        if proc.parent is not None:
            record.update(_role("src.process.parent.", proc.parent, full=False))
        record.update(
            {
                "src.ip.address": host.ip if ":" not in dst else "fe80::a00:27ff:fe4e:66a1",
                "src.port.number": self.rng.randint(49152, 65535),
                "dst.ip.address": dst,
                "dst.port.number": port,
                "event.network.direction": "OUTGOING",
                "event.network.connectionStatus": "SUCCESS",
                "event.network.protocolName": protocol,
                "event.repetitionCount": repeat,
                "process.unique.key": proc.uid,
            }
        )
        return self._add(record)

    def touch(self, host: Host, proc: Proc, offset_ms: int, kind: str, target: str) -> str:
        """Record a file, registry, DNS or module event (noise the rule never reads)."""
        category, event_type, meta, key = _NOISE_TYPES[kind]
        record = self._base(host, offset_ms, category, event_type, meta)
        record.update(_role("src.process.", proc))
        record[key] = target
        return self._add(record)

    # -- records ------------------------------------------------------------------------

    def _base(
        self, host: Host, offset_ms: int, category: str, event_type: str, meta: str
    ) -> dict[str, Any]:
        t = self.day_start_ms + offset_ms
        trace = self._trace_id(offset_ms)
        lag = self.rng.randint(1500, 46000)
        clock = datetime.fromtimestamp(t / 1000, UTC)
        return {
            "timestamp": clock.strftime("%H:%M:%S.") + f"{t % 1000:03d}",
            "event.category": category,
            "event.type": event_type,
            "meta.event.name": meta,
            "event.time": t,
            "event.id": f"{trace}_{self.rng.randint(1, 999)}",
            "trace.id": trace,
            "site.id": host.site_id,
            "site.name": host.site_name,
            "account.id": host.account_id,
            "group.id": host.group_id,
            "mgmt.url": _MGMT_URL,
            "mgmt.id": "1337",
            "dataSource.name": "SentinelOne",
            "dataSource.category": "security",
            "i.scheme": "edr",
            "i.version": "preprocess-lib-1.0",
            "endpoint.name": host.name,
            "endpoint.os": "windows",
            "endpoint.type": host.machine_type,
            "os.name": host.os_name,
            "agent.uuid": host.agent_uuid,
            "agent.version": "24.1.4.257",
            "sca:ingestTime": (t + lag) // 1000,
            "sca:atlantisIngestTime": t + lag,
        }

    def _add(self, record: dict[str, Any]) -> str:
        self.records.append(record)
        return str(record["event.id"])


def _digest(name: str, algorithm: str) -> str:
    return hashlib.new(algorithm, name.lower().encode()).hexdigest()


def _role(prefix: str, proc: Proc, *, full: bool = True) -> dict[str, Any]:
    """The Cloud Funnel keys describing `proc` in one role (`src.process.`, ...)."""
    out: dict[str, Any] = {
        prefix + "name": proc.name,
        prefix + "uid": proc.uid,
        prefix + "pid": proc.pid,
        prefix + "cmdline": proc.cmdline,
        prefix + "image.path": proc.image_path,
        prefix + "storyline.id": proc.storyline,
        prefix + "startTime": proc.start_ms,
        prefix + "user": proc.user,
        prefix + "isStorylineRoot": proc.parent is None or proc.parent.storyline != proc.storyline,
    }
    if full:
        out.update(
            {
                prefix + "displayName": proc.name,
                prefix + "integrityLevel": proc.integrity,
                prefix + "image.sha1": _digest(proc.image_path, "sha1"),
                prefix + "image.sha256": _digest(proc.image_path, "sha256"),
                prefix + "image.md5": _digest(proc.image_path, "md5"),
                prefix + "subsystem": "SYS_WIN32",
                prefix + "signedStatus": "signed" if "Windows" in proc.image_path else "unsigned",
                prefix + "verifiedStatus": "verified",
                prefix + "isNative64Bit": True,
            }
        )
    return out
