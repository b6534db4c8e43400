"""The raw-line prefilter derived from the stages' needles (the engine's literal index).

A stage can match only an event carrying one of its needles (`detection/needles.py`). When
every needle is copied into the raw line as it is, a line that holds none of a stage's
needles cannot become an event that stage matches, so a line holding no needle of any
stage is skipped before JSON parsing. Which fields are copied as they are depends on the
input:

| shape | fields whose needles may be used |
|-------|---------------------------------|
| `ecs` | all but `@timestamp` and `event.kind` (rewritten or defaulted) |
| others | `verbatim_fields()`: copied from one raw key by a text converter;   |
|        | not `process.args` (quotes are removed when a command line is split) |

Raw needles: a needle is looked for in the lower-cased line as JSON writes it (`\\` as
`\\\\`, `"` as `\\"`, a tab as `\\t`; lines with `\\u` or `\\/` escapes always pass, see
`Prefilter`); a needle that is not ASCII is dropped (a line holding it is not ASCII either
and always passes). A stage without usable needles makes the prefilter pass every line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from connector.detection.eql import ast
from connector.detection.eql.codegen import UNSELECTIVE_FIELDS
from connector.detection.needles import (
    EDGE,
    KEYED,
    MIN_LENGTH,
    NUMBER,
    RARE,
    FieldFilter,
    Needles,
    needle_options,
    needles_of,
)
from connector.detection.program import CompiledRule
from connector.mapping.tables import (
    CF_FALLBACKS,
    COMMON_FIELDS,
    KIND_FIELDS,
    PROCESS_FIELDS,
    ROLE_PLACEMENT,
)
from connector.mapping.values import OS_TYPES
from connector.sources.base import Shape
from connector.sources.line_forms import is_number_needle, keyed_needles, number_needles
from connector.sources.query import Alternative, Group, Prefilter

__all__ = [
    "GROUPS",
    "Rank",
    "as_json",
    "field_filter",
    "literal_prefilter",
    "ranked_groups",
    "raw_run",
    "stage_alternative",
    "stage_queries",
    "verbatim_fields",
]

_VERBATIM_CONVERTERS = frozenset({"text", "hostname", "cmdline"})
_REWRITTEN_ECS = frozenset({"@timestamp", "event.kind"})


def verbatim_fields() -> frozenset[str]:
    """ECS fields a Cloud Funnel or DV record's mapping copies from one raw value (the ECS
    value, case-folded, is inside the raw value, case-folded)."""
    fields: set[str] = set()
    for placement in ROLE_PLACEMENT.values():
        for cf_prefix, ecs_prefix in placement.items():
            if ecs_prefix is None:
                continue
            for suffix, ecs_suffix, converter in PROCESS_FIELDS:
                if converter in _VERBATIM_CONVERTERS and cf_prefix + suffix not in CF_FALLBACKS:
                    fields.add(ecs_prefix + ecs_suffix)
    rows = [*COMMON_FIELDS, *(row for kind in KIND_FIELDS.values() for row in kind)]
    for key, ecs, converter in rows:
        if converter in _VERBATIM_CONVERTERS and key not in CF_FALLBACKS:
            fields.add(ecs)
    return frozenset(fields)


def literal_prefilter(rules: Sequence[CompiledRule], shape: Shape) -> Prefilter:
    """The prefilter for lines of `shape` that any stage of `rules` may match (see the
    module docstring)."""
    usable = field_filter(shape)
    alternatives: list[Alternative] = []
    for condition in (c for compiled in rules for _, c in stage_queries(compiled)):
        alternative = stage_alternative(condition, usable)
        if alternative is None:
            return Prefilter.everything()
        alternatives.append(alternative)
    descriptions = tuple(c.rule.name for c in rules)
    return Prefilter(tuple(dict.fromkeys(alternatives)), descriptions)


def field_filter(shape: Shape) -> FieldFilter:
    """Which fields' needles can be looked for in the raw lines of `shape`."""
    if shape == "ecs":
        return _ecs_field
    return verbatim_fields().__contains__


