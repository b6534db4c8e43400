"""Loading Elasticsearch's EQL QA corpus and running one of its queries through the engine.

The corpus (../shared/fixtures/elasticsearch-eql, see its PROVENANCE.md) lists queries with
the event ids Elasticsearch returns. Plain queries return events in (timestamp, tiebreaker)
order; sequence results are whole sequences in completion order, flattened. `| head`
and `| tail` select whole results; detection rules reject pipes, so they are applied here.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.detection.engine import Engine
from connector.detection.eql import ast
from connector.detection.eql.parser import parse
from connector.detection.model import Rule
from connector.ecsutil import flatten
from connector.errors import RuleError

CORPUS_FILES = ("test_queries.toml", "additional_test_queries.toml", "test_extra.toml")

# Queries whose expectations depend on Elasticsearch index mappings we do not have: the
# `version` field type (ordered as semantic versions) and the `date` type of `date_tags`.
MAPPING_DEPENDENT = {
    "version": "needs the Elasticsearch `version` field type (semantic-version ordering)",
    "date_tags": "needs the Elasticsearch `date` field type (join on parsed dates)",
    "optional_field_default_null": "needs the mapping's `null_value` (null indexed as NULL)",
}


@dataclass(frozen=True)
class Case:
    """One corpus query."""

    file: str
    name: str
    query: str
    expected: list[int]
    join_keys: list[Any] | None


@dataclass(frozen=True)
class Outcome:
    """What running a case gave: the ids (None when skipped) and why it was skipped."""

    ids: list[int] | None
    skip_reason: str = ""
    join_keys: list[Any] | None = None


def load_cases(folder: Path) -> list[Case]:
    """Every active `[[queries]]` entry of the three corpus files."""
    cases: list[Case] = []
    for name in CORPUS_FILES:
        text = (folder / name).read_text(encoding="utf-8")
        if name == "test_extra.toml":
            # Upstream writes bare `null` in join_keys arrays, which strict TOML rejects.
            text = re.sub(r"(?m)^(join_keys\s*=.*)$", _quote_nulls, text)
        for entry in tomllib.loads(text)["queries"]:
            cases.append(
                Case(
                    name,
                    entry.get("name", ""),
                    entry["query"],
                    list(entry["expected_event_ids"]),
                    entry.get("join_keys"),
                )
            )
    return cases


def _quote_nulls(line: re.Match[str]) -> str:
    return re.sub(r"\bnull\b(?!\")", '"null"', line.group(1))


def load_events(folder: Path, file: str) -> list[dict[str, Any]]:
    """The events a corpus file runs against, flattened to dotted keys."""
    if file == "test_extra.toml":
        raw = json.loads((folder / "extra.data").read_text(encoding="utf-8"))
    else:
        raw = json.loads((folder / "test_data.json").read_text(encoding="utf-8"))
    return [flatten(event) for event in raw]


def engine_for(file: str, query_text: str) -> tuple[Engine, str]:
    """An engine configured like the corpus (its field names and clock), and the id field."""
    rule = Rule(rule_id="corpus", name="corpus", query=query_text)
    if file == "test_extra.toml":
        engine = Engine(
            [rule],
            category_field="event_type",
            timestamp_field="@timestamp",
            tiebreaker_field="sequence",
        )
        return engine, "sequence"
    engine = Engine(
        [rule],
        category_field="event_type",
        timestamp_field="timestamp",
        tiebreaker_field="serial_event_id",
        timestamp_unit="filetime",
    )
    return engine, "serial_event_id"


def run_case(case: Case, events: list[dict[str, Any]]) -> Outcome:
    """Run one case; an unsupported query comes back with a skip reason."""
    for needle, reason in MAPPING_DEPENDENT.items():
        if needle in case.query:
            return Outcome(None, reason)
    try:
        query = parse(case.query)
    except RuleError as exc:
        return Outcome(None, f"unsupported: {exc.message}")
    body_text = _without_pipes(case.query, query)
    engine, id_field = engine_for(case.file, body_text)
    # Elasticsearch returns sequences in completion order, which is the engine's order.
    matches = engine.process(events)
    for pipe in query.pipes:
        matches = matches[: pipe.count] if pipe.name == "head" else matches[-pipe.count :]
    ids = [int(event[id_field]) for match in matches for event in match.events]
    keys = [_key_text(value) for match in matches for value in match.join_key]
    return Outcome(ids, join_keys=keys)


def _without_pipes(text: str, query: ast.Query) -> str:
    if not query.pipes:
        return text
    first = query.pipes[0]
    lines = text.splitlines(keepends=True)
    offset = sum(len(line) for line in lines[: first.line - 1]) + first.column - 1
    cut = text.rfind("|", 0, offset)
    return text[:cut]


def _key_text(value: Any) -> Any:
    return "null" if value is None else value
