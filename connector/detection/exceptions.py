"""Kibana exception items compiled into event predicates, with Elasticsearch's matching rules.

Kibana turns a rule's exception items into one query filter (`build_exception_filter` in
Kibana's security solution): the items are OR-ed, an item's entries are AND-ed, and the whole
filter is negated, so an event that matches any item never reaches the rule. We do the same
per rule, on the rule's candidate events only (an event no stage of the rule takes is never
tested), so rules without exceptions cost nothing.

How each entry type reads, with Elasticsearch's semantics for ECS keyword fields:

| entry       | Kibana's query       | holds when (`included`)                                   |
|-------------|----------------------|-----------------------------------------------------------|
| `match`     | `match_phrase`       | some value equals the value (case-sensitive)              |
| `match_any` | OR of `match_phrase` | some value equals one of the values                       |
| `wildcard`  | `wildcard`           | some value matches (`*`, `?`, `\\` escapes; case-sensitive) |
| `exists`    | `exists`             | the field has a non-null value (an empty string counts)   |
| `list`      | `terms` (value list) | some value is in the list (`ip`: CIDR; `ip_range`: `a-b`) |
| `nested`    | `nested`             | one object of the array satisfies all inner entries       |

`excluded` is `must_not` of the same clause: it holds when no value matches, including when
the field is absent. A multi-valued field matches when any value does. Field types follow ECS:
a field whose last part is `ip` is an `ip` field (a `match` value may then be a CIDR block,
as an Elasticsearch `term` on an `ip` field allows); numbers and booleans compare as numbers
and booleans. Case-insensitive matching is what Elastic Endpoint's `.caseless` sub-fields
(lowercase normalizer) give: an entry on `process.name.caseless` compares `process.name`
lower-cased. `X.keyword` is read as `X`. Analyzed `.text` sub-fields are refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connector.detection.model import Event

__all__ = [
    "ExceptionItem",
    "ExceptionList",
    "HitFilter",
    "Predicate",
    "RuleExceptions",
    "ValueList",
    "compile_entries",
    "values_of",
]

Predicate = Callable[[Mapping[str, Any]], bool]

_CASELESS = ".caseless"


@dataclass(frozen=True)
class ValueList:
    """A Kibana value list read from its export (one value per line) and its list type."""

    list_id: str
    type: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class ExceptionItem:
    """One exception item: it matches an event when all of its entries do."""

    item_id: str
    name: str
    list_id: str
    source: str
    line: int
    test: Predicate
    fields: frozenset[str]


@dataclass(frozen=True)
class ExceptionList:
    """A Kibana exception list with its (unexpired) items, as read from an export file."""

    list_id: str
    name: str
    type: str
    namespace_type: str
    source: str
    line: int
    items: tuple[ExceptionItem, ...]
    expired: int = 0


@dataclass(frozen=True)
class RuleExceptions:
    """The exception items that apply to one rule (from every attached list)."""

    items: tuple[ExceptionItem, ...]

    def matches(self, event: Event) -> bool:
        """True when some item matches `event` (the event is then removed for this rule)."""
        return any(item.test(event) for item in self.items)

    def fields(self) -> frozenset[str]:
        """Every event field the items read."""
        out: set[str] = set()
        for item in self.items:
            out |= item.fields
        return frozenset(out)


# -- reading values -------------------------------------------------------------------------


def values_of(doc: Mapping[str, Any], field: str) -> list[Any]:
    """The non-null leaf values of `field` in a flat (dotted keys) or nested document.

    Lists are flattened (Elasticsearch indexes every element); objects are not leaves."""
    if field in doc:
        return _leaves(doc[field])
    parts = field.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        head = ".".join(parts[:cut])
        if head in doc:
            rest = ".".join(parts[cut:])
            found: list[Any] = []
            for obj in _objects(doc[head]):
                found += values_of(obj, rest)
            if found:
                return found
    return []


def _leaves(value: Any) -> list[Any]:
    if value is None or isinstance(value, dict):
        return []
    if isinstance(value, list | tuple):
        out: list[Any] = []
        for item in value:
            out += _leaves(item)
        return out
    return [value]


def _objects(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, dict)]
    return []


def _exists(doc: Mapping[str, Any], field: str) -> bool:
    if values_of(doc, field):
        return True
    # `exists` on an object field holds when any of its sub-fields has a value.
    prefix = field + "."
    return any(k.startswith(prefix) and _leaves(v) for k, v in doc.items()) or any(
        _leaves_deep(obj) for obj in _objects(doc.get(field))
    )


def _leaves_deep(obj: Mapping[str, Any]) -> bool:
    return any(_leaves(v) or any(_leaves_deep(o) for o in _objects(v)) for v in obj.values())


def nested_objects(doc: Mapping[str, Any], path: str) -> list[Mapping[str, Any]]:
    """The objects under a `nested` path: an array of objects, one object, or the flat
    `path.*` keys of the document taken as one object."""
    found = _objects(doc.get(path))
    if found:
        return found
    prefix = path + "."
    flat = {k[len(prefix) :]: v for k, v in doc.items() if k.startswith(prefix)}
    return [flat] if flat else []


# -- comparing values -----------------------------------------------------------------------


def _is_ip_field(field: str) -> bool:
    return field.rsplit(".", 1)[-1] == "ip"


def _ip_test(value: str) -> Callable[[Any], bool] | None:
    """An equality/containment test for an `ip` field value (None: the value is no IP)."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None

    def test(candidate: Any) -> bool:
        try:
            return ipaddress.ip_address(str(candidate)) in network
        except ValueError:
            return False

    return test


