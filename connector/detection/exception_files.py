"""Reading Kibana exception-list exports (NDJSON) and value-list exports, strictly.

An export (Kibana's Exceptions page, or `POST /api/exception_lists/_export`) is one JSON
object per line: the list (`list_id`, `name`, `type`, ...), then its items (`item_id`,
`entries`, ...), then a summary (`exported_exception_list_count`, ...). Several lists may
share a file (a rules export carries its lists that way). Every problem is reported with the
file and the line: unknown keys, wrong types, unknown entry types or operators, items of a
list that is not in the file, a summary whose counts disagree with the lines.

A value list (`list` entries) is read from the file Kibana's value-list export writes: one
value per line. An entry whose list has no local copy is refused, with what to do.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from connector.detection.exceptions import (
    ExceptionItem,
    ExceptionList,
    ValueList,
    compile_entries,
    entry_fields,
)
from connector.detection.model import ExceptionRef
from connector.errors import ConfigError, RuleError
from connector.timeutil import to_datetime

__all__ = [
    "ExceptionFile",
    "load_exception_file",
    "parse_exception_file",
    "parse_list_refs",
    "read_value_list",
]

log = logging.getLogger(__name__)

_Check = Callable[[Any], bool]


def _str(value: Any) -> bool:
    return isinstance(value, str)


def _nonempty(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _os_types(value: Any) -> bool:
    return isinstance(value, list) and all(v in ("windows", "linux", "macos") for v in value)


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def _anything(value: Any) -> bool:
    return True


RULE_LIST_TYPES = frozenset({"detection", "endpoint", "rule_default"})
_COMMON: dict[str, tuple[_Check, str]] = {
    "_version": (_anything, ""),
    "created_at": (_str, "a string"),
    "created_by": (_str, "a string"),
    "updated_at": (_str, "a string"),
    "updated_by": (_str, "a string"),
    "description": (_str, "a string"),
    "id": (_str, "a string"),
    "list_id": (_nonempty, "a non-empty string"),
    "name": (_str, "a string"),
    "namespace_type": (lambda v: v in ("single", "agnostic"), '"single" or "agnostic"'),
    "os_types": (_os_types, 'a list of "windows", "linux", "macos"'),
    "tags": (_strings, "a list of strings"),
    "tie_breaker_id": (_str, "a string"),
    "meta": (lambda v: v is None or isinstance(v, dict), "an object"),
}
LIST_KEYS: dict[str, tuple[_Check, str]] = {
    **_COMMON,
    "immutable": (lambda v: isinstance(v, bool), "true or false"),
    "version": (_int, "a whole number"),
    "type": (
        lambda v: v in RULE_LIST_TYPES,
        "a rule exception list type (detection, endpoint, rule_default)",
    ),
}
ITEM_KEYS: dict[str, tuple[_Check, str]] = {
    **_COMMON,
    "item_id": (_nonempty, "a non-empty string"),
    "type": (lambda v: v == "simple", '"simple"'),
    "comments": (_objects, "a list of objects"),
    "expire_time": (lambda v: v is None or to_datetime(v) is not None, "an ISO 8601 time"),
    "entries": (lambda v: isinstance(v, list) and bool(v), "a non-empty list"),
}
SUMMARY_KEYS = {
    "exported_exception_list_count": (_int, "a whole number"),
    "exported_exception_list_item_count": (_int, "a whole number"),
    "missing_exception_list_item_count": (_int, "a whole number"),
    "missing_exception_list_items": (lambda v: isinstance(v, list), "a list"),
    "missing_exception_lists": (lambda v: isinstance(v, list), "a list"),
    "missing_exception_lists_count": (_int, "a whole number"),
}
_REQUIRED_LIST = ("list_id", "name", "type")
_REQUIRED_ITEM = ("item_id", "list_id", "name", "type", "entries")
_OPERATORS = ("included", "excluded")
_ENTRY_KEYS = {
    "match": {"field", "operator", "type", "value"},
    "match_any": {"field", "operator", "type", "value"},
    "wildcard": {"field", "operator", "type", "value"},
    "exists": {"field", "operator", "type"},
    "list": {"field", "operator", "type", "list"},
    "nested": {"field", "type", "entries"},
}
_NESTED_TYPES = ("match", "match_any", "exists")
VALUE_LIST_TYPES = ("keyword", "ip", "ip_range")


@dataclass
class ExceptionFile:
    """What one export file holds: its lists (items compiled) and every problem found."""

    source: str
    lists: list[ExceptionList] = field(default_factory=list)
    problems: list[RuleError] = field(default_factory=list)


@dataclass
class _Pending:
    line: int
    data: dict[str, Any]
    items: list[ExceptionItem] = field(default_factory=list)
    expired: int = 0


def read_value_list(list_id: str, list_type: str, path: Path) -> ValueList:
    """A value list from Kibana's export (one value per line; blank lines ignored)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read value list {list_id!r} from {path}: {exc}") from exc
    values = tuple(line.strip() for line in text.splitlines() if line.strip())
    return ValueList(list_id, list_type, values)


