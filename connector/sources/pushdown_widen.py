"""Fit the pushdown into the size a console accepts, by widening it in steps that stay supersets.

With hundreds of rules the exact pushdown is far longer than any console will take (all 408
Elastic rules: ~72,000 characters of S1QL, ~127,000 of SDL filter). Above the configured size
(`console.max_s1ql_length`, `console.max_sdl_filter_length`) the query is rebuilt with fewer
kinds of test, one step at a time, until it fits:

| level              | what the query still tests                                        |
|--------------------|-------------------------------------------------------------------|
| `exact`            | everything the rules allow (`pushdown.py`)                        |
| `names`            | event type, OS and exact-value lists (names, hashes, users);      |
|                    | substring, prefix and suffix tests (command lines, paths) go      |
| `event type + OS`  | event type and endpoint OS only                                   |
| `event type`       | event type only                                                   |
| `everything`       | nothing: every EDR event is fetched                               |

Why every level is a superset: a stage filter is an AND/OR tree of positive tests (no `not`
above a test), so replacing any test by TRUE can only let more records through; stages are
widened one by one and then ORed and factored again, as at the exact level. The engine still
evaluates every rule exactly, so alerts do not change; only more records are fetched. One
wider query is preferred to several narrower ones (DV allows one init-query a minute).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from connector.sources.pushdown_ir import TRUE, All, AnyOf, Node, Pred, all_of, any_of, factor

__all__ = ["LEVELS", "Fitted", "absorb", "combine", "fit", "widen"]

_SUBSTRING_OPS = frozenset({"contains", "starts", "ends"})
_ENUM_KEYS = frozenset({"event.type", "endpoint.os"})


def _keep_names(pred: Pred) -> bool:
    return pred.key in _ENUM_KEYS or pred.op not in _SUBSTRING_OPS


LEVELS: tuple[tuple[str, Callable[[Pred], bool]], ...] = (
    ("exact", lambda pred: True),
    ("names", _keep_names),
    ("event type + OS", lambda pred: pred.key in _ENUM_KEYS),
    ("event type", lambda pred: pred.key == "event.type"),
    ("everything", lambda pred: False),
)
"""Widening steps, narrowest first: (name, which tests survive)."""


def widen(node: Node, keep: Callable[[Pred], bool]) -> Node:
    """`node` with every test `keep` rejects replaced by TRUE (a superset of `node`)."""
    if isinstance(node, Pred):
        return node if keep(node) else TRUE
    if isinstance(node, All):
        return all_of(*(widen(t, keep) for t in node.terms))
    if isinstance(node, AnyOf):
        return any_of(*(widen(t, keep) for t in node.terms))
    return node


@dataclass(frozen=True)
class Fitted:
    """The query text that fits, the level it took, and the exact text's length."""

    text: str
    level: str
    exact_length: int

    def note(self, language: str, limit: int) -> str | None:
        """What was widened, for `rules pushdown` and the run summary; None when exact."""
        if self.level == "exact":
            return None
        fits = len(self.text) <= limit
        return (
            f"{language} widened to {self.level}: the exact query has {self.exact_length:,} "
            f"characters, above the {limit:,} limit; the sent one has {len(self.text):,}"
            + ("" if fits else " and still does not fit (nothing narrower is a superset)")
        )


def fit(
    stages: Sequence[Node],
    render: Callable[[Node], str],
    limit: int,
    *,
    combined: dict[str, Node] | None = None,
) -> Fitted:
    """The narrowest level whose rendering of the ORed `stages` is at most `limit` long.

    The last level (`everything`) is returned even when it does not fit: it is the widest
    query there is, so a console refusing it refuses any pushdown (`Fitted.note` says so).
    `combined` keeps the combined tree of each level tried, by level name, so fitting the
    same `stages` for a second language does not combine them again.
    """
    cache = {} if combined is None else combined

    def at(level: int) -> Node:
        name, keep = LEVELS[level]
        if name not in cache:
            cache[name] = combine(stages if level == 0 else [widen(s, keep) for s in stages])
        return cache[name]

    exact = render(at(0))
    if len(exact) <= limit:
        return Fitted(exact, "exact", len(exact))
    text = exact
    for level in range(1, len(LEVELS)):
        text = render(at(level))
        if len(text) <= limit:
            return Fitted(text, LEVELS[level][0], len(exact))
    return Fitted(text, LEVELS[-1][0], len(exact))


def combine(stages: Sequence[Node]) -> Node:
    """The stages ORed, alternatives another one covers dropped, shared conjuncts factored
    out."""
    return factor(absorb(any_of(*stages)))


def absorb(node: Node) -> Node:
    """`node` without OR alternatives that another alternative already covers:
    `a OR (a AND b)` is `a`. The same set of records, a shorter query."""
    if not isinstance(node, AnyOf | All):
        return node
    terms = [absorb(t) for t in node.terms]
    if isinstance(node, All):
        return all_of(*terms)
    conjuncts = [frozenset(t.terms) if isinstance(t, All) else frozenset((t,)) for t in terms]
    covered = _covered(conjuncts)
    return any_of(*(term for term, drop in zip(terms, covered, strict=True) if not drop))


def _covered(conjuncts: Sequence[frozenset[Node]]) -> list[bool]:
    """For each set, whether another one is a strict subset of it (that alternative is
    implied by the other one).

    Each set is indexed under its rarest member; a set can only have a subset among the
    sets indexed under one of its own members. With thousands of stages this checks a few
    candidates per alternative instead of every pair."""
    counts: dict[Node, int] = {}
    for mine in conjuncts:
        for atom in mine:
            counts[atom] = counts.get(atom, 0) + 1
    by_rarest: dict[Node, list[frozenset[Node]]] = {}
    for mine in set(conjuncts):
        rarest = min(mine, key=counts.__getitem__)
        by_rarest.setdefault(rarest, []).append(mine)
    return [
        any(other < mine for atom in mine for other in by_rarest.get(atom, ()))
        for mine in conjuncts
    ]
