"""Rules → the narrowest S1QL / SDL filter / raw-line prefilter that still over-fetches.

Contract: for every record the mapper turns into an event that some stage of some loaded
rule matches, the S1QL, the SDL filter and the prefilter all accept the raw record. The
engine re-checks everything exactly; pushdown only saves API calls and bytes.

How a stage `category where condition` is translated:

1. **Event types.** Every S1 event class the mapper knows (`mapping.tables.EVENT_TYPES`,
   plus the fallback classes for unknown types) whose ECS category fits and whose constant
   fields (`event.category`, `event.type`, `event.action`) cannot make the condition false
   stays possible. Process Creation places the target process in `process.*`; every other
   type the source process — so a stage is translated once per placement ("context").
2. **Condition, per context**, as an upper bound: `and`/`or` carry over; a comparison of a
   verbatim-mapped string field (names, paths, hashes, host name) with literals becomes an
   any-case test on the raw key (`In Anycase`, `ContainsCIS`, `StartsWithCIS`,
   `EndsWithCIS`); command lines become substring tests (their ECS value is a substring of
   the raw one); `host.os.type` becomes a substring test on the raw OS names that map to
   it. Everything else — `not`, `cidrmatch`, numbers, `process.args`, fields the mapper
   derives — counts as "no restriction" and is listed in `notes`. Never narrower.
3. Stages are ORed; conjuncts shared by all of them are factored out; the SDL filter is
   prefixed with the EDR data-source clause.
4. Above `max_s1ql` / `max_sdl` characters, each query is widened in superset-preserving
   steps until it fits (`pushdown_widen.py`); `Pushdown.widened` says what was widened.

The prefilter keeps, per stage and context, the needles of each positive conjunct (e.g.
`cmd.exe`): a Cloud Funnel line must contain one needle of every group of some alternative.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from connector.detection.eql import ast
from connector.detection.eql.parser import parse
from connector.detection.model import Rule
from connector.errors import ConfigError
from connector.mapping.tables import (
    CF_FALLBACKS,
    COMMON_FIELDS,
    EVENT_TYPES,
    PROCESS_FIELDS,
    ROLE_PLACEMENT,
    S1_CATEGORIES,
    EventClass,
)
from connector.mapping.values import OS_TYPES
from connector.sources.pushdown_ir import (
    FALSE,
    TRUE,
    All,
    AnyOf,
    Node,
    Pred,
    all_of,
    any_of,
    needles,
    render_s1ql,
    render_sdl,
)
from connector.sources.pushdown_widen import fit
from connector.sources.query import EDR_FILTER, Prefilter, Pushdown

__all__ = ["build_prefilter", "build_pushdown", "stage_filters"]

PROCESS_CREATION = "processcreation"
_PC_NAME, _IP_CONNECT = "Process Creation", "IP Connect"
_KINDS = {"text": "exact", "hostname": "exact", "cmdline": "substring", "os": "os"}
_CONSTANT_FIELDS = ("event.category", "event.type", "event.action")
_UNSAFE_LITERAL = re.compile(r'["\\]')
_WILDCARDS = re.compile(r"[*?]")


@dataclass(frozen=True)
class _Context:
    """How ECS fields read raw keys for one process placement."""

    process_creation: bool
    fields: dict[str, tuple[str, str]]  # ECS field -> (Cloud Funnel key, kind)


def _context(process_creation: bool) -> _Context:
    fields: dict[str, tuple[str, str]] = {}
    for cf_prefix, ecs_prefix in ROLE_PLACEMENT[process_creation].items():
        if ecs_prefix is None:
            continue
        for suffix, ecs_suffix, converter in PROCESS_FIELDS:
            key = cf_prefix + suffix
            if converter in _KINDS and key not in CF_FALLBACKS:
                fields[ecs_prefix + ecs_suffix] = (key, _KINDS[converter])
    for key, ecs, converter in COMMON_FIELDS:
        if converter in _KINDS and key not in CF_FALLBACKS:
            fields[ecs] = (key, _KINDS[converter])
    if "host.name" in fields:
        fields["host.hostname"] = fields["host.name"]
    return _Context(process_creation, fields)


_CONTEXTS = {True: _context(True), False: _context(False)}
_CLASSES: dict[str, EventClass] = {
    **EVENT_TYPES,
    **{f"fallback:{name}": cls for name, cls in S1_CATEGORIES.items()},
}


@dataclass
class _Notes:
    items: list[str] = field(default_factory=list)

    def add(self, text: str) -> None:
        if text not in self.items:
            self.items.append(text)


# -- public API ---------------------------------------------------------------------------------


def build_pushdown(
    rules: Sequence[Rule], *, max_s1ql: int | None = None, max_sdl: int | None = None
) -> Pushdown:
    """Translate the loaded rules (see the module docstring). ConfigError without rules.

    `max_s1ql` / `max_sdl`: the longest S1QL / SDL filter (characters) to produce; None
    means no limit. The prefilter is never widened (it runs here, not on a console).
    """
    notes = _Notes()
    stages = _all_stages(rules, notes)
    nodes = [node for _, _, node in stages]
    combined: dict[str, Node] = {}  # the S1QL and the SDL filter share each level's tree
    s1ql = fit(nodes, render_s1ql, max_s1ql or _UNLIMITED, combined=combined)
    sdl = fit(nodes, _sdl_text, max_sdl or _UNLIMITED, combined=combined)
    widened = [
        note
        for note in (s1ql.note("S1QL", max_s1ql or 0), sdl.note("SDL filter", max_sdl or 0))
        if note
    ]
    return Pushdown(
        s1ql.text, sdl.text, _prefilter(stages), tuple(notes.items), tuple(widened),
        {"s1ql": s1ql.level, "sdl": sdl.level},
    )  # fmt: skip


def build_prefilter(rules: Sequence[Rule]) -> Prefilter:
    """Only `build_pushdown(rules).prefilter`, without building (and widening) the S1QL and
    SDL queries, which a Cloud Funnel source never sends. ConfigError without rules."""
    return _prefilter(_all_stages(rules, _Notes()))


_Stages = list[tuple[Rule, int, Node]]


def _all_stages(rules: Sequence[Rule], notes: _Notes) -> _Stages:
    if not rules:
        raise ConfigError("no rules are loaded, so there is nothing to fetch")
    return [
        (rule, index, node)
        for rule in rules
        for index, node in enumerate(stage_filters(rule, notes), start=1)
    ]


def _prefilter(stages: _Stages) -> Prefilter:
    alternatives = [alt for _, _, node in stages for alt in _alternatives(node)]
    return Prefilter(
        tuple(dict.fromkeys(alternatives)),  # dedupe, keep order
        tuple(f"{r.name} stage {i}" for r, i, _ in stages),
    )


_UNLIMITED = 1 << 62


def _sdl_text(node: Node) -> str:
    core = render_sdl(node)
    if core is None:
        return EDR_FILTER
    # `and` binds tighter than `or`: a top-level OR must not swallow the EDR clause.
    return f"{EDR_FILTER} and ({core})" if isinstance(node, AnyOf) else f"{EDR_FILTER} and {core}"


def stage_filters(rule: Rule, notes: _Notes | None = None) -> list[Node]:
    """One filter tree per stage of `rule` (until stages included: they cancel matches).

    Parsed with the engine's key (`compile_rule`), so `parse`'s memo returns the AST the
    engine already has: a loaded rule's EQL is parsed once per process, not once more here."""
    query = parse(rule.query, rule.source or rule.name, line_offset=rule.query_line_offset)
    body = query.body
    if isinstance(body, ast.EventQuery):
        stages = [body]
    else:
        stages = [s.query for s in body.stages]
        if body.until is not None:
            stages.append(body.until.query)
    where = notes or _Notes()
    return [_stage(stage, _Scope(rule.name, n, where)) for n, stage in enumerate(stages, 1)]