def stage_alternative(
    condition: ast.Expr, usable: FieldFilter, *, keys: bool = False
) -> Alternative | None:
    """The raw-line test of one stage condition: groups of needles, each group from one of
    its top-level `and` terms, every group necessary (a line must hold a needle of each).
    None when no term gives a usable needle.

    Every group is necessary, so more groups only reject more lines; which one rejects most
    depends on the data (`Prefilter.ordered_by` finds out on the first lines). So the best
    `GROUPS` are kept, ranked: selective fields' groups with long needles; then, with
    `keys=True` (ECS lines, which hold every field under its own name), for a term that needs
    a field to have a value (`dns.question.name != null`, `process.parent.pid == 4`), the
    uncommon parts of the field's name, each a group; then selective groups with short needles
    (`exe`); then the unselective fields' (`event.type == "creation"`, which may well be rare);
    `host.os.type` and the like last (but `"linux"` is rare in a Windows fleet)."""
    ranked = ranked_groups(condition, usable, keys=keys)
    return tuple(group for _, group in ranked[:GROUPS]) if ranked else None


Rank = tuple[int, int, int]
"""(tier, needles, -shortest needle): smaller is better. Tier 0: selective fields, long
needles; 1: field names; 2: short needles; 3: unselective fields; 4: `host.os.*`."""


def ranked_groups(
    condition: ast.Expr, usable: FieldFilter, *, keys: bool = False, category: str | None = None
) -> list[tuple[Rank, Group]]:
    """Every group of `stage_alternative`, best first, with its rank. With `keys` (ECS
    lines) and the stage's event `category` (`process where`: the engine runs the stage only
    for events whose `event.category` is, or lists, exactly "process"), the category's value
    between quotes is a group too, ranked with the unselective values."""
    terms = condition.terms if isinstance(condition, ast.And) else (condition,)
    groups: dict[Group, Rank] = {}

    def add(group: Group, rank: Rank) -> None:
        groups[group] = min(rank, groups.get(group, rank))

    for term in terms:
        options = needle_options(term, usable, edges=keys)
        if not options:
            os_needles = _os_needles(term)
            options = [os_needles] if os_needles is not None else []
        for needles in options:
            raw = _raw_needles(needles.texts)
            if raw is not None:
                add(raw, _group_rank(raw, needles.fields))
    if keys and category is not None and category.isascii():
        add((b'"' + as_json(category.lower()) + b'"',), (3, 1, -len(category) - 2))
    if keys:
        for name in dict.fromkeys(n for term in terms for n in sorted(_required_fields(term))):
            if usable(name):
                for part in _key_parts(name):
                    add((part,), (1, 1, -len(part)))
    return sorted((rank, group) for group, rank in groups.items())


def _os_needles(term: ast.Expr) -> Needles | None:
    """For Cloud Funnel and DV lines: `host.os.type == "macos"` holds only when the raw OS
    name is one `os_type` maps to it (`osx` or `macos`), so those names are the needles."""
    if not isinstance(term, ast.Compare | ast.In):
        return None
    needles = needles_of(term, _OS_FIELD.__eq__, selective_only=False)
    if needles is None:
        return None
    names = {raw for raw, ecs in OS_TYPES.items() if ecs in needles.texts}
    return Needles(needles.fields, frozenset(names)) if names else None


_OS_FIELD = "host.os.type"
GROUPS = 6
"""Groups kept per stage: more reject a few more lines and cost a test per line with a hit."""
_SHORT = 5
"""Needles shorter than this are in many lines (`exe`, `cmd`): their groups rank lower."""


