"""Replay's two passes over its files: lines a rule's *root* stage may match, then lines
holding a join value of a root match.

A sequence `by` keys can only complete with events that share the key values of one of its
stages' matches. So, per sequence rule whose join keys can be looked for in raw lines, only
one stage — the one with the most selective needles, its *root* — goes into the first pass's
prefilter; its other stages (and `until`) are taken in a second pass, from the lines that
hold a key value of some root match (`JoinValues`). Broad later stages such as `[network
where host.os.type == "windows"]` then cost nothing for the many events of agents where the
first stage never matched. Single-event rules, sequences without keys and sequences whose
key fields are not copied verbatim into the raw line (`literal_prefilter.field_filter`)
keep every stage in the first pass.

Exact: every event of a sequence match holds the same key values as the match's root event
(a first-pass candidate); the second pass takes every line holding such a value that the
first pass did not take, and the engine then evaluates the union in order as before. A key
value that cannot be searched for as text (null, a float, no usable run) makes the second
pass fall back, for that rule, to its other stages' own needles.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from connector.detection.engine import Candidate
from connector.detection.model import Event
from connector.detection.needles import FieldFilter
from connector.detection.program import CompiledRule, KeyField, Stage
from connector.detection.stages import UNTIL, Hit, join_keys
from connector.sources.base import Shape
from connector.sources.literal_prefilter import (
    GROUPS,
    Rank,
    field_filter,
    ranked_groups,
    raw_run,
    stage_queries,
)
from connector.sources.query import Alternative, Group, Prefilter

__all__ = ["JoinValues", "ReplayFilter", "replay_filter"]

_EVERYTHING: Alternative = ()


@dataclass(frozen=True)
class JoinSpec:
    """A sequence rule whose non-root stages are taken by join value: `root` is the index of
    the root stage in `CompiledRule.stages`; `rest` the first-pass test of the other stages
    (used when a key value cannot be searched for)."""

    rule: int
    root: int
    stage: Stage
    rest: tuple[Alternative, ...]
    roles: dict[int, Stage]
    """Every role of the rule (`Hit` numbering: `UNTIL` for until) and its stage."""
    by_value: bool
    """The other stages are read in the second pass (else in the first, by their needles)."""


@dataclass(frozen=True)
class ReplayFilter:
    """The first pass's prefilter and the rules joined in the second pass."""

    first: Prefilter
    joins: tuple[JoinSpec, ...]

    def join_values(self) -> JoinValues:
        return JoinValues(self.joins)


def replay_filter(rules: Sequence[CompiledRule], shape: Shape) -> ReplayFilter:
    """The two-pass filter for lines of `shape` (see the module docstring)."""
    usable = field_filter(shape)
    keys = shape == "ecs"
    alternatives: list[Alternative] = []
    joins: list[JoinSpec] = []
    for number, compiled in enumerate(rules):
        ranked = [
            ranked_groups(condition, usable, keys=keys, category=category)
            for category, condition in stage_queries(compiled)
        ]
        tests = [tuple(g for _, g in r[:GROUPS]) or None for r in ranked]
        root = _root(compiled, ranked, usable)
        if root is None:
            alternatives.extend(t if t is not None else _EVERYTHING for t in tests)
            continue
        rest = tuple(t if t is not None else _EVERYTHING for i, t in enumerate(tests) if i != root)
        # Another pass costs a read of every file: only worth it for a broad stage (no
        # needle, or none better than field names, short or unselective ones).
        by_value = any(not r or r[0][0][0] > 0 for i, r in enumerate(ranked) if i != root)
        root_test = tests[root] or _EVERYTHING
        alternatives.extend((root_test,) if by_value else (*rest, root_test))
        roles = dict(enumerate(compiled.stages))
        if compiled.until is not None:
            roles[UNTIL] = compiled.until
        joins.append(JoinSpec(number, root, compiled.stages[root], rest, roles, by_value))
    descriptions = tuple(c.rule.name for c in rules)
    if any(not alternative for alternative in alternatives):
        return ReplayFilter(Prefilter.everything(), ())  # one pass takes every line anyway
    return ReplayFilter(Prefilter(tuple(dict.fromkeys(alternatives)), descriptions), tuple(joins))