@dataclass(frozen=True)
class _Scope:
    rule: str
    stage: int
    notes: _Notes

    def coarser(self, what: str) -> Node:
        self.notes.add(f"{self.rule}, stage {self.stage}: {what} is not pushed down")
        return TRUE


# -- event types ----------------------------------------------------------------------------------


def _stage(stage: ast.EventQuery, scope: _Scope) -> Node:
    skeleton = _skeleton(stage.condition)
    possible = [
        name
        for name, cls in _CLASSES.items()
        if _category_fits(stage.category, cls) and _static(skeleton, cls) is not False
    ]
    others = [p for p in possible if p != PROCESS_CREATION]
    as_creation = _upper(stage.condition, _CONTEXTS[True], scope)
    as_other = _upper(stage.condition, _CONTEXTS[False], scope)
    if PROCESS_CREATION in possible and len(others) > 1 and as_creation == as_other:
        return as_creation  # "Process Creation or anything else" restricts nothing
    branches: list[Node] = []
    if PROCESS_CREATION in possible:
        branches.append(all_of(Pred("event.type", "eq", (_PC_NAME,)), as_creation))
    if others:
        kind = (
            Pred("event.type", "eq", (_IP_CONNECT,))
            if others == ["ipconnect"]
            else Pred("event.type", "ne", (_PC_NAME,))
        )
        branches.append(all_of(kind, as_other))
    return any_of(*branches)


