"""Golden cases under `tests/mapping/data/<shape>/`: one input, one expected file per case.

A case is `NAME.input.json` (the raw record) or `NAME.source.json` (where to read the record
from `../shared` at test time, so third-party samples are never copied), plus
`NAME.expected.json`: `{"event": {flat ECS event}, "bad_fields": {label: count}}` or
`{"skip": "<reason>"}`. A new case is new files; no code changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"


@dataclass(frozen=True)
class Case:
    shape: str
    name: str
    source: Path

    @property
    def expected_path(self) -> Path:
        return self.source.parent / f"{self.name}.expected.json"

    def __str__(self) -> str:
        return f"{self.shape}/{self.name}"


def cases() -> list[Case]:
    found = []
    for path in sorted(DATA.glob("*/*.json")):
        for suffix in (".input.json", ".source.json"):
            if path.name.endswith(suffix):
                found.append(Case(path.parent.name, path.name[: -len(suffix)], path))
    return found


def load_input(case: Case, shared: Path) -> Any:
    """The raw record of a case; `.source.json` points into a Markdown file under shared."""
    spec = json.loads(case.source.read_text(encoding="utf-8"))
    if case.source.name.endswith(".input.json"):
        return spec
    text = (shared / spec["shared_file"]).read_text(encoding="utf-8")
    section = text[text.index(spec["after_heading"]) :]
    block = section[section.index("```json") + len("```json") :]
    value: Any = json.loads(block[: block.index("```")])
    for step in spec["json_path"]:
        value = value[step]
    return value