def _root(
    compiled: CompiledRule, ranked: list[list[tuple[Rank, Group]]], usable: FieldFilter
) -> int | None:
    """The stage whose best needle group ranks best (`literal_prefilter.ranked_groups`:
    selective values before field names, short needles and unselective values), when the
    rule is a sequence whose every stage has join keys that raw lines hold verbatim; else
    None."""
    if not compiled.sequence or len(compiled.stages) < 2:
        return None
    stages = [*compiled.stages, *((compiled.until,) if compiled.until is not None else ())]
    if any(not stage.keys or not all(usable(k.name) for k in stage.keys) for stage in stages):
        return None
    best = [(r[0][0], index) for index, r in enumerate(ranked[: len(compiled.stages)]) if r]
    return min(best)[1] if best else None


class JoinValues:
    """Collects the key values of root matches during the first pass; `prefilter()` is then
    the second pass's test."""

    def __init__(self, joins: Iterable[JoinSpec]) -> None:
        self._joins = {spec.rule: spec for spec in joins}
        self.needles: set[bytes] = set()
        self.unsearchable: set[int] = set()
        self.roots: dict[int, set[tuple[object, ...]]] = {rule: set() for rule in self._joins}
        self.dropped = 0

    def add(self, event: Event, hits: Sequence[Hit]) -> None:
        """Note the key values of `event` for the joined rules whose root it matches."""
        joins = self._joins
        for rule, role in hits:
            spec = joins.get(rule)
            if spec is None or role != spec.root:
                continue
            keys = join_keys(spec.stage, event)
            self.roots[rule].update(keys)
            if not spec.by_value or rule in self.unsearchable:
                continue
            for key in keys:
                needle = _key_needle(key)
                if needle is None:
                    self.unsearchable.add(rule)
                    break
                if needle:
                    self.needles.add(needle)

    def needed(self, candidates: Iterable[Candidate]) -> Iterator[Candidate]:
        """`candidates` without the hits that cannot take part in a match: a joined rule's
        non-root stage whose join key no root match has (counted in `dropped`); a candidate
        left with no hit goes. Call after every candidate was `add`ed."""
        joins = self._joins
        roots = self.roots
        for candidate in candidates:
            key, event, hits = candidate
            if all(hit[0] not in joins for hit in hits):
                yield candidate
                continue
            memo: dict[tuple[KeyField, ...], list[tuple[Any, ...]]] = {}
            kept = [hit for hit in hits if _needed(hit, event, joins, roots, memo)]
            if len(kept) != len(hits):
                self.dropped += len(hits) - len(kept)
                if not kept:
                    continue
            yield key, event, kept

    def prefilter(self) -> Prefilter | None:
        """The second pass's test, or None when it has nothing to look for."""
        alternatives: dict[Alternative, None] = {((needle,),): None for needle in self.needles}
        for rule in sorted(self.unsearchable):
            alternatives.update(dict.fromkeys(self._joins[rule].rest))
        if not alternatives:
            return None
        if _EVERYTHING in alternatives:
            return Prefilter.everything()
        return Prefilter(tuple(alternatives), ("join values of root matches",))


def _needed(
    hit: Hit,
    event: Event,
    joins: dict[int, JoinSpec],
    roots: dict[int, set[tuple[object, ...]]],
    memo: dict[tuple[KeyField, ...], list[tuple[Any, ...]]],
) -> bool:
    spec = joins.get(hit[0])
    if spec is None or hit[1] == spec.root:
        return True
    stage = spec.roles[hit[1]]
    keys = memo.get(stage.keys)
    if keys is None:  # rules joined on the same fields share the event's keys
        keys = memo[stage.keys] = join_keys(stage, event)
    return not roots[hit[0]].isdisjoint(keys)


def _key_needle(key: tuple[object, ...]) -> bytes | None:
    """The longest text a line holding every value of `key` holds (lower-cased, without a
    character JSON may escape). b"" when some value is not ASCII (such a line always passes
    the first pass: nothing to look for); None when no value can be searched for."""
    best: bytes | None = None
    for value in key:
        if isinstance(value, str):
            if not value.isascii():
                return b""
            text = raw_run(value)
        elif isinstance(value, bool):
            text = b"true" if value else b"false"
        elif isinstance(value, int):
            text = str(value).encode("ascii")
        else:
            continue  # null or a float: its text is not fixed
        if text and (best is None or len(text) > len(best)):
            best = text
    return best
