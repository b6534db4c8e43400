"""Pushdown with every rule loaded (issue 15): combining thousands of stages costs work linear
in their number, the result is the one the plain pairwise algorithm gives, each rule's EQL is
parsed once per process, and `replay` builds only the prefilter (no S1QL / SDL query)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import cli
from connector.detection import program
from connector.detection.eql import parser
from connector.detection.model import Rule
from connector.detection.program import compile_rule
from connector.detection.rules import parse_rule_file
from connector.sources import pushdown, pushdown_ir, pushdown_widen
from connector.sources.pushdown import build_prefilter, build_pushdown
from connector.sources.pushdown_ir import (
    FALSE,
    TRUE,
    All,
    AnyOf,
    Const,
    Node,
    Pred,
    all_of,
    any_of,
    factor,
)
from connector.sources.pushdown_widen import absorb, combine
from connector.timeutil import to_datetime
from tests.conftest import FIXTURES
from tests.e2e.support import chain

CORPUS = FIXTURES / "detection-rules-s1" / "rules"

# -- the pairwise algorithms the indexed ones replace (oracles) --------------------------------


def plain_any_of(*terms: Node) -> Node:
    out: list[Node] = []
    for term in terms:
        if term == TRUE:
            return TRUE
        if term == FALSE:
            continue
        for part in term.terms if isinstance(term, AnyOf) else (term,):
            if isinstance(part, Pred) and part.op in ("in", "contains"):
                for index, seen in enumerate(out):
                    if isinstance(seen, Pred) and (seen.key, seen.op) == (part.key, part.op):
                        fresh = tuple(v for v in part.values if v not in seen.values)
                        out[index] = Pred(seen.key, seen.op, seen.values + fresh)
                        break
                else:
                    out.append(part)
            elif part not in out:
                out.append(part)
    if not out:
        return FALSE
    return out[0] if len(out) == 1 else AnyOf(tuple(out))


def plain_absorb(node: Node) -> Node:
    if not isinstance(node, AnyOf | All):
        return node
    terms = [plain_absorb(t) for t in node.terms]
    if isinstance(node, All):
        return all_of(*terms)
    sets = [frozenset(t.terms) if isinstance(t, All) else frozenset((t,)) for t in terms]
    kept = [t for t, mine in zip(terms, sets, strict=True) if not any(o < mine for o in sets)]
    return plain_any_of(*kept)


def plain_factor(node: Node) -> Node:
    if not isinstance(node, AnyOf):
        return node
    conjuncts = [t.terms if isinstance(t, All) else (t,) for t in node.terms]
    common = [c for c in conjuncts[0] if all(c in other for other in conjuncts[1:])]
    if not common:
        return node
    rests = [all_of(*(c for c in terms if c not in common)) for terms in conjuncts]
    return all_of(*common, plain_any_of(*rests))


KEYS = ("event.type", "tgt.process.name", "tgt.process.cmdline")
VALUES = ("Process Creation", "cmd.exe", "CMD.EXE", "/c", "powershell", "x")
preds = st.builds(
    Pred,
    st.sampled_from(KEYS),
    st.sampled_from(["in", "contains", "starts", "eq", "ne"]),
    st.lists(st.sampled_from(VALUES), min_size=1, max_size=3).map(tuple),  # repeats allowed
)
trees: st.SearchStrategy[Node] = st.recursive(
    st.one_of(preds, st.sampled_from([TRUE, FALSE])),
    lambda children: st.one_of(
        st.lists(children, min_size=1, max_size=4).map(lambda ts: All(tuple(ts))),
        st.lists(children, min_size=1, max_size=4).map(lambda ts: AnyOf(tuple(ts))),
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(trees, min_size=0, max_size=8))
def test_any_of_is_the_pairwise_merge(terms: list[Node]) -> None:
    assert any_of(*terms) == plain_any_of(*terms)


@settings(max_examples=300, deadline=None)
@given(st.lists(trees, min_size=1, max_size=8))
def test_combine_is_the_pairwise_absorb_and_factor(stages: list[Node]) -> None:
    ored = any_of(*stages)
    assert absorb(ored) == plain_absorb(ored)
    assert factor(absorb(ored)) == plain_factor(plain_absorb(ored))
    assert combine(stages) == plain_factor(plain_absorb(plain_any_of(*stages)))


# -- work: node comparisons while combining thousands of stages -------------------------------


@contextmanager
def counting_comparisons() -> Iterator[list[int]]:
    """Count `==` between pushdown nodes (list scans and pairwise subset tests both compare
    nodes; hashed lookups compare only on a hit)."""
    count = [0]
    originals: dict[type, Callable[[Any, Any], Any]] = {}
    for cls in (Pred, All, AnyOf, Const):
        original = cls.__eq__
        originals[cls] = original

        def counted(self: Any, other: Any, original: Any = original) -> Any:
            count[0] += 1
            return original(self, other)

        setattr(cls, "__eq__", counted)  # noqa: B010 - a method, replaced for the count
    try:
        yield count
    finally:
        for patched, original in originals.items():
            setattr(patched, "__eq__", original)  # noqa: B010


def many_stages(n: int) -> list[Node]:
    """Stages as Sigma rules make them: one shared event type, one name each, half of them
    also a command-line test (absorbed by the name-only stage of the same name)."""
    kind = Pred("event.type", "eq", ("Process Creation",))
    stages: list[Node] = []
    for i in range(n):
        name = Pred("tgt.process.name", "in", (f"tool{i // 2}.exe",))
        if i % 2:
            stages.append(all_of(kind, name, Pred("tgt.process.cmdline", "contains", (f"-{i}",))))
        else:
            stages.append(all_of(kind, name))
    return stages


@pytest.mark.parametrize("n", [1000, 4000])
def test_combining_n_stages_compares_nodes_a_linear_number_of_times(n: int) -> None:
    stages = many_stages(n)
    with counting_comparisons() as count:
        combined = combine(stages)
    # The pairwise algorithms compared ~1.3 * n * n times (1,271,511 for n = 1,000).
    assert count[0] <= 40 * n, count[0]  # 25 * n + 11 now
    kind = Pred("event.type", "eq", ("Process Creation",))
    names = tuple(f"tool{i}.exe" for i in range(n // 2))
    assert combined == All((kind, Pred("tgt.process.name", "in", names)))


def test_add_alternative_calls_are_linear_in_the_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = [0]
    original = pushdown_ir._add_alternative

    def counted(out: Any, part: Node) -> None:
        calls[0] += 1
        original(out, part)

    monkeypatch.setattr(pushdown_ir, "_add_alternative", counted)
    n = 2000
    combine(many_stages(n))
    # any_of(stages), any_of(kept) after absorption, any_of(rests) after factoring.
    assert calls[0] <= 3 * n, calls[0]


# -- EQL parsed once per process ------------------------------------------------------------------


def corpus_rules() -> list[Rule]:
    return [parse_rule_file(p) for p in sorted(CORPUS.rglob("*.toml"))[:60]]


def test_pushdown_uses_the_engines_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = corpus_rules()
    monkeypatch.setattr(program, "_CACHE", {})  # the engine compiles (and parses) afresh
    monkeypatch.setattr(parser, "PARSED", {})
    for rule in rules:
        compile_rule(rule)

    def no_parse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pushdown parsed a rule the engine had already parsed")

    monkeypatch.setattr(parser, "_parse", no_parse)  # the memo must answer
    assert build_pushdown(rules).s1ql
    assert build_prefilter(rules).alternatives


def test_prefilter_alone_is_the_pushdowns_prefilter() -> None:
    rules = corpus_rules()
    assert build_prefilter(rules) == build_pushdown(rules).prefilter


# -- replay builds no query ---------------------------------------------------------------------


def test_replay_builds_no_s1ql_or_sdl_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("replay built a console query")

    for module, name in [
        (pushdown, "build_pushdown"),
        (pushdown, "fit"),
        (pushdown, "render_s1ql"),
        (pushdown, "render_sdl"),
        (pushdown_widen, "fit"),
        (pushdown_widen, "combine"),
        (pushdown_ir, "render_s1ql"),
        (pushdown_ir, "render_sdl"),
    ]:
        monkeypatch.setattr(module, name, refuse)
    monkeypatch.chdir(tmp_path)
    at = to_datetime("2026-11-20T10:00:00Z")
    assert at is not None
    path = tmp_path / "cf.ndjson"
    path.write_text("".join(json.dumps(r) + "\n" for r in chain("A", at).records))
    assert cli.run(["replay", str(path)]) == 0
    out, _ = capsys.readouterr()
    assert len(out.splitlines()) == 1  # the seed rule's alert: the rules were loaded


def test_a_cloud_funnel_source_gets_the_prefilter_without_a_query(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.config import parse_config  # noqa: PLC0415
    from connector.pipeline import build_source  # noqa: PLC0415
    from connector.sources.cloud_funnel import CloudFunnelSource  # noqa: PLC0415

    rules = corpus_rules()
    expected = build_pushdown(rules).prefilter

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a Cloud Funnel source built a console query")

    monkeypatch.setattr(pushdown, "build_pushdown", refuse)
    monkeypatch.setattr(pushdown, "fit", refuse)
    raw = {"source": {"kind": "cloud-funnel"}, "cloud_funnel": {"location": str(tmp_path)}}
    source = build_source(parse_config(raw, tmp_path), rules, None)
    assert isinstance(source, CloudFunnelSource)
    assert source.prefilter == expected