def _group_rank(group: Group, fields: frozenset[str]) -> Rank:
    """Smaller is better (see `stage_alternative`); the empty group (no plain line can
    hold the term) is best."""
    if not group:
        return (-1, 0, 0)
    if all(map(is_number_needle, group)):  # delimited: rarer than their length says
        digits = min(len(n.strip(b":[], ")) for n in group)
        return (0 if digits >= 3 else 1, len(group), -digits)
    if fields & _LAST_FIELDS:
        tier = 4
    elif fields & UNSELECTIVE_FIELDS:
        tier = 3
    elif min(len(n) for n in group) < _SHORT:
        tier = 2
    else:
        tier = 0
    return (tier, len(group), -min(len(n) for n in group))


_DERIVED = frozenset({"process.args_count", "process.parent.args_count"})
"""Fields the ECS intake may add from others (so their name need not be in the line)."""
_KEY_PART = re.compile(r"[a-z0-9_]{3,}")


def _required_fields(term: ast.Expr) -> frozenset[str]:
    """The fields a term cannot hold without: it tests their values positively (`f : "x"`,
    `f != null`), or is the negation of a test that holds whenever one is null (`not
    (?f == null or ...)`, as SigmaHQ writes "the field is set"), or an `and` with such a
    term, or an `or` whose every branch needs the field."""
    if isinstance(term, ast.And):
        return frozenset().union(*map(_required_fields, term.terms))
    if isinstance(term, ast.Or):
        return frozenset.intersection(*map(_required_fields, term.terms))
    if isinstance(term, ast.Not):
        return _refuted_fields(term.operand)
    name = _required_field(term)
    return frozenset() if name is None else frozenset({name})


def _refuted_fields(term: ast.Expr) -> frozenset[str]:
    """The fields a term cannot be false without: it holds when one of them is null
    (`f == null`: the compiled test is `e.get(f) is None or ...`, so it is false only when
    the event has the field)."""
    if isinstance(term, ast.Or):
        return frozenset().union(*map(_refuted_fields, term.terms))
    if isinstance(term, ast.And):
        return frozenset.intersection(*map(_refuted_fields, term.terms))
    if isinstance(term, ast.Not):
        return _required_fields(term.operand)
    if isinstance(term, ast.Compare) and term.op == "==":
        sides = (term.left, term.right)
        fields = [s.name for s in sides if isinstance(s, ast.Field)]
        nulls = [s for s in sides if isinstance(s, ast.Literal) and s.value is None]
        if len(fields) == 1 and len(nulls) == 1:
            return frozenset(fields)
    return frozenset()


def _required_field(term: ast.Expr) -> str | None:
    """The field a term that is neither `and`, `or` nor `not` cannot hold without (it tests
    the field's value positively)."""
    if isinstance(term, ast.Compare):
        sides = (term.left, term.right)
        fields = [s for s in sides if isinstance(s, ast.Field)]
        literals = [s for s in sides if isinstance(s, ast.Literal)]
        if len(fields) != 1 or len(literals) != 1:
            return None
        value = literals[0].value
        if term.op == "!=":
            return fields[0].name if value is None else None
        return fields[0].name if value is not None else None
    if isinstance(term, ast.In):
        if any(isinstance(o, ast.Literal) and o.value is None for o in term.options):
            return None
        return term.value.name if isinstance(term.value, ast.Field) else None
    if isinstance(term, ast.StringMatch):
        return term.value.name if isinstance(term.value, ast.Field) else None
    if isinstance(term, ast.FunctionCall) and term.args and term.name in _FIELD_FUNCTIONS:
        first = term.args[0]
        return first.name if isinstance(first, ast.Field) else None
    return None


_FIELD_FUNCTIONS = frozenset({"startswith", "endswith", "stringcontains", "wildcard", "cidrmatch"})


def _key_parts(name: str) -> list[bytes]:
    """The parts of a field name a line holding the field holds, as it holds them: each is
    necessary, flat (`"destination.address"`) or nested (`{"destination": {"address": …}}`).
    None for a derived field; parts shorter than three characters or in nearly every line
    are left out."""
    if name in _DERIVED or name.startswith("?"):
        return []
    parts = (p.lower() for p in name.split("."))
    return [
        p.encode("ascii")
        for p in dict.fromkeys(parts)
        if _KEY_PART.fullmatch(p) and p not in _COMMON_PARTS
    ]