def load_exception_file(
    path: Path, value_lists: Mapping[str, Path] | None = None, now: datetime | None = None
) -> list[ExceptionList]:
    """Read one export; raise ConfigError listing every problem (file:line each)."""
    parsed = parse_exception_file(path, value_lists or {}, now)
    if parsed.problems:
        raise ConfigError(
            f"{path}: {len(parsed.problems)} problem(s) in the exception list export",
            [str(p) for p in parsed.problems],
        )
    return parsed.lists


def parse_exception_file(
    path: Path, value_lists: Mapping[str, Path], now: datetime | None = None
) -> ExceptionFile:
    """Parse and compile an export, collecting problems instead of stopping at the first."""
    out = ExceptionFile(str(path))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        out.problems.append(RuleError(f"cannot read exception list file: {exc}", source=str(path)))
        return out
    reader = _Reader(out, value_lists, now)
    for number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            reader.line(number, line)
    reader.finish()
    return out


class _Reader:
    """Line-by-line state of one file: lists by id, the summary, problems."""

    def __init__(
        self, out: ExceptionFile, value_lists: Mapping[str, Path], now: datetime | None
    ) -> None:
        self.out = out
        self.value_lists = value_lists
        self.now = now
        self.lists: dict[str, _Pending] = {}
        self.items = 0
        self.summary: tuple[int, dict[str, Any]] | None = None
        self.loaded: dict[tuple[str, str], ValueList] = {}

    def problem(self, line: int | None, message: str) -> None:
        self.out.problems.append(RuleError(message, source=self.out.source, line=line))

    def line(self, number: int, text: str) -> None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            self.problem(number, f"not JSON: {exc.msg} (column {exc.colno})")
            return
        if not isinstance(data, dict):
            self.problem(number, "a line must be a JSON object")
        elif self.summary is not None:
            self.problem(number, "a line after the export summary")
        elif "exported_exception_list_count" in data:
            self._keys(number, data, SUMMARY_KEYS, tuple(SUMMARY_KEYS), "summary")
            self.summary = (number, data)
        elif "item_id" in data or "entries" in data:
            self._item(number, data)
        elif "list_id" in data:
            if self._keys(number, data, LIST_KEYS, _REQUIRED_LIST, "exception list"):
                self._add_list(number, data)
        else:
            self.problem(number, "neither an exception list, an item nor the export summary")

    def _keys(
        self,
        number: int,
        data: Mapping[str, Any],
        schema: Mapping[str, tuple[_Check, str]],
        required: Sequence[str],
        what: str,
    ) -> bool:
        ok = True
        for key in sorted(set(data) - set(schema)):
            self.problem(number, f"{what}: unknown field {key!r}")
            ok = False
        for key in required:
            if key not in data:
                self.problem(number, f"{what}: missing field {key!r}")
                ok = False
        for key, value in data.items():
            check = schema.get(key)
            if check is not None and not check[0](value):
                self.problem(number, f"{what}: {key} must be {check[1]}, got {value!r}")
                ok = False
        return ok

    def _add_list(self, number: int, data: dict[str, Any]) -> None:
        if data["list_id"] in self.lists:
            self.problem(number, f"exception list {data['list_id']!r} appears twice")
            return
        self.lists[data["list_id"]] = _Pending(number, data)

    def _item(self, number: int, data: dict[str, Any]) -> None:
        self.items += 1
        if not self._keys(number, data, ITEM_KEYS, _REQUIRED_ITEM, "item"):
            return
        owner = self.lists.get(data["list_id"])
        if owner is None:
            self.problem(number, f"item of list {data['list_id']!r}, which is not in this file")
            return
        problems = _entry_problems(data["entries"], "entries", nested=False)
        problems = problems or self._value_list_problems(data["entries"])
        for message in problems:
            self.problem(number, f"item {data['item_id']!r}: {message}")
        if problems:
            return
        if self._expired(data):
            owner.expired += 1
            log.info("exception item %s (%s:%d) has expired; not applied",
                     data["item_id"], self.out.source, number)  # fmt: skip
            return
        owner.items.append(self._compile(number, data))

    def _expired(self, data: Mapping[str, Any]) -> bool:
        moment = to_datetime(data.get("expire_time"))
        return moment is not None and self.now is not None and moment <= self.now

    def _compile(self, number: int, data: Mapping[str, Any]) -> ExceptionItem:
        entries = list(data["entries"])
        os_types = data.get("os_types") or []
        test = compile_entries(entries, self._lists_for(entries))
        if os_types:
            test = _with_os_types(test, tuple(os_types))
        fields = entry_fields(entries) | ({"host.os.type", "host.os.name"} if os_types else set())
        return ExceptionItem(
            item_id=data["item_id"],
            name=data["name"],
            list_id=data["list_id"],
            source=self.out.source,
            line=number,
            test=test,
            fields=frozenset(fields),
        )

    def _value_list_problems(self, entries: Sequence[Mapping[str, Any]]) -> list[str]:
        problems: list[str] = []
        for entry in _list_entries(entries):
            list_id, list_type = entry["list"]["id"], entry["list"]["type"]
            path = self.value_lists.get(list_id)
            if path is None:
                problems.append(
                    f"value list {list_id!r} has no local copy: export it from Kibana (Value "
                    f"lists, Export) and add [[rules.value_lists]] id = {json.dumps(list_id)}, "
                    f"file = ... to the config"
                )
                continue
            try:
                self.loaded[(list_id, list_type)] = read_value_list(list_id, list_type, path)
            except ConfigError as exc:
                problems.append(str(exc))
        return problems

    def _lists_for(self, entries: Sequence[Mapping[str, Any]]) -> dict[str, ValueList]:
        return {
            e["list"]["id"]: self.loaded[(e["list"]["id"], e["list"]["type"])]
            for e in _list_entries(entries)
        }

    def finish(self) -> None:
        if self.summary is None:
            self.problem(None, "no export summary line: the file is incomplete or not an export")
        else:
            self._check_summary(*self.summary)
        for list_id, pending in self.lists.items():
            data = pending.data
            self.out.lists.append(
                ExceptionList(
                    list_id=list_id,
                    name=data["name"],
                    type=data["type"],
                    namespace_type=data.get("namespace_type", "single"),
                    source=self.out.source,
                    line=pending.line,
                    items=tuple(pending.items),
                    expired=pending.expired,
                )
            )

    def _check_summary(self, number: int, data: Mapping[str, Any]) -> None:
        expected = (data.get("exported_exception_list_count"),
                    data.get("exported_exception_list_item_count"))  # fmt: skip
        if expected != (len(self.lists), self.items):
            self.problem(
                number,
                f"the summary counts {expected[0]} list(s) and {expected[1]} item(s), the file "
                f"holds {len(self.lists)} and {self.items}: it is truncated or edited",
            )


