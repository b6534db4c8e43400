"""The pushdown filter as a tiny boolean tree, rendered to S1QL, to an SDL filter and to needles.

Nodes are over Cloud Funnel keys, so one tree serves both languages:

| node                        | S1QL (string field)           | SDL filter                    |
|-----------------------------|-------------------------------|-------------------------------|
| `Pred(k, "in", (a, b))`     | `K In Anycase ("a", "b")`     | `(k contains 'a' or ...)`     |
| `Pred(k, "contains", (a,))` | `K ContainsCIS "a"`           | `k contains 'a'`              |
| `Pred(k, "starts", (a,))`   | `K StartsWithCIS "a"` (ends…) | `k contains 'a'` (coarser)    |
| `Pred(k, "eq", ("A B",))`   | `K In Anycase ("A B")`        | `(k contains 'A B' or ...)`   |
| `Pred(k, "ne", ("A B",))`   | `K Not In ("A B")`            | `(k != 'A B' and k != 'AB')`  |
| `All` / `AnyOf`             | `AND` / `OR`; nested groups always in parentheses             |
| `TRUE` / `FALSE`            | dropped / a contradiction     | dropped / a contradiction     |

**Enum fields** (`EventType`, `EndpointOS`, `EndpointMachineType`, ...; `s1ql_fields.py`)
take only `=`, `!=`, `In`, `Not In` with documented values. A test on one is rendered as
the documented values it can be true for: `eq`/`in` as `K = "v"` / `K In (...)`, `ne` as
`K != "v"` / `K Not In (...)`, `contains`/`starts`/`ends` as `K In (...)` of the documented
values that pass the test. A value with no documented spelling cannot be sent: the test
becomes "no restriction" (still a superset). Matching ignores case, and, for event types,
spaces — the mapper does the same, and Cloud Funnel has been seen writing `ProcessCreation`.

In SDL, `contains` ignores case and `=`/`in` do not (evidence page), so positive tests use
`contains` and event types are sent with and without spaces; `!=` is case-sensitive, which
only lets more through. Strings are quoted `'...'` with `\\` and `\'` escaped.

A key with no S1QL name renders as "no restriction" in S1QL (the tree only ever loses
conjuncts that way, so the result stays a superset). String values never contain `"` or
`\\` (the builder guarantees it; S1QL has no escapes).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from connector.mapping import CF_TO_DV
from connector.sources.s1ql_fields import documented_value, enum_values

__all__ = [
    "FALSE",
    "S1QL_FALSE",
    "S1QL_TRUE",
    "TRUE",
    "All",
    "AnyOf",
    "Const",
    "Node",
    "Pred",
    "all_of",
    "any_of",
    "factor",
    "needle",
    "needles",
    "render_s1ql",
    "render_sdl",
    "s1ql_name",
    "sdl_quote",
]

PredOp = Literal["in", "contains", "starts", "ends", "eq", "ne"]
MAX_IN_VALUES = 100  # Surveyor's limit per In list; longer lists are split into ORs
MIN_NEEDLE = 3
_UNSAFE_NEEDLE = frozenset('"\\/')


@dataclass(frozen=True)
class Const:
    value: bool


TRUE = Const(True)
FALSE = Const(False)


@dataclass(frozen=True)
class Pred:
    """A test on one Cloud Funnel key; every op but `eq`/`ne` ignores letter case."""

    key: str
    op: PredOp
    values: tuple[str, ...]


@dataclass(frozen=True)
class All:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    terms: tuple[Node, ...]


Node = Const | Pred | All | AnyOf


def all_of(*terms: Node) -> Node:
    """AND with constant folding and flattening."""
    out: list[Node] = []
    for term in terms:
        if term == FALSE:
            return FALSE
        if term == TRUE:
            continue
        for part in term.terms if isinstance(term, All) else (term,):
            if part not in out:
                out.append(part)
    if not out:
        return TRUE
    return out[0] if len(out) == 1 else All(tuple(out))


def any_of(*terms: Node) -> Node:
    """OR with constant folding, flattening and merging of `in` tests on one key.

    Linear in the number of alternatives: the alternatives seen so far are indexed by
    value (nodes are hashable) and mergeable tests by (key, op), so thousands of stages
    ORed together cost no more than reading them (a list scan per term was quadratic)."""
    out = _Alternatives()
    for term in terms:
        if term == TRUE:
            return TRUE
        if term == FALSE:
            continue
        for part in term.terms if isinstance(term, AnyOf) else (term,):
            out.add(part)
    return out.node()


class _Alternatives:
    """The alternatives of an OR being built, in first-seen order.

    An `in` or `contains` test goes into the first test of the same key and op (its new
    values appended in order); any other node is added unless an equal one is there."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self.seen: set[Node] = set()
        self.merged: dict[tuple[str, PredOp], tuple[int, list[str], set[str]]] = {}

    def add(self, part: Node) -> None:
        _add_alternative(self, part)

    def node(self) -> Node:
        out = self.nodes
        for (key, op), (index, values, _) in self.merged.items():
            out[index] = Pred(key, op, tuple(values))
        if not out:
            return FALSE
        return out[0] if len(out) == 1 else AnyOf(tuple(out))


