"""Build a SentinelOne record that satisfies a converted Sigma rule (for the fire test).

`wish(condition, produced)` walks the rule's EQL condition and picks field values that make it
true — the first workable branch of every `or`, the first pattern of every list, leaving the
fields of negated tests absent — using only fields the mapping produces. `to_record` turns
that ECS wish into a Cloud Funnel record of the right event type, which the test then feeds
through the real mapper and engine. Nothing here decides whether the rule fires: the engine
does; a rule whose generated record does not fire is reported by name.
"""

from __future__ import annotations

import importlib
import ipaddress
import re
from collections.abc import Collection
from typing import Any

from connector.detection.eql import ast
from connector.detection.eql.patterns import lucene_regex

Wish = dict[str, Any]

# The parser behind `re` (its `sre_*` aliases are deprecated): walks a regex to build a match.
sre_parse: Any = importlib.import_module("re._parser")
sre_constants: Any = importlib.import_module("re._constants")

# ECS field -> Cloud Funnel key, per event type (roles as in connector.mapping.tables).
_PROCESS_ROLES = {
    "process.": "tgt.process.",
    "process.parent.": "src.process.",
}
_NETWORK_ROLES = {
    "process.": "src.process.",
    "process.parent.": "src.process.parent.",
}
_ROLE_FIELDS = {
    "executable": "image.path",
    "command_line": "cmdline",
    "pe.original_file_name": "image.originalFileName",
    "user.name": "user",
    "user.id": "eUserUid",
    "pid": "pid",
    "entity_id": "uid",
    "hash.md5": "image.md5",
    "hash.sha1": "image.sha1",
    "hash.sha256": "image.sha256",
    "Ext.token.integrity_level_name": "integrityLevel",
    "title": "displayName",
    "name": "name",
}
_NETWORK_FIELDS = {
    "destination.ip": "dst.ip.address",
    "destination.port": "dst.port.number",
    "source.ip": "src.ip.address",
    "source.port": "src.port.number",
    "network.protocol": "event.network.protocolName",
}
_DIRECTIONS = {"egress": "OUTGOING", "ingress": "INCOMING"}


class Unsatisfiable(Exception):
    """No branch of the condition could be satisfied with produced fields."""


def wish(condition: ast.Expr, produced: Collection[str]) -> Wish:
    """Field values (flat ECS) that should make `condition` true."""
    wanted: dict[str, list[tuple[str, Any]]] = {}
    _want(condition, True, wanted, produced)
    return {name: _realize(constraints) for name, constraints in wanted.items()}


Wanted = dict[str, list[tuple[str, Any]]]


def _field(expr: ast.Expr) -> str | None:
    return expr.name if isinstance(expr, ast.Field) else None


def _want(expr: ast.Expr, truth: bool, wanted: Wanted, produced: Collection[str]) -> None:
    if isinstance(expr, ast.Not):
        _want(expr.operand, not truth, wanted, produced)
    elif isinstance(expr, ast.And | ast.Or):
        if isinstance(expr, ast.And) == truth:  # every term must take `truth`
            for term in expr.terms:
                _want(term, truth, wanted, produced)
            return
        for term in expr.terms:  # one term taking `truth` is enough
            trial = {k: list(v) for k, v in wanted.items()}
            try:
                _want(term, truth, trial, produced)
            except Unsatisfiable:
                continue
            wanted.clear()
            wanted.update(trial)
            return
        raise Unsatisfiable(str(expr)[:80])
    elif truth:
        _atom(expr, wanted, produced)
    elif isinstance(expr, ast.Compare) and expr.op == "!=":
        raise Unsatisfiable("negated !=")
    elif isinstance(expr, ast.Compare) and _is_null(expr.right) and expr.op == "==":
        name = _field(expr.left)
        if name is not None and name in produced:  # `not ?f == null`: f must be present
            wanted.setdefault(name, []).append(("present", None))
    # A test that must be false: its fields are left absent, or hold values chosen for other
    # tests (the engine decides whether that was enough).


def _add(
    wanted: Wanted, name: str | None, kind: str, value: Any, produced: Collection[str]
) -> None:
    if name is None or name not in produced:
        raise Unsatisfiable(f"cannot set {name}")
    wanted.setdefault(name, []).append((kind, value))


def _atom(expr: ast.Expr, wanted: Wanted, produced: Collection[str]) -> None:
    if isinstance(expr, ast.StringMatch):
        name = _field(expr.value)
        pattern = expr.patterns[0]
        assert isinstance(pattern, ast.Literal)
        if not isinstance(pattern.value, str):
            _add(wanted, name, "exact", pattern.value, produced)
        elif expr.operator == "regex":
            _add(wanted, name, "regex", pattern.value, produced)
        else:
            _add(wanted, name, "wildcard", pattern.value, produced)
    elif isinstance(expr, ast.In):
        option = expr.options[0]
        assert isinstance(option, ast.Literal)
        _add(wanted, _field(expr.value), "exact", option.value, produced)
    elif isinstance(expr, ast.Compare) and expr.op == "==":
        assert isinstance(expr.right, ast.Literal)
        _add(wanted, _field(expr.left), "exact", expr.right.value, produced)
    elif isinstance(expr, ast.Compare) and expr.op == "!=":
        return  # an absent field is != anything
    elif isinstance(expr, ast.FunctionCall) and expr.name == "cidrmatch":
        network = expr.args[1]
        assert isinstance(network, ast.Literal)
        address = ipaddress.ip_network(str(network.value), strict=False).network_address
        _add(wanted, _field(expr.args[0]), "exact", str(address), produced)
    else:
        raise Unsatisfiable(f"no generator for {type(expr).__name__}")


