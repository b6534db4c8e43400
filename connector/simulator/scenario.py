"""Scenario files: NDJSON of Cloud Funnel-style records (flat dotted keys, `event.time` in ms).

A JSON array of records is accepted too. Every record must be an object with a readable
`event.time`; anything else is reported with its line number.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.errors import BadInputError
from connector.simulator.dataset import event_time_ms
from connector.simulator.demo import demo_records

__all__ = ["load_scenario", "parse_records", "scenario_records"]


def scenario_records(
    scenario: str, *, now: datetime | None = None, seed: int = 7
) -> list[dict[str, Any]]:
    """`"demo"` → the bundled demo day ending at `now`; anything else → a scenario file path.

    This is what `s1-connector simulate --scenario demo|PATH` serves. Raises BadInputError
    for an unreadable file.
    """
    if scenario == "demo":
        return demo_records(now, seed)[0]
    return load_scenario(Path(scenario))


def load_scenario(path: Path) -> list[dict[str, Any]]:
    """Read a scenario file; raise BadInputError naming the file and line of a problem."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read scenario: {exc}") from exc
    try:
        return parse_records(text, str(path))
    except ValueError as exc:
        raise BadInputError(str(exc)) from exc


def parse_records(text: str, source: str) -> list[dict[str, Any]]:
    """Parse NDJSON (or a JSON array) of records; raise ValueError naming `source` and line."""
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}: not valid JSON: {exc}") from exc
        return [_checked(item, source, f"item {n}") for n, item in enumerate(items, 1)]
    records = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{source}:{number}: not valid JSON: {exc.msg}") from exc
        records.append(_checked(item, source, f"line {number}"))
    return records


def _checked(item: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ValueError(f"{source}: {where}: a record must be a JSON object")
    if event_time_ms(item) is None:
        raise ValueError(f"{source}: {where}: record has no readable event.time")
    return item