def _add_alternative(out: _Alternatives, part: Node) -> None:
    if isinstance(part, Pred) and part.op in ("in", "contains"):
        merged = out.merged.get((part.key, part.op))
        if merged is not None:
            _, values, known = merged
            fresh = [v for v in part.values if v not in known]  # as before: no dedupe within
            values.extend(fresh)
            known.update(fresh)
            return
        out.merged[(part.key, part.op)] = (len(out.nodes), list(part.values), set(part.values))
        out.nodes.append(part)  # replaced by the merged test in `node()`
        return
    if part not in out.seen:
        out.seen.add(part)
        out.nodes.append(part)


def factor(node: Node) -> Node:
    """Pull conjuncts shared by every alternative of a top-level OR in front of it.

    `(a AND b) OR (a AND c)` becomes `a AND (b OR c)`: the same set, a shorter query.
    """
    if not isinstance(node, AnyOf):
        return node
    conjuncts = [t.terms if isinstance(t, All) else (t,) for t in node.terms]
    common = list(conjuncts[0])
    for terms in conjuncts[1:]:
        if not common:
            return node  # usually decided within the first few alternatives
        common = [c for c in common if c in terms]
    if not common:
        return node
    rests = [all_of(*(c for c in terms if c not in common)) for terms in conjuncts]
    return all_of(*common, any_of(*rests))


# -- S1QL ------------------------------------------------------------------------------------

_S1QL_NAMES = {
    "endpoint.os": "EndpointOS",
    "src.process.pid": "SrcProcPID",
    "tgt.process.pid": "TgtProcPID",
    "src.ip.address": "SrcIP",
    "dst.ip.address": "DstIP",
    "agent.uuid": "AgentUUID",
}
_S1QL_OPS = {"contains": "ContainsCIS", "starts": "StartsWithCIS", "ends": "EndsWithCIS"}


def s1ql_name(key: str) -> str | None:
    """The S1QL field for a Cloud Funnel key (the DV key, capitalised), or None."""
    if key in _S1QL_NAMES:
        return _S1QL_NAMES[key]
    dv = CF_TO_DV.get(key)
    return dv[0].upper() + dv[1:] if dv else None


def render_s1ql(node: Node) -> str:
    """S1QL for `node` at top level (a plain AND chain needs no outer parentheses)."""
    if node == TRUE:
        return S1QL_TRUE
    if node == FALSE:
        return S1QL_FALSE
    text = _s1ql(node, top=True)
    return text if text is not None else S1QL_TRUE


# `EventType` is an enum: `Is Not Empty` is refused on it, so "everything" and "nothing" are
# written with `=` / `!=` on a documented value.
S1QL_TRUE = '(EventType = "Process Creation" OR EventType != "Process Creation")'
S1QL_FALSE = '(EventType = "Process Creation" AND EventType != "Process Creation")'
"""The S1QL for "every event" and for "no event" (no loaded rule can match anything)."""


def _s1ql(node: Node, top: bool = False) -> str | None:
    """None means "no restriction" (TRUE in S1QL terms)."""
    if isinstance(node, Const):
        return None if node.value else S1QL_FALSE
    if isinstance(node, Pred):
        return _s1ql_pred(node)
    parts = [_s1ql(t) for t in node.terms]
    if isinstance(node, AnyOf):
        if any(p is None for p in parts):
            return None
        return _group([p for p in parts if p is not None], "OR", top)
    kept = [p for p in parts if p is not None]
    return _group(kept, "AND", top) if kept else None


def _group(parts: list[str], joiner: str, top: bool) -> str:
    if len(parts) == 1:
        return parts[0]
    text = f" {joiner} ".join(parts)
    return text if top else f"({text})"