_COMMON_PARTS = frozenset(
    {"event", "process", "host", "action", "category", "type", "name", "kind"}
)
"""Name parts nearly every line holds: useless as needles."""
_LAST_FIELDS = frozenset({"host.os.type", "host.os.family", "host.os.platform", "host.os.name"})
"""Fields that hold the same value in nearly every line of a fleet: their needles go last."""


def _ecs_field(name: str) -> bool:
    return name not in _REWRITTEN_ECS


def stage_queries(compiled: CompiledRule) -> list[tuple[str | None, ast.Expr]]:
    """The event category and condition of `compiled.stages` in their order, then `until`'s
    (an until event cancels sequences)."""
    body = compiled.query.body
    if isinstance(body, ast.EventQuery):
        return [(body.category, body.condition)]
    queries = [stage.query for stage in body.stages]  # one per `stages` item
    if body.until is not None:
        queries.append(body.until.query)
    return [(query.category, query.condition) for query in queries]


@lru_cache(maxsize=4096)  # the options of a stage's terms share their texts
def _raw_needles(texts: frozenset[str]) -> Group | None:
    """The line needles of a stage's term; None when one needle has no usable run; the empty
    group when every needle is beyond ASCII (only lines that always pass can hold one).

    A text marked with `EDGE` (ECS lines) stands whole at the start or end of a JSON
    string, so the line holds it with a `"` on that side (`"cmd.exe"` for an exact value)."""
    raw: list[bytes] = []
    for marked in sorted(texts):
        text = marked
        if text.startswith(NUMBER):  # an integer: its delimited forms (lines with odd ones pass)
            raw.extend(number_needles(int(text[1:])))
            continue
        field = None
        if marked.startswith(KEYED):  # right after the field's key (`line_forms.keyed_needles`)
            field, text = marked[1:].split(KEYED, 1)
        bare = text.strip(EDGE)
        if not bare.isascii():
            continue  # a line holding it always passes
        run = _longest_run(bare)
        if run == bare and text != bare:  # marked, and JSON writes it without `\u00XX`
            before = b'"' if text.startswith(EDGE) else b""
            after = b'"' if text.endswith(EDGE) else b""
            needle = before + as_json(run) + after
            raw.extend(keyed_needles(field, needle) if field and before else (needle,))
            continue
        if len(run) < MIN_LENGTH and not _rare_in_lines(run):
            return None
        raw.append(as_json(run))
    return tuple(dict.fromkeys(raw)) if raw or texts else None


def _rare_in_lines(run: str) -> bool:
    """Whether a run shorter than `MIN_LENGTH` is still worth looking for in a line: it holds
    a `needles.RARE` character other than the braces every JSON line holds (`^^`, `` ` ``,
    `${`, `"{` as `\\"{`, but not `{`)."""
    return not RARE.isdisjoint(run) and not set(run) <= _JSON_BRACES


_JSON_BRACES = frozenset("{}")


_SHORT_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
_UNESCAPED = re.compile(r"[\x00-\x07\x0b\x0e-\x1f]")
"""Characters JSON writes only as `\\u00XX`: a line holding one always passes."""


_AS_JSON = str.maketrans(_SHORT_ESCAPES)


def as_json(text: str) -> bytes:
    """ASCII `text` as it stands inside a JSON string (without characters of `_UNESCAPED`)."""
    return text.translate(_AS_JSON).encode("ascii")


def raw_run(text: str) -> bytes:
    """The longest part of ASCII `text` that a JSON line holding `text` holds, as JSON
    writes it (lower-cased)."""
    return as_json(_longest_run(text.lower()))


def _longest_run(text: str) -> str:
    """The longest part of `text` without a character JSON writes only as `\\u00XX`."""
    return max(_UNESCAPED.split(text), key=len)