def _equals(field: str, value: str, caseless: bool) -> Callable[[Any], bool]:
    """How a `match_phrase` on an ECS field compares one event value with `value`."""
    if _is_ip_field(field):
        ip_test = _ip_test(value)
        if ip_test is not None:
            return ip_test
    wanted = value.lower() if caseless else value
    number = _number(value)

    def test(candidate: Any) -> bool:
        if isinstance(candidate, bool):
            return value in ("true", "false") and (value == "true") is candidate
        if isinstance(candidate, int | float):
            return number is not None and float(candidate) == number
        text = str(candidate)
        return (text.lower() if caseless else text) == wanted

    return test


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def wildcard_regex(pattern: str, caseless: bool) -> re.Pattern[str]:
    """Elasticsearch's wildcard syntax: `*` any run, `?` one character, `\\` escapes."""
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    if escaped:
        out.append(re.escape("\\"))
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if caseless else 0))


# -- compiling entries ----------------------------------------------------------------------


def _target(field: str) -> tuple[str, bool]:
    """The event field an entry reads, and whether it compares case-insensitively."""
    if field.endswith(_CASELESS):
        return field[: -len(_CASELESS)], True
    if field.endswith(".keyword"):
        return field[: -len(".keyword")], False
    return field, False


def _any_value(field: str, test: Callable[[Any], bool]) -> Predicate:
    def predicate(doc: Mapping[str, Any]) -> bool:
        return any(test(v) for v in values_of(doc, field))

    return predicate


def _negate(predicate: Predicate) -> Predicate:
    return lambda doc: not predicate(doc)


def _match(entry: Mapping[str, Any], lists: Mapping[str, ValueList]) -> Predicate:
    field, caseless = _target(entry["field"])
    return _any_value(field, _equals(field, entry["value"], caseless))


def _match_any(entry: Mapping[str, Any], lists: Mapping[str, ValueList]) -> Predicate:
    field, caseless = _target(entry["field"])
    tests = [_equals(field, v, caseless) for v in entry["value"]]
    return _any_value(field, lambda value: any(t(value) for t in tests))


def _wildcard(entry: Mapping[str, Any], lists: Mapping[str, ValueList]) -> Predicate:
    field, caseless = _target(entry["field"])
    regex = wildcard_regex(entry["value"], caseless)
    return _any_value(field, lambda v: isinstance(v, str) and regex.fullmatch(v) is not None)


def _exists_entry(entry: Mapping[str, Any], lists: Mapping[str, ValueList]) -> Predicate:
    field, _ = _target(entry["field"])
    return lambda doc: _exists(doc, field)