def _s1ql_pred(pred: Pred) -> str | None:
    name = s1ql_name(pred.key)
    if name is None:
        return None
    if enum_values(name) is not None:
        return _s1ql_enum(name, pred)
    if pred.op in ("eq", "ne"):
        values = ", ".join(f'"{v}"' for v in _spellings(pred.values))
        # Not In is case-sensitive, so it lets more through: still a superset.
        return f"{name} In Anycase ({values})" if pred.op == "eq" else f"{name} Not In ({values})"
    if pred.op == "in":
        return _in_lists(name, "In Anycase", pred.values)
    op = _S1QL_OPS[pred.op]
    return _group([f'{name} {op} "{v}"' for v in pred.values], "OR", False)


def _in_lists(name: str, op: str, values: Iterable[str]) -> str:
    items = list(values)
    if len(items) == 1 and op in ("In", "Not In"):
        return f'{name} {"=" if op == "In" else "!="} "{items[0]}"'
    size = MAX_IN_VALUES
    chunks = [items[i : i + size] for i in range(0, len(items), size)]
    lists = [", ".join(f'"{v}"' for v in chunk) for chunk in chunks]
    joiner = "AND" if op == "Not In" else "OR"
    return _group([f"{name} {op} ({values})" for values in lists], joiner, False)


def _s1ql_enum(name: str, pred: Pred) -> str | None:
    """An enum test as `=`/`!=`/`In`/`Not In` of documented values; None = no restriction."""
    documented = _documented(name, pred)
    if documented is None:
        return None
    return _in_lists(name, "Not In" if pred.op == "ne" else "In", documented)


def _documented(name: str, pred: Pred) -> list[str] | None:
    """The documented values `pred` can be true for; None when that cannot be said."""
    values = enum_values(name) or ()
    if pred.op in ("eq", "ne", "in"):
        found = [documented_value(name, v, ignore_spaces=True) for v in pred.values]
        if any(f is None for f in found):
            return None  # an undocumented value: the console would refuse it
        return list(dict.fromkeys(f for f in found if f is not None))
    tests = {"contains": str.__contains__, "starts": str.startswith, "ends": str.endswith}
    test = tests[pred.op]
    kept = [d for d in values if any(test(d.casefold(), v.casefold()) for v in pred.values)]
    return kept or None


# -- SDL ---------------------------------------------------------------------------------------


def render_sdl(node: Node) -> str | None:
    """The SDL filter for `node` at top level; None when it restricts nothing."""
    if node == TRUE:
        return None
    return _sdl(node, top=True)


def _sdl(node: Node, top: bool = False) -> str:
    if isinstance(node, Const):
        return "event.type='' and event.type!=''" if not node.value else "event.type=*"
    if isinstance(node, Pred):
        return _sdl_pred(node)
    joiner = "or" if isinstance(node, AnyOf) else "and"
    return _group([_sdl(t) for t in node.terms], joiner, top)


def _sdl_pred(pred: Pred) -> str:
    if pred.op == "ne":
        values = _spellings(pred.values)
        return _group([f"{pred.key} != {sdl_quote(v)}" for v in values], "and", False)
    values = _spellings(pred.values) if pred.op == "eq" else list(pred.values)
    return _group([f"{pred.key} contains {sdl_quote(v)}" for v in values], "or", False)


def _spellings(values: Iterable[str]) -> list[str]:
    """Each value with and without spaces (Cloud Funnel has been seen dropping them from
    event types; the mapper ignores spaces and case)."""
    out: list[str] = []
    for value in values:
        for spelling in (value, value.replace(" ", "")):
            if spelling not in out:
                out.append(spelling)
    return out


def sdl_quote(value: str) -> str:
    """An SDL string literal: single quotes, with backslash and quote escaped (evidence)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# -- prefilter needles ---------------------------------------------------------------------------


def needle(value: str) -> bytes | None:
    """The longest run of characters JSON never escapes, lower-cased; None if too short."""
    best = ""
    run = ""
    for char in value.lower():
        if " " <= char <= "~" and char not in _UNSAFE_NEEDLE:
            run += char
            best = max(best, run, key=len)
        else:
            run = ""
    return best.encode("ascii") if len(best) >= MIN_NEEDLE else None


def needles(node: Node) -> tuple[bytes, ...] | None:
    """Needles of which a raw line matching `node` must hold at least one; None if unknown."""
    if isinstance(node, Pred):
        if node.op in ("eq", "ne"):
            return None
        found = [needle(v) for v in node.values]
        return tuple(n for n in found if n is not None) if all(found) else None
    if isinstance(node, AnyOf):
        out: list[bytes] = []
        for term in node.terms:
            sub = needles(term)
            if sub is None:
                return None
            out.extend(n for n in sub if n not in out)
        return tuple(out)
    return None