def _is_null(expr: ast.Expr) -> bool:
    return isinstance(expr, ast.Literal) and expr.value is None


_NEUTRAL = "gen.bin"
"""A value for a field that only has to be present (matches none of the usual patterns)."""


def _realize(constraints: list[tuple[str, Any]]) -> Any:
    """One value meeting a field's positive tests: an exact value wins, else prefix + every
    fragment (and an example of each unanchored regex) + suffix of the patterns."""
    for kind, value in constraints:
        if kind == "exact":
            return value
    prefix = suffix = ""
    middle: list[str] = []
    patterns = [value for kind, value in constraints if kind == "wildcard"]
    for kind, value in constraints:
        if kind == "regex":
            if not (value.startswith(".*") and value.endswith(".*")):
                return _regex_example(value)
            middle.append(_regex_example(value))
    if not patterns and not middle:
        return _NEUTRAL
    for pattern in patterns:
        parts = pattern.replace("?", "*").split("*")
        if len(parts) == 1:
            return pattern
        if len(parts[0]) > len(prefix):
            prefix = parts[0]
        if len(parts[-1]) > len(suffix):
            suffix = parts[-1]
        middle.extend(p for p in parts[1:-1] if p)
    return prefix + "".join(middle) + suffix


def _regex_example(pattern: str) -> str:
    """One string the (Lucene) regex matches in full."""
    return "".join(_emit(sre_parse.parse(lucene_regex(pattern))))


def _emit(parsed: Any) -> list[str]:
    out: list[str] = []
    for op, arg in parsed:
        if op is sre_constants.LITERAL:
            out.append(chr(arg))
        elif op is sre_constants.ANY:
            out.append("a")
        elif op is sre_constants.IN:
            out.append(_in_example(arg))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT):
            low, _high, sub = arg
            out.extend(_emit(sub) * low)
        elif op is sre_constants.SUBPATTERN:
            out.extend(_emit(arg[-1]))
        elif op is sre_constants.BRANCH:
            out.extend(_emit(arg[1][0]))
        elif op is sre_constants.CATEGORY:
            out.append(_CATEGORY.get(arg, "a"))
        elif op is sre_constants.AT:
            continue
        else:
            raise Unsatisfiable(f"regex op {op}")
    return out


_CATEGORY = {
    sre_constants.CATEGORY_DIGIT: "0",
    sre_constants.CATEGORY_WORD: "a",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_NOT_WORD: "-",
    sre_constants.CATEGORY_NOT_SPACE: "a",
}


def _in_example(items: list[tuple[Any, Any]]) -> str:
    op, arg = items[0]
    if op is sre_constants.NEGATE:
        excluded = {chr(a) for o, a in items[1:] if o is sre_constants.LITERAL}
        return next(c for c in "aZ0_-" if c not in excluded)
    if op is sre_constants.LITERAL:
        return chr(arg)
    if op is sre_constants.RANGE:
        return chr(arg[0])
    if op is sre_constants.CATEGORY:
        return _CATEGORY.get(arg, "a")
    raise Unsatisfiable(f"regex class {op}")


def to_record(wished: Wish, category: str, serial: int) -> dict[str, Any]:
    """A Cloud Funnel record (Process Creation or IP Connect) carrying the wished fields."""
    record: dict[str, Any] = {
        "event.id": f"01JFIRE_{serial}",
        "event.time": 1_764_000_000_000 + serial,
        "endpoint.name": "WKS-FIRE",
        "agent.uuid": "00000000000000000000000000000001",
    }
    network = category == "network"
    record["event.type"] = "IP Connect" if network else "Process Creation"
    roles = _NETWORK_ROLES if network else _PROCESS_ROLES
    for name, value in wished.items():
        if name.startswith("!"):
            continue
        record.update(_cf(name, value, roles))
    for prefix in roles.values():  # every placed role needs a uid, distinct per role
        record.setdefault(prefix + "uid", f"UID-{prefix}")
    record.setdefault("endpoint.os", "windows")
    return record


def _cf(name: str, value: Any, roles: dict[str, str]) -> dict[str, Any]:
    if name == "host.os.type":
        return {"endpoint.os": value}
    if name == "network.direction":
        return {"event.network.direction": _DIRECTIONS.get(str(value).lower(), value)}
    if name in _NETWORK_FIELDS:
        return {_NETWORK_FIELDS[name]: value}
    for ecs_prefix in sorted(roles, key=len, reverse=True):
        suffix = name.removeprefix(ecs_prefix)
        if name.startswith(ecs_prefix) and suffix in _ROLE_FIELDS:
            key = roles[ecs_prefix] + _ROLE_FIELDS[suffix]
            out = {key: value}
            if suffix == "executable":  # the name S1 reports beside the path
                out.setdefault(roles[ecs_prefix] + "name", re.split(r"[\\/]", str(value))[-1])
            return out
    raise Unsatisfiable(f"no S1 key for {name}")
