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

Raw needles: a needle is looked for in the lower-cased line, so its longest run without
`"`, `\\`, `/` or control characters (which JSON may escape) is used; a needle that is not
ASCII is dropped (a line holding it is not ASCII either and always passes, see
`Prefilter`). A stage without usable needles makes the prefilter pass every line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from connector.detection.eql import ast
from connector.detection.needles import MIN_LENGTH, FieldFilter, needles_of
from connector.detection.program import CompiledRule
from connector.mapping.tables import (
    CF_FALLBACKS,
    COMMON_FIELDS,
    KIND_FIELDS,
    PROCESS_FIELDS,
    ROLE_PLACEMENT,
)
from connector.sources.base import Shape
from connector.sources.query import Prefilter

__all__ = ["literal_prefilter", "verbatim_fields"]

_ESCAPABLE = re.compile(r'["\\/\x00-\x1f]')
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
    """The prefilter for lines of `shape` (see the module docstring)."""
    if shape == "ecs":
        usable: FieldFilter = _ecs_field
    else:
        allowed = verbatim_fields()
        usable = allowed.__contains__
    alternatives: list[tuple[tuple[bytes, ...], ...]] = []
    for condition in _conditions(rules):
        needles = needles_of(condition, usable)
        raw = _raw_needles(needles.texts) if needles is not None else None
        if raw is None:
            return Prefilter.everything()
        alternatives.append((raw,))
    descriptions = tuple(c.rule.name for c in rules)
    return Prefilter(tuple(dict.fromkeys(alternatives)), descriptions)


def _ecs_field(name: str) -> bool:
    return name not in _REWRITTEN_ECS


def _conditions(rules: Sequence[CompiledRule]) -> Iterator[ast.Expr]:
    """Every stage condition, `until` included (an until event cancels sequences)."""
    for compiled in rules:
        body = compiled.query.body
        if isinstance(body, ast.EventQuery):
            yield body.condition
            continue
        for stage in body.stages:
            yield stage.query.condition
        if body.until is not None:
            yield body.until.query.condition


def _raw_needles(texts: frozenset[str]) -> tuple[bytes, ...] | None:
    """The line needles of a stage; None when one needle has no usable run."""
    raw: list[bytes] = []
    for text in sorted(texts):
        if not text.isascii():
            continue  # a line holding it always passes
        run = max(_ESCAPABLE.split(text), key=len)
        if len(run) < MIN_LENGTH:
            return None
        raw.append(run.encode("ascii"))
    return tuple(dict.fromkeys(raw)) or None