def _category_fits(category: str | None, cls: EventClass) -> bool:
    return category is None or category in cls.category


def _constant(name: str, cls: EventClass) -> tuple[str, ...] | None:
    """The value a class gives a constant field; None when it depends on the record."""
    if name == "event.category":
        return cls.category
    if name == "event.type":
        return cls.type
    if cls.action is None and cls.kind == "connection":
        return None  # IP Connect's action comes from the direction
    return (cls.action,) if cls.action else ()


def _wildcard_match(pattern: str, value: str, fold: bool, wildcards: bool = True) -> bool:
    if not wildcards:
        return value.casefold() == pattern.casefold() if fold else value == pattern
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if fold else 0) is not None


@dataclass(frozen=True)
class _Test:
    """A field tested against string literals: `==`, `!=`, `in`, `in~`, `:`, `like`."""

    field: str
    patterns: tuple[str, ...]
    fold: bool
    negate: bool
    wildcards: bool

    def hits(self, values: Iterable[str]) -> bool:
        return any(
            _wildcard_match(p, v, self.fold, self.wildcards) for p in self.patterns for v in values
        )


def _literal_test(expr: ast.Expr) -> _Test | None:
    if isinstance(expr, ast.Compare) and expr.op in ("==", "!="):
        left, right = expr.left, expr.right
        if isinstance(left, ast.Literal):
            left, right = right, left
        if (
            isinstance(left, ast.Field)
            and isinstance(right, ast.Literal)
            and isinstance(right.value, str)
        ):
            return _Test(left.name, (right.value,), False, expr.op == "!=", False)
        return None
    if isinstance(expr, ast.StringMatch) and expr.operator == "regex":
        return None
    if isinstance(expr, ast.In | ast.StringMatch) and isinstance(expr.value, ast.Field):
        options = expr.options if isinstance(expr, ast.In) else expr.patterns
        texts = [o.value for o in options if isinstance(o, ast.Literal)]
        if len(texts) != len(options) or not all(isinstance(t, str) for t in texts):
            return None
        wildcards = isinstance(expr, ast.StringMatch)
        patterns = tuple(str(t) for t in texts)
        return _Test(expr.value.name, patterns, expr.case_insensitive, False, wildcards)
    return None


@dataclass(frozen=True)
class _Bool:
    """`and` / `or` / `not` over the parts of a condition that test a constant field."""

    op: str
    terms: tuple[_Skeleton | None, ...]


_Skeleton = _Bool | _Test  # None: a part that tests no constant field (unknown per class)


def _skeleton(expr: ast.Expr) -> _Skeleton | None:
    """`expr` reduced to its tests of constant fields, once per stage rather than once per
    event class (a subtree without such a test is None, as `_static` would find it)."""
    if isinstance(expr, ast.And | ast.Or):
        terms = tuple(_skeleton(t) for t in expr.terms)
        if terms and all(t is None for t in terms):
            return None
        return _Bool("and" if isinstance(expr, ast.And) else "or", terms)
    if isinstance(expr, ast.Not):
        inner = _skeleton(expr.operand)
        return None if inner is None else _Bool("not", (inner,))
    test = _literal_test(expr)
    return test if test is not None and test.field in _CONSTANT_FIELDS else None


def _static(expr: _Skeleton | None, cls: EventClass) -> bool | None:
    """Three-valued evaluation on the class constants: False = can never match."""
    if expr is None:
        return None
    if isinstance(expr, _Bool):
        values = [_static(t, cls) for t in expr.terms]
        if expr.op == "and":
            return False if False in values else (True if all(values) else None)
        if expr.op == "or":
            return True if True in values else (False if all(v is False for v in values) else None)
        return None if values[0] is None else not values[0]
    constants = _constant(expr.field, cls)
    if constants is None:
        return None
    return expr.hits(constants) != expr.negate


# -- conditions ---------------------------------------------------------------------------------


