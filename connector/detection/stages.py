"""Which stage conditions an event satisfies (category dispatch) and its join keys.

`Dispatch` makes the cost of an event grow with the stages it could match, not with the
number of rules. Every stage of every rule is indexed by its event category (an `any where`
stage by the categories its condition requires, `anchors.categories_of`, else under every
category), so an event costs one dict lookup unless its category is used by some rule.
Within a category:

* stages with an anchor (`anchors.py`) sit in a table per anchor field, keyed by the
  anchor's values case-folded: the event's value of that field, folded, selects the few
  stages worth trying (a case-sensitive anchor is then a superset: its condition decides);
* stages with needles (`needles.py`) but no anchor sit in a table keyed by needle (a text
  in a field): one literal pass over the event's values of the category's needle fields
  (`literal_pass.py`) tells which needles it carries, and only their stages are tried. An
  anchored stage with needles from its other terms is tried only when the event also
  carries one of those (a second gate);
* a stage with neither is anchored on number values or on a field shared by most events
  when it tests one (`anchors.index_anchor`: `destination.port == 88`, `host.os.type ==
  "linux"`); the rest (`plain`) are tried for every event of the category.

Only then are the precompiled conditions run. Every gate is a necessary condition of the
stage's condition, so the hits are exactly those of running every condition
(`use_index=False`, which the tests compare against).

A `Hit` is `(rule index, role)`, where role is the index of the stage condition in
`CompiledRule.stages`, or -1 for `until`. Hits come out sorted, so their order never depends
on the index.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import product
from typing import Any

from connector.detection.anchors import Anchor, categories_of, index_anchor
from connector.detection.eql import ast
from connector.detection.literal_pass import LiteralPass, Plan
from connector.detection.model import Event
from connector.detection.program import CompiledRule, Stage

__all__ = ["UNTIL", "Dispatch", "Hit", "join_keys"]

log = logging.getLogger(__name__)

UNTIL = -1
Hit = tuple[int, int]
Gate = frozenset[int] | None
"""The needle numbers of which an event must carry one (None: no such gate)."""
_Check = tuple[Callable[[Event], bool], Hit, Gate]
_Table = dict[Any, tuple[_Check, ...]]
"""Anchor value (a string folded, or a number) -> the checks anchored on it."""


@dataclass(frozen=True)
class _Index:
    """The stages of one category: always tried (`plain`), looked up by the folded value of
    an anchor field (`anchored`: field, table), or by the needles the event carries, which
    the literal pass finds in the fields of `plan` (those of the category's needles)."""

    plain: tuple[_Check, ...] = ()
    anchored: tuple[tuple[str, _Table], ...] = ()
    by_needle: dict[int, tuple[_Check, ...]] = field(default_factory=dict)
    plan: Plan = ()


@dataclass
class _IndexBuilder:
    """Collects the checks of one category, then freezes them into an `_Index`."""

    plain: list[_Check] = field(default_factory=list)
    tables: dict[str, dict[Any, list[_Check]]] = field(default_factory=dict)
    by_needle: dict[int, list[_Check]] = field(default_factory=dict)

    def add(self, check: _Check, anchor: Anchor | None) -> None:
        if anchor is not None:
            table = self.tables.setdefault(anchor.field, {})
            # One table per field, keyed folded: a case-sensitive anchor's stages are then
            # also tried for other spellings of its values, and their conditions decide.
            for value in dict.fromkeys(_fold(v) for v in anchor.values):
                table.setdefault(value, []).append(check)
        elif check[2] is not None:
            for number in check[2]:
                self.by_needle.setdefault(number, []).append(check)
        else:
            self.plain.append(check)

    def freeze(self, literals: LiteralPass) -> _Index:
        anchored = tuple(
            (name, {value: tuple(checks) for value, checks in table.items()})
            for name, table in self.tables.items()
        )
        by_needle = {number: tuple(checks) for number, checks in self.by_needle.items()}
        needles = set(by_needle)
        for table in self.tables.values():
            for checks in table.values():
                for _, _, gate in checks:
                    needles.update(gate or ())
        return _Index(
            tuple(self.plain), anchored, by_needle, literals.plan(literals.fields_of(needles))
        )


@dataclass(frozen=True)
class _Entry:
    """One stage condition to index: where (categories; None = every one) and how."""

    categories: frozenset[str] | None
    check: _Check
    anchor: Anchor | None


class Dispatch:
    """Category-, anchor- and needle-indexed stage conditions of a rule set.

    `category_field` is the field whose value `candidates` is given (the engine's). With
    `use_index=False` every stage condition of the category runs, and an `any where` stage
    runs for every category (same hits, slower; for tests that check the index changes
    nothing)."""

    def __init__(
        self,
        rules: Sequence[CompiledRule],
        *,
        use_index: bool = True,
        category_field: str = "event.category",
    ) -> None:
        self.literals = LiteralPass()
        entries: list[_Entry] = []
        for rule_index, compiled in enumerate(rules):
            for role, stage, condition in _roles(compiled):
                if use_index:
                    entries.append(
                        self._entry(stage, condition, (rule_index, role), category_field)
                    )
                else:
                    categories = None if stage.category is None else frozenset({stage.category})
                    check: _Check = (stage.condition.fn, (rule_index, role), None)
                    entries.append(_Entry(categories, check, None))
        self.literals.freeze()
        named = {name for entry in entries for name in entry.categories or ()}
        indexes = {name: _IndexBuilder() for name in named}
        fallback = _IndexBuilder()
        for entry in entries:
            # An `any where` stage with no category term belongs to every category's index
            # and to the fallback (categories no stage names).
            if entry.categories is None:
                targets = [*indexes.values(), fallback]
            else:
                targets = [indexes[name] for name in sorted(entry.categories)]
            for index in targets:
                index.add(entry.check, entry.anchor)
        self._indexes = {name: index.freeze(self.literals) for name, index in indexes.items()}
        self._fallback = fallback.freeze(self.literals)
        self.errors = 0

    def _entry(self, stage: Stage, condition: ast.Expr, hit: Hit, category_field: str) -> _Entry:
        categories = (
            frozenset({stage.category})
            if stage.category is not None
            else categories_of(condition, category_field)
        )
        gate = self._gate(stage)
        anchor = stage.anchor
        if anchor is None and gate is None:
            anchor = index_anchor(condition)
        return _Entry(categories, (stage.condition.fn, hit, gate), anchor)

    def _gate(self, stage: Stage) -> Gate:
        needles = stage.needles
        if needles is None:
            return None
        return frozenset().union(
            *(self.literals.ids_of(text, needles.fields) for text in needles.texts)
        )

    def candidates(self, event: Event, category: Any) -> list[Hit] | None:
        """The hits of `event`, sorted (None when it matches nothing). `category` may be a list."""
        try:
            # The common shapes inline (one category, possibly in a one-element list): this
            # runs for every event of the stream.
            if category.__class__ is not list:
                return self._run(self._indexes.get(category, self._fallback), event)
            if len(category) == 1:
                return self._run(self._indexes.get(category[0], self._fallback), event)
            return self._several(category, event)
        except (TypeError, AttributeError, ValueError, OverflowError) as exc:
            # A malformed event (e.g. an object where a string was expected) must not stop
            # the run: it is counted and skipped.
            self.errors += 1
            log.debug("event skipped, evaluating it failed: %s", exc)
            return None

    def _several(self, categories: list[Any], event: Event) -> list[Hit] | None:
        found: set[Hit] = set()
        for name in dict.fromkeys(categories):
            found.update(self._run(self._indexes.get(name, self._fallback), event) or ())
        return sorted(found) or None

    def _run(self, index: _Index, event: Event) -> list[Hit] | None:
        hits: list[Hit] = []
        carried: frozenset[int] | None = None  # the literal pass, done once when needed
        for condition, hit, _ in index.plain:
            if condition(event):
                hits.append(hit)
        for name, table in index.anchored:
            value = event.get(name)
            if value is None:
                continue
            for condition, hit, gate in _lookup(table, value):
                if gate is not None:
                    if carried is None:
                        carried = self.literals.found(event, index.plan)
                    if gate.isdisjoint(carried):
                        continue
                if condition(event):
                    hits.append(hit)
        if index.by_needle:
            if carried is None:
                carried = self.literals.found(event, index.plan)
            if carried:
                _by_needle(index.by_needle, carried, event, hits)
        if len(hits) > 1:
            hits.sort()
        return hits or None


def _roles(compiled: CompiledRule) -> Iterator[tuple[int, Stage, ast.Expr]]:
    """Each stage of a rule with its role (`UNTIL` first) and its condition's AST."""
    body = compiled.query.body
    if isinstance(body, ast.EventQuery):
        yield 0, compiled.stages[0], body.condition
        return
    if compiled.until is not None and body.until is not None:
        yield UNTIL, compiled.until, body.until.query.condition
    for role, (stage, written) in enumerate(zip(compiled.stages, body.stages, strict=True)):
        yield role, stage, written.query.condition


def _by_needle(
    table: dict[int, tuple[_Check, ...]], carried: frozenset[int], event: Event, hits: list[Hit]
) -> None:
    """Try the stages gated by the needles the event carries, each once."""
    if len(carried) == 1:
        for number in carried:
            for condition, hit, _ in table.get(number, _NONE):
                if condition(event):
                    hits.append(hit)
        return
    tried: set[Hit] = set()
    for number in carried:
        for condition, hit, _ in table.get(number, _NONE):
            if hit not in tried:
                tried.add(hit)
                if condition(event):
                    hits.append(hit)


_NONE: tuple[_Check, ...] = ()


def _fold(value: Any) -> Any:
    return value.casefold() if value.__class__ is str else value


_NUMBERS = (int, float)


def _lookup(table: _Table, value: Any) -> Sequence[_Check]:
    """The checks whose anchor may hold for `value` (a string, a number or a list of them).
    A string never finds a number's checks nor the reverse (EQL: no match across types);
    booleans and other values find none."""
    kind = value.__class__
    if kind is str:
        return table.get(value.casefold(), _NONE)
    if kind in _NUMBERS:
        return table.get(value, _NONE)
    if kind is not list:
        return _NONE
    found: dict[int, _Check] = {}
    for item in value:
        kind = item.__class__
        if kind is str:
            key = item.casefold()
        elif kind in _NUMBERS:
            key = item
        else:
            continue
        for check in table.get(key, _NONE):
            found[id(check)] = check
    return tuple(found.values())


def join_keys(stage: Stage, event: Event) -> list[tuple[Any, ...]]:
    """The join keys of `event` for `stage`: one tuple per combination of key values.

    A multi-valued key field yields one key per distinct value; a missing or null key field
    yields no key (the event takes no part) unless the key was written `?field`, in which
    case null is a key value like any other."""
    if not stage.keys:
        return [()]
    if len(stage.keys) == 1:  # the common case: one key, one text value
        value = event.get(stage.keys[0].name)
        if value.__class__ is str:
            return [(value,)]
    choices: list[list[Any]] = []
    for key in stage.keys:
        value = event.get(key.name)
        if value.__class__ is list:
            options = [v for v in dict.fromkeys(_hashable(v) for v in value) if v is not None]
        else:
            options = [] if value is None else [_hashable(value)]
        if not options:
            if not key.optional:
                return []
            options = [None]
        choices.append(options)
    if len(choices) == 1:
        return [(v,) for v in choices[0]]
    return list(product(*choices))


def _hashable(value: Any) -> Any:
    # Join keys are dict keys and JSON values; anything else becomes its text.
    if value.__class__ in _JSON_SCALARS or isinstance(value, str | int | float | bool):
        return value
    return str(value)


_JSON_SCALARS = frozenset({str, int, float, bool, type(None)})
"""The exact types `_hashable` keeps without the slower isinstance test (subclasses too)."""
