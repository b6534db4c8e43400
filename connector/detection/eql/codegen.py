"""Source generation for `compiler.py`: AST nodes to Python expressions.

Two kinds of expression are generated:

* **conditions** (`Generator.condition`): Python expressions over the event `e` that are
  `True`/`False`, with any-element semantics for multi-valued fields;
* **values** (`Generator.value`): expressions over *one element* of each field, bound by a
  surrounding `for` (see `_bound_condition`), three-valued (None = null).

Fast paths cover the shapes detection rules are made of (a field compared with constants);
everything else goes through the general per-element path. Constants that are not plain
literals (sets, matchers, CIDR lists, functions) are bound as `_kN` names in the namespace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.detection.eql import ast
from connector.detection.eql.functions import FUNCTIONS, lookup
from connector.detection.eql.patterns import CidrSet, StringMatcher
from connector.detection.eql.runtime import NAMESPACE

__all__ = ["UNSELECTIVE_FIELDS", "Code", "Generator"]

# Fields whose value is shared by most events (so a check on them rarely rejects one):
# checked after the selective ones.
UNSELECTIVE_FIELDS = frozenset(
    {
        "host.os.type",
        "host.os.family",
        "host.os.platform",
        "host.os.name",
        "event.type",
        "event.action",
        "event.kind",
        "event.category",
        "network.direction",
        "event.outcome",
        "event.dataset",
        "event.module",
        "data_stream.dataset",
        "agent.type",
    }
)
_FLIPPED: dict[str, ast.CompareOp] = {
    "==": "==",
    "!=": "!=",
    "<": ">",
    "<=": ">=",
    ">": "<",
    ">=": "<=",
}
_BOOLEAN_NODES = (ast.Compare, ast.In, ast.StringMatch, ast.Not, ast.And, ast.Or)


@dataclass(frozen=True)
class Code:
    """A generated expression and its estimated cost (lower = cheaper and more selective)."""

    code: str
    cost: float


def _is_literal(node: ast.Expr) -> bool:
    return isinstance(node, ast.Literal)


def _literal_values(nodes: tuple[ast.Expr, ...]) -> list[ast.LiteralValue] | None:
    if all(isinstance(n, ast.Literal) for n in nodes):
        return [n.value for n in nodes if isinstance(n, ast.Literal)]
    return None


class Generator:
    """Generates one condition; collects constants and the fields read."""

    def __init__(self) -> None:
        self._constants: dict[str, Any] = {}
        self._temps = 0
        self.fields: set[str] = set()

    @property
    def constants(self) -> dict[str, Any]:
        """The `_kN` constants the generated code refers to."""
        return dict(self._constants)

    @staticmethod
    def base_namespace(constants: dict[str, Any]) -> dict[str, Any]:
        """Globals for a generated function with these constants."""
        # The generated code needs only these builtins; nothing else is reachable from it.
        builtins = {"any": any, "str": str, "list": list, "int": int}
        return {**NAMESPACE, **constants, "__builtins__": builtins}

    def _const(self, value: Any) -> str:
        name = f"_k{len(self._constants)}"
        self._constants[name] = value
        return name

    def _temp(self) -> str:
        self._temps += 1
        return f"_v{self._temps}"

    def _get(self, field: ast.Field) -> str:
        self.fields.add(field.name)
        return f"e.get({field.name!r})"

    def _field_cost(self, field: ast.Field, base: float) -> float:
        return base + (4.0 if field.name in UNSELECTIVE_FIELDS else 0.0)

    # --- conditions ----------------------------------------------------------------------
    def condition(self, node: ast.Expr) -> Code:
        """A boolean expression for `node` used as a condition."""
        if isinstance(node, ast.And | ast.Or):
            return self._junction(node)
        if isinstance(node, ast.Not):
            inner = self.condition(node.operand)
            # A negation passes most events, so it is tried after the selective checks.
            return Code(f"not ({inner.code})", inner.cost + 3.0)
        if isinstance(node, ast.Literal):
            if isinstance(node.value, bool) or node.value is None:
                return Code(repr(node.value is True), 0.0)
            raise ValueError(f"{node.value!r} is not a condition")
        if isinstance(node, ast.Field):
            return Code(f"_true_any({self._get(node)})", 1.0)
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.In):
            return self._in(node)
        if isinstance(node, ast.StringMatch):
            return self._string_match(node)
        if isinstance(node, ast.FunctionCall):
            return self._function_condition(node)
        raise ValueError("an arithmetic expression is not a condition")

    def _junction(self, node: ast.And | ast.Or) -> Code:
        parts = sorted((self.condition(t) for t in node.terms), key=lambda c: c.cost)
        joiner = " and " if isinstance(node, ast.And) else " or "
        code = joiner.join(f"({p.code})" for p in parts)
        return Code(code, sum(p.cost for p in parts))

    def _compare(self, node: ast.Compare) -> Code:
        left, right = node.left, node.right
        op: ast.CompareOp = node.op
        if _is_literal(left) and not _is_literal(right):
            left, op, right = right, _FLIPPED[op], left
        if isinstance(right, ast.Literal):
            rewritten = self._compare_constant(left, op, right.value)
            if rewritten is not None:
                return rewritten
        return self._bound_condition(ast.Compare(left, op, right))

    def _compare_constant(self, left: ast.Expr, op: str, constant: Any) -> Code | None:
        if constant is None and op in ("==", "!="):
            if isinstance(left, ast.Field):
                var = self._temp()
                null_test = (
                    f"(({var} := {self._get(left)}) is None"
                    f" or ({var}.__class__ is list and _is_null({var})))"
                )
                return Code(null_test if op == "==" else f"not {null_test}", 1.5)
            return None
        if isinstance(constant, bool) and op in ("==", "!=") and self._is_boolean(left):
            inner = self.condition(left)
            if (op == "==") == constant:
                return inner
            return Code(f"not ({inner.code})", inner.cost + 3.0)
        if not isinstance(left, ast.Field):
            return None
        if op in ("==", "!="):
            test = self._equals(left, constant)
            return test if op == "==" else Code(f"not ({test.code})", test.cost + 3.0)
        cost = self._field_cost(left, 3)
        if _is_number(constant):
            # An int element compares as Python compares ints; anything else (floats,
            # strings, lists, bools) goes through the general helper.
            var = self._temp()
            code = (
                f"(({var} {op} {constant!r}) if ({var} := {self._get(left)}).__class__ is int"
                f" else ({var} is not None and _cmp_any({var}, {op!r}, {constant!r})))"
            )
            return Code(code, cost)
        return Code(f"_cmp_any({self._get(left)}, {op!r}, {constant!r})", cost)

    def _equals(self, field: ast.Field, constant: Any) -> Code:
        if isinstance(constant, str):
            var = self._temp()
            code = (
                f"(({var} := {self._get(field)}) == {constant!r}"
                f" or ({var}.__class__ is list and {constant!r} in {var}))"
            )
            return Code(code, self._field_cost(field, 1.0))
        cost = self._field_cost(field, 1.5)
        if _is_number(constant):
            var = self._temp()  # the int fast path, as in `_compare_constant`
            code = (
                f"(({var} == {constant!r}) if ({var} := {self._get(field)}).__class__ is int"
                f" else ({var} is not None and _eq_any({var}, {constant!r})))"
            )
            return Code(code, cost)
        return Code(f"_eq_any({self._get(field)}, {constant!r})", cost)

    def _is_boolean(self, node: ast.Expr) -> bool:
        if isinstance(node, _BOOLEAN_NODES):
            return True
        if isinstance(node, ast.FunctionCall):
            function = FUNCTIONS.get(node.name)
            return function is not None and function.boolean
        return False

    def _in(self, node: ast.In) -> Code:
        values = _literal_values(node.options)
        if not isinstance(node.value, ast.Field) or values is None:
            return self._bound_condition(node)
        if node.case_insensitive:
            options = frozenset(v.casefold() if isinstance(v, str) else v for v in values)
            helper = "_in_fold_any"
        else:
            options = frozenset(values)
            strings = all(isinstance(v, str) for v in values)
            helper = "_in_str_any" if strings else "_in_any"
        code = _in_code(helper, self._get(node.value), self._const(options), self._temp())
        if None in options:
            code = f"({code} or _is_null({self._get(node.value)}))"
        return Code(code, self._field_cost(node.value, 1.5))

    def _string_match(self, node: ast.StringMatch) -> Code:
        values = _literal_values(node.patterns)
        if values is None:
            raise ValueError(f"the right side of {node.operator!r} must be constants")
        strings = [v for v in values if isinstance(v, str)]
        if not isinstance(node.value, ast.Field) or len(strings) != len(values):
            return self._bound_condition(node)
        matcher = self._matcher(node.operator, strings, node.case_insensitive)
        return self._field_matcher(node.value, matcher)

    def _matcher(self, operator: str, patterns: list[str], fold: bool) -> StringMatcher:
        if operator == "regex":
            try:
                return StringMatcher.regexes(patterns, fold)
            except (re.error, ValueError) as exc:
                raise ValueError(f"invalid regex: {exc}") from exc
        return StringMatcher.wildcards(patterns, fold)

    def _field_matcher(self, field: ast.Field, matcher: StringMatcher) -> Code:
        """Inline the common single-check matchers; fall back to `_match_any`."""
        var = self._temp()
        inline = _inline_check(matcher, var, self._const)
        cost = self._field_cost(field, 2.0 if matcher.pattern is None else 8.0)
        const = self._const(matcher)
        if inline is None:
            # A string is matched without the helper's frame; a missing field costs no call.
            code = (
                f"({const}.matches({var}) if ({var} := {self._get(field)}).__class__ is str"
                f" else ({var}.__class__ is list and _match_any({var}, {const})))"
            )
            return Code(code, cost)
        code = (
            f"((({var} := {self._get(field)}).__class__ is str and {inline})"
            f" or ({var}.__class__ is list and _match_any({var}, {const})))"
        )
        return Code(code, cost)

    def _function_condition(self, node: ast.FunctionCall) -> Code:
        lookup(node.name, len(node.args), node.case_insensitive)
        first = node.args[0] if node.args else None
        rest = _literal_values(node.args[1:])
        if node.name in ("cidrmatch", "wildcard"):
            if rest is None or not all(isinstance(v, str) for v in rest):
                raise ValueError(f"{node.name} takes constant strings after the first argument")
            texts = [str(v) for v in rest]
            if isinstance(first, ast.Field):
                if node.name == "cidrmatch":
                    nets = self._const(CidrSet(texts))
                    return Code(
                        f"_cidr_any({self._get(first)}, {nets})", self._field_cost(first, 6)
                    )
                return self._field_matcher(first, StringMatcher.wildcards(texts, False))
            return self._bound_condition(node)
        kinds = {"startswith": "prefix", "endswith": "suffix", "stringcontains": "contains"}
        literal_args = rest is not None and all(isinstance(v, str) for v in rest)
        if node.name in kinds and isinstance(first, ast.Field) and literal_args:
            texts = [str(v) for v in rest or ()]
            matcher = StringMatcher.literal(kinds[node.name], texts, node.case_insensitive)
            return self._field_matcher(first, matcher)
        return self._bound_condition(node)

    def _bound_condition(self, node: ast.Expr) -> Code:
        """General path: evaluate `node` for each combination of field elements; any true."""
        names: dict[str, str] = {}
        _collect_fields(node, names)
        self.fields.update(names)
        value = self.value(node, names)
        loops = " ".join(f"for {var} in _elements(e.get({name!r}))" for name, var in names.items())
        if not loops:
            return Code(f"(({value}) is True)", 10.0)
        return Code(f"any(({value}) is True {loops})", 10.0)

    # --- values ----------------------------------------------------------------------------
    def value(self, node: ast.Expr, names: dict[str, str]) -> str:
        """A three-valued expression for `node`; fields are the element variables in `names`."""
        if isinstance(node, ast.Literal):
            return repr(node.value)
        if isinstance(node, ast.Field):
            return names[node.name]
        if isinstance(node, ast.Arithmetic):
            left, right = self.value(node.left, names), self.value(node.right, names)
            return f"_arith({node.op!r}, {left}, {right})"
        if isinstance(node, ast.Negate):
            return f"_arith('-', 0, {self.value(node.operand, names)})"
        if isinstance(node, ast.Compare):
            return self._compare_value(node, names)
        if isinstance(node, ast.In):
            options = ", ".join(self.value(o, names) for o in node.options)
            return (
                f"_in_val({self.value(node.value, names)}, ({options},), {node.case_insensitive})"
            )
        if isinstance(node, ast.StringMatch):
            return self._match_value(node, names)
        if isinstance(node, ast.FunctionCall):
            return self._function_value(node, names)
        parts = [self.value(t, names) for t in _terms(node)]
        if isinstance(node, ast.Not):
            return f"_not3({parts[0]})"
        helper = "_and3" if isinstance(node, ast.And) else "_or3"
        return f"{helper}({', '.join(parts)})"

    def _compare_value(self, node: ast.Compare, names: dict[str, str]) -> str:
        left = self.value(node.left, names)
        right = self.value(node.right, names)
        for side, other in ((node.right, left), (node.left, right)):
            if isinstance(side, ast.Literal) and side.value is None and node.op in ("==", "!="):
                return f"({other} is {'' if node.op == '==' else 'not '}None)"
        optional = [isinstance(n, ast.Field) and n.optional for n in (node.left, node.right)]
        if any(optional) and node.op in ("==", "!="):
            # A missing `?field` is the null literal (Elasticsearch: a field absent from the
            # mapping), so `?x == ?y` holds when both are missing.
            return f"_compare_optional({node.op!r}, {left}, {right}, {optional[0]}, {optional[1]})"
        return f"_compare({node.op!r}, {left}, {right})"

    def _match_value(self, node: ast.StringMatch, names: dict[str, str]) -> str:
        values = _literal_values(node.patterns) or []
        strings = [v for v in values if isinstance(v, str)]
        others = frozenset(v for v in values if not isinstance(v, str))
        matcher = self._matcher(node.operator, strings, node.case_insensitive)
        value = self.value(node.value, names)
        return f"_match_val({value}, {self._const(matcher)}, {self._const(others)})"

    def _function_value(self, node: ast.FunctionCall, names: dict[str, str]) -> str:
        function = lookup(node.name, len(node.args), node.case_insensitive)
        args = [self.value(a, names) for a in node.args]
        if node.name in ("cidrmatch", "wildcard"):
            rest = _literal_values(node.args[1:])
            if rest is None or not all(isinstance(v, str) for v in rest):
                raise ValueError(f"{node.name} takes constant strings after the first argument")
            texts = [str(v) for v in rest]
            if node.name == "cidrmatch":
                return f"_cidr_val({args[0]}, {self._const(CidrSet(texts))})"
            matcher = StringMatcher.wildcards(texts, False)
            return f"_match_val({args[0]}, {self._const(matcher)}, frozenset())"
        call = f"{self._const(function.impl)}({', '.join(args)}"
        return call + (", ci=True)" if node.case_insensitive else ")")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_IN_FAST_CLASS = {"_in_str_any": "str", "_in_fold_any": "str", "_in_any": "int"}


def _in_code(helper: str, get: str, options: str, var: str) -> str:
    """`helper(value, options)`, with the element class the helper tests by hashing alone
    (`runtime.py`) tested inline, and a missing field answered without a call."""
    probe = f"{var}.casefold()" if helper == "_in_fold_any" else var
    return (
        f"(({probe} in {options}) if ({var} := {get}).__class__ is {_IN_FAST_CLASS[helper]}"
        f" else ({var} is not None and {helper}({var}, {options})))"
    )


def _terms(node: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(node, ast.Not):
        return (node.operand,)
    if isinstance(node, ast.And | ast.Or):
        return node.terms
    raise ValueError(f"unexpected node {type(node).__name__}")


def _collect_fields(node: ast.Expr, names: dict[str, str]) -> None:
    if isinstance(node, ast.Field):
        names.setdefault(node.name, f"_f{len(names)}")
        return
    for child in _children(node):
        _collect_fields(child, names)


def _children(node: ast.Expr) -> tuple[ast.Expr, ...]:
    if isinstance(node, ast.Compare | ast.Arithmetic):
        return (node.left, node.right)
    if isinstance(node, ast.In):
        return (node.value, *node.options)
    if isinstance(node, ast.StringMatch):
        return (node.value, *node.patterns)
    if isinstance(node, ast.FunctionCall):
        return node.args
    if isinstance(node, ast.Negate | ast.Not):
        return (node.operand,)
    if isinstance(node, ast.And | ast.Or):
        return node.terms
    return ()


def _inline_check(matcher: StringMatcher, var: str, const: Callable[[Any], str]) -> str | None:
    """An inline expression for a matcher that needs a single check of a str `var`."""
    if matcher.any_string or matcher.pattern is not None:
        return None
    text = f"{var}.casefold()" if matcher.fold else var
    checks = [
        (matcher.exact, f"{text} == {next(iter(matcher.exact))!r}" if matcher.exact else ""),
        (matcher.suffixes, f"{text}.endswith({matcher.suffixes!r})"),
        (matcher.prefixes, f"{text}.startswith({matcher.prefixes!r})"),
        (matcher.contains, f"{matcher.contains[0]!r} in {text}" if matcher.contains else ""),
    ]
    used = [(items, code) for items, code in checks if items]
    if len(used) != 1:
        return None
    items, code = used[0]
    if len(items) == 1:
        return code
    if items is matcher.exact:
        return f"{text} in {const(matcher.exact)}"
    if items is matcher.contains:
        return None
    return code