def _upper(expr: ast.Expr, ctx: _Context, scope: _Scope) -> Node:
    """A filter every record whose event satisfies `expr` passes (see the module docstring)."""
    if isinstance(expr, ast.And):
        return all_of(*(_upper(t, ctx, scope) for t in expr.terms))
    if isinstance(expr, ast.Or):
        return any_of(*(_upper(t, ctx, scope) for t in expr.terms))
    if isinstance(expr, ast.Literal):
        return FALSE if expr.value is False or expr.value is None else TRUE
    if isinstance(expr, ast.FunctionCall):
        return _function(expr, ctx, scope)
    test = _literal_test(expr)
    if test is None:
        return scope.coarser(_describe(expr))
    if test.field in _CONSTANT_FIELDS:
        return TRUE  # already decided by the event-type step
    if test.negate:
        return scope.coarser(f"{test.field} !=")
    target = ctx.fields.get(test.field)
    if target is None:
        return scope.coarser(test.field)
    return any_of(*(_value_test(target, p, test.fold, test.wildcards) for p in test.patterns))


def _function(call: ast.FunctionCall, ctx: _Context, scope: _Scope) -> Node:
    ops = {"startswith": "starts", "endswith": "ends", "stringcontains": "contains"}
    if call.name not in ops or len(call.args) != 2:
        return scope.coarser(f"{call.name}()")
    subject, value = call.args
    if not (isinstance(subject, ast.Field) and isinstance(value, ast.Literal)):
        return scope.coarser(f"{call.name}()")
    target = ctx.fields.get(subject.name)
    if target is None or not isinstance(value.value, str):
        return scope.coarser(f"{call.name}({subject.name})")
    pattern = {"starts": "{}*", "ends": "*{}", "contains": "*{}*"}[ops[call.name]]
    escaped = _WILDCARDS.sub("", value.value)
    if escaped != value.value:
        return _contains_fragment(target[0], value.value)
    return _value_test(target, pattern.format(value.value), True, True)


def _value_test(target: tuple[str, str], pattern: str, fold: bool, wildcards: bool) -> Node:
    key, kind = target
    if kind == "os":
        return _os_test(key, pattern, fold, wildcards)
    has_wildcard = wildcards and _WILDCARDS.search(pattern) is not None
    if kind == "exact" and not has_wildcard and not _UNSAFE_LITERAL.search(pattern):
        return Pred(key, "in", (pattern,))
    if kind == "exact" and has_wildcard:
        core = pattern.strip("*")
        plain = not _WILDCARDS.search(core) and not _UNSAFE_LITERAL.search(core) and core
        if plain and pattern == core + "*":
            return Pred(key, "starts", (core,))
        if plain and pattern == "*" + core:
            return Pred(key, "ends", (core,))
    return _contains_fragment(key, pattern)


def _contains_fragment(key: str, pattern: str) -> Node:
    """`key` contains the longest literal run of `pattern` (TRUE if it has none)."""
    fragments = re.split(r'[*?"\\]', pattern)
    best = max(fragments, key=len)
    return Pred(key, "contains", (best,)) if best else TRUE


@lru_cache(maxsize=1024)  # a few OS tests, repeated by hundreds of rules
def _os_test(key: str, pattern: str, fold: bool, wildcards: bool) -> Node:
    """`host.os.type` is normalised from the raw OS name: test the raw names that map to it."""

    def fits(ecs: str) -> bool:
        if wildcards:
            return _wildcard_match(pattern, ecs, fold)
        return ecs.casefold() == pattern.casefold() if fold else ecs == pattern

    raw = sorted({name for name, ecs in OS_TYPES.items() if fits(ecs)}, key=_raw_order)
    # The mapper trims and lower-cases, so only a substring test is a superset; a raw
    # name contained in another (windows / windows_legacy) is enough on its own.
    kept = [r for r in raw if not any(o != r and o in r for o in raw)]
    return Pred(key, "contains", tuple(kept)) if kept else FALSE


def _raw_order(name: str) -> tuple[int, str]:
    return (len(name), name)


def _describe(expr: ast.Expr) -> str:
    if isinstance(expr, ast.Not):
        return "a negation (`not ...`)"
    return type(expr).__name__


# -- prefilter ----------------------------------------------------------------------------------


def _alternatives(node: Node) -> Iterable[tuple[tuple[bytes, ...], ...]]:
    """One needle alternative per OR branch of a stage filter."""
    if node == FALSE:
        return
    for branch in node.terms if isinstance(node, AnyOf) else (node,):
        conjuncts = branch.terms if isinstance(branch, All) else (branch,)
        groups = [g for g in (needles(c) for c in conjuncts) if g]
        yield tuple(groups)
