"""Sigma rule metadata → the engine `Rule`'s fields (id, name, severity, ATT&CK, licence…).

* `id` (else `name`, else file stem + index) → `rule_id`; `title` → `name`.
* `level` → `severity` (`informational` → `low`) and Elastic's `risk_score` (1/21/47/73/99).
* `modified` / `date` → `version`; `tags` `attack.*` → `threat` (tactics by name,
  techniques and sub-techniques by id); `author` → `author`.
* `license`, else `DRL-1.1` when a LICENSE beside or above the file names the Detection Rule
  License → `license`.
* In SigmaHQ's layout (`…/rules/<path>` under a DRL licence) → `reference`: the rule's page
  in SigmaHQ/sigma.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

__all__ = ["rule_metadata"]

_SEVERITY = {
    "informational": ("low", 1),
    "low": ("low", 21),
    "medium": ("medium", 47),
    "high": ("high", 73),
    "critical": ("critical", 99),
}
_TACTICS = {
    "reconnaissance": ("TA0043", "Reconnaissance"),
    "resource-development": ("TA0042", "Resource Development"),
    "initial-access": ("TA0001", "Initial Access"),
    "execution": ("TA0002", "Execution"),
    "persistence": ("TA0003", "Persistence"),
    "privilege-escalation": ("TA0004", "Privilege Escalation"),
    "defense-evasion": ("TA0005", "Defense Evasion"),
    "credential-access": ("TA0006", "Credential Access"),
    "discovery": ("TA0007", "Discovery"),
    "lateral-movement": ("TA0008", "Lateral Movement"),
    "collection": ("TA0009", "Collection"),
    "command-and-control": ("TA0011", "Command and Control"),
    "exfiltration": ("TA0010", "Exfiltration"),
    "impact": ("TA0040", "Impact"),
}
_SIGMAHQ_BLOB = "https://github.com/SigmaHQ/sigma/blob/master/"


def rule_metadata(item: Any, source: str, index: int) -> dict[str, Any]:
    """Keyword arguments for `Rule` (all but `query`, `source`, `language`)."""
    level = str(getattr(getattr(item, "level", None), "name", "") or "").lower()
    severity, risk = _SEVERITY.get(level, ("medium", 47))
    day = item.modified or item.date
    tags = tuple(f"{t.namespace}.{t.name}" for t in item.tags)
    return {
        "rule_id": str(item.id or item.name or f"{Path(source).stem}-{index}"),
        "name": str(item.title or Path(source).stem),
        "severity": severity,
        "risk_score": risk,
        "version": str(day) if day else "1",
        "description": str(item.description or "").strip(),
        "threat": _threat(tags),
        "tags": tags,
        "references": tuple(str(r) for r in item.references or ()),
        "author": str(item.author or ""),
        "license": str(item.license or "") or _license(Path(source).resolve().parent),
        "reference": _reference(Path(source).resolve()),
    }


def _threat(tags: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    """ECS `threat` entries: one per tactic tag, each with every technique tag of the rule."""
    techniques: dict[str, list[str]] = {}
    for tag in tags:
        name = tag.removeprefix("attack.").upper()
        if tag.startswith("attack.t") and name[1:2].isdigit():
            base, _, _sub = name.partition(".")
            techniques.setdefault(base, [])
            if _sub:
                techniques[base].append(name)
    entries = []
    for tag in tags:
        tactic = _TACTICS.get(tag.removeprefix("attack."))
        if tactic is None:
            continue
        entries.append(
            {
                "framework": "MITRE ATT&CK",
                "tactic": {"id": tactic[0], "name": tactic[1]},
                "technique": [
                    {"id": base, "subtechnique": [{"id": sub} for sub in subs]}
                    for base, subs in techniques.items()
                ],
            }
        )
    return tuple(entries)


@cache
def _license(folder: Path) -> str:
    """`DRL-1.1` when a LICENSE file in the folder or above names the Detection Rule License."""
    for directory in (folder, *folder.parents):
        for name in ("LICENSE", "LICENSE.md", "LICENSE.txt"):
            path = directory / name
            if path.is_file():
                text = path.read_text(encoding="utf-8", errors="replace")[:2000]
                return "DRL-1.1" if "Detection Rule License" in text else ""
    return ""


def _reference(path: Path) -> str:
    """The rule's page in SigmaHQ/sigma when the file sits in SigmaHQ's layout under DRL."""
    parts = path.parts
    if "rules" not in parts or _license(path.parent) != "DRL-1.1":
        return ""
    start = len(parts) - 1 - parts[::-1].index("rules")
    return _SIGMAHQ_BLOB + "/".join(parts[start:])