def _list_entries(entries: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [e for e in entries if isinstance(e, dict) and e.get("type") == "list"]


def _with_os_types(test: Any, os_types: tuple[str, ...]) -> Any:
    """Kibana adds `host.os.type` (or Endpoint's `host.os.name.caseless`) = one of os_types."""

    def predicate(doc: Mapping[str, Any]) -> bool:
        os_type = doc.get("host.os.type")
        name = doc.get("host.os.name")
        matched = os_type in os_types or (isinstance(name, str) and name.lower() in os_types)
        return matched and bool(test(doc))

    return predicate


def _entry_problems(entries: Any, where: str, *, nested: bool) -> list[str]:
    if not isinstance(entries, list) or not entries:
        return [f"{where} must be a non-empty list"]
    problems: list[str] = []
    for index, entry in enumerate(entries):
        problems += _one_entry(entry, f"{where}[{index}]", nested)
    return problems


def _one_entry(entry: Any, where: str, nested: bool) -> list[str]:
    if not isinstance(entry, dict):
        return [f"{where} must be an object"]
    kind = entry.get("type")
    allowed = _NESTED_TYPES if nested else tuple(_ENTRY_KEYS)
    if kind not in allowed:
        return [f"{where}.type must be one of {', '.join(allowed)}, got {kind!r}"]
    problems = [f"{where}: unknown field {k!r}" for k in sorted(set(entry) - _ENTRY_KEYS[kind])]
    problems += [f"{where}: missing field {k!r}" for k in sorted(_ENTRY_KEYS[kind] - set(entry))]
    if problems:
        return problems
    return _entry_values(entry, where, kind)


def _entry_values(entry: Mapping[str, Any], where: str, kind: str) -> list[str]:
    problems: list[str] = []
    name = entry["field"]
    if not _nonempty(name):
        problems.append(f"{where}.field must be a non-empty string")
    elif name.endswith(".text"):
        problems.append(
            f"{where}.field {name!r}: analyzed .text sub-fields are not supported; use the "
            f"keyword field (a wildcard entry for partial matches)"
        )
    if kind != "nested" and entry["operator"] not in _OPERATORS:
        problems.append(f"{where}.operator must be included or excluded, got {entry['operator']!r}")
    value = entry.get("value")
    if kind in ("match", "wildcard") and not _nonempty(value):
        problems.append(f"{where}.value must be a non-empty string, got {value!r}")
    if kind == "match_any" and not (
        isinstance(value, list) and value and all(_nonempty(v) for v in value)
    ):
        problems.append(f"{where}.value must be a non-empty list of strings, got {value!r}")
    if kind == "list":
        problems += _list_ref_problems(entry["list"], where)
    if kind == "nested":
        problems += _entry_problems(entry["entries"], f"{where}.entries", nested=True)
    return problems


def _list_ref_problems(ref: Any, where: str) -> list[str]:
    if not isinstance(ref, dict) or set(ref) != {"id", "type"} or not _nonempty(ref.get("id")):
        return [f"{where}.list must be an object with id and type"]
    if ref["type"] not in VALUE_LIST_TYPES:
        return [
            f"{where}.list.type {ref['type']!r} is not supported (supported: "
            f"{', '.join(VALUE_LIST_TYPES)}); a text list needs an analyzer we do not emulate"
        ]
    return []


def parse_list_refs(value: Any, source: str) -> tuple[ExceptionRef, ...]:
    """A rule TOML's `[[rule.exceptions_list]]` entries (`id`, `list_id`, `namespace_type`,
    `type`), as Kibana writes them into rule exports."""
    if value is None:
        return ()
    where = "[[rule.exceptions_list]]"
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise RuleError(f"{where} must be an array of tables", source=source)
    refs: list[ExceptionRef] = []
    for index, ref in enumerate(value):
        unknown = sorted(set(ref) - {"id", "list_id", "namespace_type", "type"})
        if unknown:
            message = f"{where} #{index + 1}: unknown key(s) {', '.join(unknown)}"
            raise RuleError(message, source=source)
        namespace = ref.get("namespace_type", "single")
        if not _nonempty(ref.get("list_id")) or namespace not in ("single", "agnostic"):
            raise RuleError(
                f"{where} #{index + 1}: needs list_id (a string) and namespace_type "
                f'"single" or "agnostic"',
                source=source,
            )
        refs.append(ExceptionRef(ref["list_id"], namespace, str(ref.get("type", "detection"))))
    return tuple(refs)
