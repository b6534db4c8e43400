"""A rule compiled for the engine: per stage, its category, condition and join-key fields.

`compile_rule(rule)` parses the rule's query and compiles every stage once. `with runs=N`
stages are expanded into N stages that share one compiled condition; pipes are rejected
(detection evaluates streams, `| head`/`| tail` have no meaning there).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, replace

from connector.detection.anchors import Anchor, anchor_of
from connector.detection.eql import ast
from connector.detection.eql.compiler import CompiledCondition, compile_condition
from connector.detection.eql.parser import parse
from connector.detection.model import Rule
from connector.detection.needles import Needles, needles_of
from connector.errors import RuleError

__all__ = [
    "CompiledRule",
    "KeyField",
    "Stage",
    "compile_query",
    "compile_rule",
    "compiled_of",
    "remember",
    "rule_key",
]


@dataclass(frozen=True)
class KeyField:
    """A join key: the field name and whether it was written `?name` (null is then a value)."""

    name: str
    optional: bool


@dataclass(frozen=True)
class Stage:
    """One stage (or the single event query, or `until`) ready to evaluate.

    `anchor`, when set, is a test the event must pass for `condition` to hold (an index key).
    `needles`, when set, is another: texts one of which the event must carry (`needles.py`);
    with an anchor, they come from the condition's other terms (a second, independent gate)."""

    category: str | None
    condition: CompiledCondition
    keys: tuple[KeyField, ...]
    anchor: Anchor | None = None
    needles: Needles | None = None


@dataclass(frozen=True)
class CompiledRule:
    """A rule ready for the engine.

    `stages` holds the distinct stage conditions; `order` maps each (expanded) position in the
    sequence to an index into `stages`. A single-event rule has one stage and `sequence` False.
    `fingerprint` changes whenever the query text changes (persisted state is then dropped).
    """

    rule: Rule
    query: ast.Query
    stages: tuple[Stage, ...]
    order: tuple[int, ...]
    until: Stage | None
    maxspan_ms: int | None
    sequence: bool
    fingerprint: str

    def fields(self) -> frozenset[str]:
        """Every field the rule reads (conditions and join keys)."""
        names: set[str] = set()
        for stage in self._all_stages():
            names.update(stage.condition.fields)
            names.update(key.name for key in stage.keys)
        return frozenset(names)

    def _all_stages(self) -> Iterator[Stage]:
        yield from self.stages
        if self.until is not None:
            yield self.until


def compile_rule(rule: Rule) -> CompiledRule:
    """Parse and compile `rule.query`; raise RuleError naming the rule file and position.

    Loading validates every rule by compiling it and the engine compiles it again, so
    compiled queries are cached by their text and origin (compiled code holds no state
    that depends on the rule's other metadata)."""
    key = rule_key(rule)
    cached = _CACHE.get(key)
    if cached is None:
        query = parse(rule.query, key[1], line_offset=rule.query_line_offset)
        cached = compile_query(query, rule)
        remember(cached)
    return cached if cached.rule == rule else replace(cached, rule=rule)


def rule_key(rule: Rule) -> tuple[str, str, int]:
    """What a compiled (and a parsed) query depends on: text, origin, line offset."""
    return (rule.query, rule.source or rule.name, rule.query_line_offset)


def compiled_of(rule: Rule) -> CompiledRule | None:
    """The compiled form of `rule`'s query if it was compiled (or remembered) already."""
    return _CACHE.get(rule_key(rule))


def remember(compiled: CompiledRule) -> None:
    """Keep `compiled` for `compile_rule` (the rule cache seeds it from disk: a compiled
    rule pickles with its conditions' generated code, see `CompiledCondition`)."""
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    _CACHE[rule_key(compiled.rule)] = compiled


_CACHE: dict[tuple[str, str, int], CompiledRule] = {}
_CACHE_SIZE = 2048


def compile_query(query: ast.Query, rule: Rule) -> CompiledRule:
    """Compile an already parsed query for `rule` (pipes are rejected)."""
    if query.pipes:
        pipe = query.pipes[0]
        message = f"pipe `| {pipe.name}` is not supported in detection rules"
        raise _error(query, rule, message, pipe)
    fingerprint = hashlib.sha256(rule.query.encode("utf-8")).hexdigest()[:16]
    body = query.body
    if isinstance(body, ast.EventQuery):
        stage = _stage(query, rule, body, ())
        return CompiledRule(rule, query, (stage,), (0,), None, None, False, fingerprint)
    stages = tuple(_stage(query, rule, s.query, (*body.by, *s.by)) for s in body.stages)
    order = tuple(i for i, s in enumerate(body.stages) for _ in range(s.runs))
    until = None
    if body.until is not None:
        until = _stage(query, rule, body.until.query, (*body.by, *body.until.by))
    return CompiledRule(rule, query, stages, order, until, body.maxspan_ms, True, fingerprint)


def _stage(
    query: ast.Query, rule: Rule, event: ast.EventQuery, keys: tuple[ast.Expr, ...]
) -> Stage:
    try:
        condition = compile_condition(event.condition)
    except ValueError as exc:
        raise _error(query, rule, str(exc), event) from exc
    key_fields: list[KeyField] = []
    for key in keys:
        if not isinstance(key, ast.Field):
            raise _error(query, rule, "join keys must be field names", event)
        key_fields.append(KeyField(key.name, key.optional))
    anchor = anchor_of(event.condition)
    needles = needles_of(event.condition, skip=anchor.field if anchor else None)
    return Stage(event.category, condition, tuple(key_fields), anchor, needles)


def _error(
    query: ast.Query, rule: Rule, message: str, where: ast.EventQuery | ast.Pipe
) -> RuleError:
    lines = query.text.splitlines() or [""]
    shown = lines[where.line - 1] if 0 < where.line <= len(lines) else ""
    line = where.line + rule.query_line_offset
    return RuleError(message, source=query.source, line=line, column=where.column, text=shown)