def _list(entry: Mapping[str, Any], lists: Mapping[str, ValueList]) -> Predicate:
    field, caseless = _target(entry["field"])
    value_list = lists[entry["list"]["id"]]
    if value_list.type in ("ip", "ip_range"):
        tests = [t for t in map(_range_test, value_list.values) if t is not None]
        return _any_value(field, lambda v: any(t(v) for t in tests))
    members = {v.lower() if caseless else v for v in value_list.values}

    def member(value: Any) -> bool:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        return (text.lower() if caseless else text) in members

    return _any_value(field, member)


def _range_test(value: str) -> Callable[[Any], bool] | None:
    """`a-b` (inclusive, as Elasticsearch's `range` gte/lte) or an address or CIDR block."""
    if "-" not in value:
        return _ip_test(value)
    low_text, _, high_text = value.partition("-")
    try:
        low, high = ipaddress.ip_address(low_text.strip()), ipaddress.ip_address(high_text.strip())
    except ValueError:
        return None

    def test(candidate: Any) -> bool:
        try:
            address = ipaddress.ip_address(str(candidate))
        except ValueError:
            return False
        return address.version == low.version and low <= address <= high  # type: ignore[operator]

    return test


def _nested(entry: Mapping[str, Any], lists: Mapping[str, ValueList]) -> Predicate:
    path = entry["field"]
    inner = compile_entries(entry["entries"], lists)

    def predicate(doc: Mapping[str, Any]) -> bool:
        return any(inner(obj) for obj in nested_objects(doc, path))

    return predicate


_COMPILERS: dict[str, Callable[[Mapping[str, Any], Mapping[str, ValueList]], Predicate]] = {
    "match": _match,
    "match_any": _match_any,
    "wildcard": _wildcard,
    "exists": _exists_entry,
    "list": _list,
    "nested": _nested,
}


def compile_entry(entry: Mapping[str, Any], lists: Mapping[str, ValueList]) -> Predicate:
    """One validated entry as a predicate (operator applied; nested entries have none)."""
    predicate = _COMPILERS[entry["type"]](entry, lists)
    return _negate(predicate) if entry.get("operator") == "excluded" else predicate


def compile_entries(
    entries: Sequence[Mapping[str, Any]], lists: Mapping[str, ValueList]
) -> Predicate:
    """All entries AND-ed (Kibana's `bool.filter` of an item's entries)."""
    tests = tuple(compile_entry(entry, lists) for entry in entries)
    if len(tests) == 1:
        return tests[0]
    return lambda doc: all(test(doc) for test in tests)


def entry_fields(entries: Sequence[Mapping[str, Any]]) -> set[str]:
    """The event fields a list of validated entries reads."""
    out: set[str] = set()
    for entry in entries:
        if entry["type"] == "nested":
            out.add(entry["field"])
            out |= {f"{entry['field']}.{f}" for f in entry_fields(entry["entries"])}
        else:
            out.add(_target(entry["field"])[0])
    return out


class HitFilter:
    """Drops the stage hits `(rule index, role)` of rules whose exceptions match the event.

    Built only when some rule has exceptions; it runs on candidate events (those some stage
    takes) and tests a rule's items only when the event is a candidate of that rule, so rules
    without exceptions pay nothing. `excepted` counts, per rule id, the events removed."""

    def __init__(self, rule_ids: Sequence[str], exceptions: Mapping[str, RuleExceptions]) -> None:
        self.by_index = {
            index: (rule_id, exceptions[rule_id])
            for index, rule_id in enumerate(rule_ids)
            if rule_id in exceptions
        }
        self.excepted: dict[str, int] = {}

    def __call__(self, event: Event, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
        by_index = self.by_index
        verdicts: dict[int, bool] | None = None
        kept: list[tuple[int, int]] = []
        for hit in hits:
            found = by_index.get(hit[0])
            if found is None:
                kept.append(hit)
                continue
            if verdicts is None:
                verdicts = {}
            removed = verdicts.get(hit[0])
            if removed is None:
                removed = verdicts[hit[0]] = found[1].matches(event)
                if removed:
                    self.excepted[found[0]] = self.excepted.get(found[0], 0) + 1
            if not removed:
                kept.append(hit)
        return kept
