"""A small PowerQuery: a filter head and `columns`, `group … count() by`, `sort`, `limit`, `filter`.

    endpoint.os='windows' event.type=* | columns event.time, event.id, tgt.process.name
    dataSource.name='SentinelOne' | group ct=count() by event.type | sort -ct | limit 50

A query without `| limit` returns at most 1000 rows (the documented PowerQuery default).
Anything else (other commands, functions, aliases in `columns`) raises QueryParseError, so a
query the simulator cannot run fails loudly.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.simulator.predicates import order_key
from connector.simulator.query import QueryParseError, compile_sdl_filter

__all__ = ["DEFAULT_ROWS", "PowerQuery", "Table", "compile_pq"]

DEFAULT_ROWS = 1000
_FIELD = r"[A-Za-z_$@][A-Za-z0-9_.:@$]*"
_GROUP = re.compile(rf"^group\s+(?:(\w+)\s*=\s*)?count\(\)\s+by\s+({_FIELD}(?:\s*,\s*{_FIELD})*)$")
_COLUMNS = re.compile(rf"^columns\s+({_FIELD}(?:\s*,\s*{_FIELD})*)$")
_SORT = re.compile(rf"^sort\s+([+-]?)({_FIELD})$")
_LIMIT = re.compile(r"^limit\s+(\d+)$")


@dataclass(frozen=True)
class Table:
    """A PowerQuery answer: column names and rows."""

    columns: list[str]
    rows: list[list[Any]]


Stage = Callable[[Table], Table]


@dataclass(frozen=True)
class PowerQuery:
    """A compiled query: a record filter, then table stages, then a row cap."""

    where: Callable[[Mapping[str, Any]], bool]
    project: Callable[[Sequence[Mapping[str, Any]]], Table]
    stages: tuple[Stage, ...]
    row_cap: int

    def run(self, records: Sequence[Mapping[str, Any]]) -> Table:
        table = self.project([r for r in records if self.where(r)])
        for stage in self.stages:
            table = stage(table)
        return Table(table.columns, table.rows[: self.row_cap])


def compile_pq(query: str) -> PowerQuery:
    """Compile a PowerQuery; raise QueryParseError for anything outside the subset."""
    head, *commands = _split_pipes(query)
    filters = [compile_sdl_filter(head)] if head.strip() else []
    project: Callable[[Sequence[Mapping[str, Any]]], Table] | None = None
    stages: list[Stage] = []
    row_cap = DEFAULT_ROWS
    for command in (c.strip() for c in commands):
        if command.startswith("filter "):
            filters.append(compile_sdl_filter(command[len("filter ") :]))
        elif project is None and (found := _projection(command)) is not None:
            project = found
        elif (limit := _LIMIT.match(command)) is not None:
            row_cap = int(limit.group(1))
        elif (sort := _SORT.match(command)) is not None:
            stages.append(_sorter(sort.group(2), descending=sort.group(1) == "-"))
        else:
            raise QueryParseError(f"could not parse query: unsupported PowerQuery {command!r}")
    return PowerQuery(
        lambda r: all(f(r) for f in filters), project or _all_columns, tuple(stages), row_cap
    )


def _projection(command: str) -> Callable[[Sequence[Mapping[str, Any]]], Table] | None:
    if (columns := _COLUMNS.match(command)) is not None:
        names = _names(columns.group(1))
        return lambda recs: Table(names, [[r.get(n) for n in names] for r in recs])
    if (group := _GROUP.match(command)) is not None:
        return _grouper(group.group(1) or "count()", _names(group.group(2)))
    return None


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",")]


def _all_columns(records: Sequence[Mapping[str, Any]]) -> Table:
    names = sorted({key for record in records for key in record})
    return Table(names, [[r.get(n) for n in names] for r in records])


def _grouper(alias: str, keys: list[str]) -> Callable[[Sequence[Mapping[str, Any]]], Table]:
    def group(records: Sequence[Mapping[str, Any]]) -> Table:
        counts = Counter(tuple(r.get(k) for k in keys) for r in records)
        return Table([*keys, alias], [[*key, n] for key, n in counts.items()])

    return group


def _sorter(column: str, *, descending: bool) -> Stage:
    def sort(table: Table) -> Table:
        if column not in table.columns:
            raise QueryParseError(f"could not parse query: sort by unknown column {column!r}")
        at = table.columns.index(column)
        rows = sorted(table.rows, key=lambda row: order_key(row[at]), reverse=descending)
        return Table(table.columns, rows)

    return sort


def _split_pipes(query: str) -> list[str]:
    """Split on `|` outside quotes, leaving the `||` operator alone."""
    parts, current, quote, i = [], [], "", 0
    while i < len(query):
        char = query[i]
        if quote:
            current.append(char)
            if char == "\\" and i + 1 < len(query):
                current.append(query[i + 1])
                i += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
            current.append(char)
        elif char == "|" and query[i + 1 : i + 2] == "|":
            current.append("||")
            i += 1
        elif char == "|":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    parts.append("".join(current))
    return parts
