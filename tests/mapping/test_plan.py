"""The compiled plans do exactly what the table rows say (checked against `Plan.interpret`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.mapping import tables as t
from connector.mapping.compiler import Spec
from connector.mapping.plan import PLANS, Plan


def _keys(plan: Plan) -> list[str]:
    specs: list[Spec] = [*plan.fixed]
    for _, new, legacy in plan.roles:
        specs += [*new, *legacy]
    selectors = [selector for selector, _, _ in plan.roles if selector]
    return sorted({key for keys, _, _ in specs for key in keys} | set(selectors))


values = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-5, max_value=70_000)
    | st.sampled_from(
        [
            "",
            "null",
            "x",
            "1188",
            "8.8.8.8",
            "::ffff:1.2.3.4",
            "bad ip",
            "2022-01-24T18:49:35.296Z",
            "1664811149470",
            "OUTGOING",
            "incoming",
            "SUCCESS",
            "blocked",
            "signed",
            "Verified",
            "windows",
            "osx",
            "CORP\\bob",
            '"C:\\a b\\x.exe" -y',
            "type: 1 example.com",
            "a;1.2.3.4;::ffff:5.6.7.8;",
            "HKLM\\Run\\x",
        ]
    )
    | st.lists(st.text(max_size=3), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=1)
)


@pytest.mark.parametrize("key", sorted(PLANS), ids=lambda key: PLANS[key].name)
def test_compiled_plan_matches_interpreted_rows(key: tuple[bool, str]) -> None:
    plan = PLANS[key]
    keys = _keys(plan)

    @settings(max_examples=100, deadline=None)
    @given(st.dictionaries(st.sampled_from(keys), values, max_size=len(keys)))
    def check(record: dict[str, Any]) -> None:
        compiled: dict[str, Any] = {}
        interpreted: dict[str, Any] = {}
        bad_compiled: Counter[str] = Counter()
        bad_interpreted: Counter[str] = Counter()
        plan.apply(record, compiled, bad_compiled)
        plan.interpret(record, interpreted, bad_interpreted)
        assert compiled == interpreted
        assert bad_compiled == bad_interpreted

    check()


def test_every_kind_has_a_plan_for_both_shapes() -> None:
    assert set(PLANS) == {(dv, kind) for dv in (False, True) for kind in t.KIND_FIELDS}
    for plan in PLANS.values():
        assert plan.source.startswith("def apply(r, e, bad):")


def test_event_types_use_kinds_with_plans() -> None:
    classes = [*t.EVENT_TYPES.values(), *t.S1_CATEGORIES.values()]
    assert {eclass.kind for eclass in classes} <= set(t.KIND_FIELDS)
    assert all(name == name.lower() and " " not in name for name in t.EVENT_TYPES)
