"""Turn the tables of `tables.py` into one plan per (shape, kind) at import time.

Building a plan only collects its rows (cheap); its compiled `apply` is generated on first use
(the tests check it against `interpret`; events are mapped by the builders that `classify.py`
compiles per event class), so importing the mapping compiles nothing.

A plan holds the rows that apply to one input shape (DV or Cloud Funnel) and one event kind,
as (source keys, ECS field, converter) specs, and runs them as a compiled function
(`connector.mapping.compiler`). Cloud Funnel plans read Cloud Funnel keys; DV plans read the DV
twins from `fields.CF_TO_DV` plus the legacy fallbacks. For DV each process role has two row
sets, and the role's S1QL-era uid key picks one per record (spec §2: the generation is chosen
per role, not per field).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

from connector.mapping import tables as t
from connector.mapping.compiler import Applier, RoleSpecs, Spec, compile_rows
from connector.mapping.fields import CF_TO_DV
from connector.mapping.writers import make_writer, written_fields

__all__ = ["PLANS", "Plan", "project"]

Event = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """The rows of one (shape, kind) and their compiled form.

    `roles` holds (selector key, rows if present, rows if absent) per process role; a None
    selector means the first row set always applies. `apply(record, event, bad)` writes every
    present field into `event` and counts malformed ones in `bad` (`bad_field:<field>`).
    """

    name: str
    fixed: tuple[Spec, ...]
    roles: tuple[RoleSpecs, ...]

    @cached_property
    def _compiled(self) -> tuple[Applier, str]:
        return compile_rows(self.name, self.fixed, self.roles)

    @property
    def apply(self) -> Applier:
        """The rows compiled into one function (generated on first use)."""
        return self._compiled[0]

    @property
    def source(self) -> str:
        """The generated source of `apply`."""
        return self._compiled[1]

    @cached_property
    def writes(self) -> frozenset[str]:
        """Every ECS field some row of the plan may write."""
        return frozenset().union(*(written_fields(c, f) for _, f, c in self.specs()))

    def interpret(self, record: Mapping[str, Any], event: Event, bad: Counter[str] | None) -> None:
        """The same rows as a plain loop: the reference the compiled `apply` is tested against."""
        _interpret(self.fixed, record, event, bad)
        for selector, new, legacy in self.roles:
            chosen = new if selector is None or not _absent(record.get(selector)) else legacy
            _interpret(chosen, record, event, bad)

    def specs(self) -> tuple[Spec, ...]:
        """Every row of the plan (fixed rows, then each role's two row sets)."""
        rows = list(self.fixed)
        for _, new, legacy in self.roles:
            rows += [*new, *legacy]
        return tuple(rows)


def project(plan: Plan, fields: frozenset[str]) -> Plan:
    """The plan restricted to the rows that write at least one of `fields`.

    Rows keep their order, so a field every writer of which is kept gets the value the
    full plan gives it. A role left without rows drops its selector read too.
    """

    def keep(specs: tuple[Spec, ...]) -> tuple[Spec, ...]:
        return tuple(s for s in specs if not written_fields(s[2], s[1]).isdisjoint(fields))

    roles = tuple((sel, keep(new), keep(legacy)) for sel, new, legacy in plan.roles)
    kept = tuple(role for role in roles if role[1] or role[2])
    return Plan(plan.name + " (projected)", keep(plan.fixed), kept)


def _absent(value: object) -> bool:
    return value is None or value in ("", "null")


def _interpret(
    specs: tuple[Spec, ...], record: Mapping[str, Any], event: Event, bad: Counter[str] | None
) -> None:
    for keys, target, converter in specs:
        value = next((v for v in map(record.get, keys) if not _absent(v)), None)
        if value is None:
            continue
        if not make_writer(converter, target)(event, value) and bad is not None:
            bad[f"bad_field:{target}"] += 1


def _source_keys(cf_key: str, dv: bool) -> tuple[str, ...]:
    """The keys to read for one Cloud Funnel key, first present wins."""
    if not dv:
        return (cf_key, *t.CF_FALLBACKS.get(cf_key, ()))
    dv_key = CF_TO_DV[cf_key]
    return (dv_key, *t.DV_FALLBACKS.get(dv_key, ()))


def _fixed_specs(kind: str, dv: bool) -> list[Spec]:
    """Rows outside the process roles: common, kind-specific and vendor fields."""
    specs: list[Spec] = [
        (_source_keys(cf, dv), field, conv)
        for cf, field, conv in (*t.COMMON_FIELDS, *t.KIND_FIELDS[kind])
        if not dv or cf in CF_TO_DV  # Cloud Funnel only: os.name, event.repetitionCount
    ]
    specs += [
        ((CF_TO_DV[cf] if dv else cf,), f"sentinel_one.{cf}", conv)
        for cf, conv in t.VENDOR_FIELDS
        if not dv or cf in CF_TO_DV
    ]
    if dv:
        specs += [((key,), field, conv) for key, field, conv in t.DV_VENDOR_FIELDS]
    return specs


def _role_specs(role: str, placed: str | None, key_of: Mapping[str, str]) -> list[Spec]:
    """Rows of one process role; `key_of` maps a role suffix to the key to read."""
    if placed is None:
        return [
            ((key_of[suffix],), f"sentinel_one.{role}{suffix}", conv)
            for suffix, conv in t.UNPLACED_ROLE_FIELDS
            if suffix in key_of
        ]
    specs: list[Spec] = []
    for suffix, ecs, conv in t.PROCESS_FIELDS:
        if suffix not in key_of:
            continue
        trim = conv == "cmdline" and role + suffix in t.TRIMMED_CMDLINES
        specs.append(((key_of[suffix],), placed + ecs, "cmdline_trim" if trim else conv))
    specs += [
        ((key_of[suffix],), f"sentinel_one.{role}{suffix}", conv)
        for suffix, conv in t.ROLE_VENDOR_FIELDS
        if suffix in key_of
    ]
    return specs


_SUFFIXES: Final = tuple(
    {suffix: None for suffix, _, _ in t.PROCESS_FIELDS}
    | {suffix: None for suffix, _ in (*t.ROLE_VENDOR_FIELDS, *t.UNPLACED_ROLE_FIELDS)}
)


def _cf_keys(role: str) -> dict[str, str]:
    return {suffix: role + suffix for suffix in _SUFFIXES}


_SUBJECT_AND_PARENT: Final = {
    # is Process Creation -> (role the legacy subject keys describe, role of its parent)
    True: ("tgt.process.", "src.process."),
    False: ("src.process.", "src.process.parent."),
}


def _legacy_keys(role: str, kind: str) -> dict[str, str]:
    """Legacy DV keys of a role (by role suffix); empty for a role they do not describe."""
    creation = kind == t.PROCESS_CREATION
    subject, parent = _SUBJECT_AND_PARENT[creation]
    if role == subject:
        return {**t.LEGACY_SUBJECT, **({} if creation else t.LEGACY_SUBJECT_SIGNATURE)}
    if role == parent:
        return dict(t.LEGACY_PARENT)
    return {}


def _with_cf_fallbacks(specs: list[Spec]) -> list[Spec]:
    return [((*keys, *t.CF_FALLBACKS.get(keys[0], ())), f, c) for keys, f, c in specs]


def _plan(kind: str, dv: bool) -> Plan:
    placement = t.ROLE_PLACEMENT[kind == t.PROCESS_CREATION]
    roles: list[RoleSpecs] = []
    for role, placed in placement.items():
        if not dv:
            specs = _with_cf_fallbacks(_role_specs(role, placed, _cf_keys(role)))
            roles.append((None, tuple(specs), ()))
            continue
        new_keys = {s: CF_TO_DV[k] for s, k in _cf_keys(role).items() if k in CF_TO_DV}
        legacy = _legacy_keys(role, kind)
        roles.append(
            (
                new_keys["uid"],
                tuple(_role_specs(role, placed, new_keys)),
                tuple(_role_specs(role, placed, legacy)),
            )
        )
    name = f"{'dv' if dv else 'cloud-funnel'}/{kind}"
    return Plan(name, tuple(_fixed_specs(kind, dv)), tuple(roles))


_KINDS: Final = tuple(t.KIND_FIELDS)

PLANS: Final[dict[tuple[bool, str], Plan]] = {
    (dv, kind): _plan(kind, dv) for dv in (False, True) for kind in _KINDS
}
"""(is DV, kind) -> compiled plan."""
