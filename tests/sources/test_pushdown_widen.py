"""Pushdown that scales (issue 15, item 3): above the configured size the query is widened in
steps that stay supersets of every rule stage, and `rules pushdown` / the run summary say so.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import cli as cli_module
from connector.config import ConsoleConfig
from connector.detection.model import Rule
from connector.detection.rules import load_rules, parse_rule_file
from connector.mapping import CF_TO_DV
from connector.ops import RunSummary
from connector.simulator.query import compile_s1ql, compile_sdl_filter
from connector.sources.pushdown import build_pushdown, stage_filters
from connector.sources.pushdown_ir import Node, Pred, all_of, any_of, render_s1ql, render_sdl
from connector.sources.pushdown_widen import LEVELS, combine, fit, widen
from tests.conftest import FIXTURES
from tests.sources.test_pushdown import (
    CMDLINES,
    EVENT_TYPES,
    EXTRA_RULES,
    NAMES,
    OS_NAMES,
    Checker,
    cf_record,
)

CORPUS = FIXTURES / "detection-rules-s1" / "rules"
DV_FIELDS = set(CF_TO_DV.values())
DEFAULTS = ConsoleConfig()


def corpus_rules() -> list[Rule]:
    return [parse_rule_file(p) for p in sorted(CORPUS.rglob("*.toml"))]


# -- the IR: widening never narrows -----------------------------------------------------------

KEYS = ("event.type", "endpoint.os", "tgt.process.name", "tgt.process.cmdline")
VALUES = ("Process Creation", "IP Connect", "windows", "linux", "cmd.exe", "CMD", "/c", "x")
preds = st.builds(
    Pred,
    st.sampled_from(KEYS),
    st.sampled_from(["in", "contains", "starts", "ends", "eq", "ne"]),
    st.lists(st.sampled_from(VALUES), min_size=1, max_size=2, unique=True).map(tuple),
)
trees: st.SearchStrategy[Node] = st.recursive(
    preds,
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda ts: all_of(*ts)),
        st.lists(children, min_size=1, max_size=3).map(lambda ts: any_of(*ts)),
    ),
    max_leaves=8,
)
records = st.fixed_dictionaries(
    {k: st.sampled_from((*VALUES, "", "Cmd.exe /C run", "ProcessCreation")) for k in KEYS}
)


@settings(max_examples=150, deadline=None)
@given(stages=st.lists(trees, min_size=1, max_size=4), record=records)
def test_every_level_accepts_whatever_a_stage_accepts(stages: list[Node], record: dict[str, Any]):
    """The SDL rendering is the evaluator (`compile_sdl_filter`); a record any stage's exact
    filter accepts is accepted by the combined query at every level."""
    accepted = any(compile_sdl_filter(_sdl(stage))(record) for stage in stages)
    for name, keep in LEVELS:
        widened = combine([widen(stage, keep) for stage in stages])
        if accepted:
            assert compile_sdl_filter(_sdl(widened))(record), (name, stages, record)


def _sdl(node: Node) -> str:
    text = render_sdl(node)
    return "event.type=*" if text is None else text  # TRUE: everything with an event type


# -- the engine: every engine match passes every widened query --------------------------------


class LevelChecker(Checker):
    """Checker (test_pushdown.py) with the S1QL and SDL of one widening level."""

    def __init__(self, rules: list[Rule], level: int) -> None:
        super().__init__(rules)
        keep = LEVELS[level][1]
        stages = [widen(node, keep) for rule in rules for node in stage_filters(rule)]
        tree = combine(stages)
        self.s1ql = compile_s1ql(render_s1ql(tree), fields=DV_FIELDS)
        core = render_sdl(tree)
        self.sdl = compile_sdl_filter(f"({core})" if core else "event.type=*")


def _property_rules() -> list[Rule]:
    wanted = ("command_prompt", "powershell", "certutil", "rundll32", "mshta", "regsvr32")
    sample = [r for r in corpus_rules() if any(w in r.query.lower() for w in wanted)][:25]
    return [*load_rules(), *EXTRA_RULES, *sample]


PROPERTY_RULES = _property_rules()
LEVEL_CHECKERS = [LevelChecker(PROPERTY_RULES, level) for level in range(len(LEVELS))]


@settings(max_examples=150, deadline=None)
@given(
    etype=st.sampled_from(EVENT_TYPES),
    os_name=st.sampled_from(OS_NAMES),
    tgt=st.sampled_from([*NAMES, "certutil.exe", "rundll32.exe", "mshta.exe"]),
    src=st.sampled_from(NAMES),
    parent=st.sampled_from(NAMES),
    cmd=st.sampled_from(CMDLINES) | st.text(max_size=30),
)
def test_widened_queries_are_supersets_of_every_stage(etype, os_name, tgt, src, parent, cmd):
    record = cf_record(etype, os_name, tgt, src, parent, cmd, "8.8.8.8")
    for checker in LEVEL_CHECKERS:
        checker.check(record)


def test_the_level_property_is_exercised():
    checker = LEVEL_CHECKERS[1]
    for values in itertools.product(EVENT_TYPES, OS_NAMES[:4], NAMES, NAMES[:2], CMDLINES):
        checker.check(cf_record(*values[:4], values[2], values[4], "8.8.8.8"))
    assert checker.hits > 100


# -- sizes ------------------------------------------------------------------------------------


def test_the_seed_rule_is_not_widened():
    pushdown = build_pushdown(
        load_rules(), max_s1ql=DEFAULTS.max_s1ql_length, max_sdl=DEFAULTS.max_sdl_filter_length
    )
    assert pushdown.widened == ()
    assert pushdown.levels == {"s1ql": "exact", "sdl": "exact"}
    assert pushdown.s1ql == build_pushdown(load_rules()).s1ql


def test_all_408_elastic_rules_fit_within_the_default_size():
    rules = corpus_rules()
    assert len(rules) == 408
    exact = build_pushdown(rules)
    fitted = build_pushdown(
        rules, max_s1ql=DEFAULTS.max_s1ql_length, max_sdl=DEFAULTS.max_sdl_filter_length
    )
    assert len(exact.s1ql) > DEFAULTS.max_s1ql_length  # the limit really is exceeded
    assert len(fitted.s1ql) <= DEFAULTS.max_s1ql_length
    assert len(fitted.sdl_filter) <= DEFAULTS.max_sdl_filter_length
    assert fitted.levels["s1ql"] != "exact" and len(fitted.widened) == 2
    assert "S1QL widened to" in fitted.widened[0] and "SDL filter widened to" in fitted.widened[1]
    compile_s1ql(fitted.s1ql, fields=DV_FIELDS)
    compile_sdl_filter(fitted.sdl_filter)
    assert fitted.prefilter == exact.prefilter  # the local prefilter is never widened


@pytest.mark.parametrize("limit", [300, 5000])
def test_every_limit_is_met_by_the_narrowest_level_that_fits(limit: int):
    rules = [*load_rules(), *corpus_rules()[:120]]
    rules = list({r.rule_id: r for r in rules}.values())
    pushdown = build_pushdown(rules, max_s1ql=limit, max_sdl=limit)
    assert len(pushdown.s1ql) <= limit and len(pushdown.sdl_filter) <= limit
    names = [name for name, _ in LEVELS]
    level = names.index(pushdown.levels["s1ql"])
    if level:  # the level below did not fit
        nodes = [n for r in rules for n in stage_filters(r)]
        narrower = fit(nodes, render_s1ql, 10**9)
        assert len(render_s1ql(combine([widen(n, LEVELS[level - 1][1]) for n in nodes]))) > limit
        assert len(narrower.text) > limit


def test_rules_pushdown_reports_the_size_and_what_was_widened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    config = tmp_path / "c.toml"
    config.write_text(
        f'[console]\nmax_s1ql_length = 2000\n[rules]\nbuiltin = false\npaths = ["{CORPUS}"]\n'
    )
    assert cli_module.run(["--config", str(config), "rules", "pushdown"]) == 0
    out = capsys.readouterr().out
    assert "limit 2,000" in out and "limit 10,000" in out
    assert "widened: S1QL widened to" in out and "above the 2,000 limit" in out
    s1ql = out.split("S1QL (Deep Visibility):\n", 1)[1].split("\n", 1)[0]
    assert len(s1ql) <= 2000


def test_the_run_summary_says_what_was_widened():
    summary = RunSummary("poll")
    assert "pushdown" not in summary.line()
    summary.pushdown = "s1ql:names"
    assert summary.line().endswith(" pushdown=widened(s1ql:names)")
    assert summary.as_dict()["pushdown"] == "s1ql:names"
