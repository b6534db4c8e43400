"""Helpers the generated predicates call: any-element semantics over flat ECS values.

A field value is None (missing or null), a scalar, or a list of scalars. "Any" helpers are
true when at least one element satisfies the check; a missing field satisfies nothing, so
`not any(...)` is true for it (Elasticsearch's `must_not`). Lists are walked with plain
`for` loops, not `any(<generator>)`: these helpers run for every list-valued field a
condition tests (`process.args`), and a generator costs a frame per call.
"""

from __future__ import annotations

from typing import Any

from connector.detection.eql.functions import arith, compare
from connector.detection.eql.patterns import CidrSet, StringMatcher, folded_strings

__all__ = ["NAMESPACE"]

_NULL_ONLY = (None,)


def elements(value: Any) -> Any:
    """The values to try for a field: its elements, or (None,) when it is missing/empty."""
    if value.__class__ is list:
        return value or _NULL_ONLY
    return (value,)


def is_null(value: Any) -> bool:
    """Missing, null, an empty list or a list of nulls."""
    if value is None:
        return True
    if value.__class__ is list:
        return all(item is None for item in value)
    return False


def eq_any(value: Any, constant: Any) -> bool:
    """Some element equals `constant` exactly (same type family, case-sensitive)."""
    if value.__class__ is list:
        for item in value:  # noqa: SIM110 - a loop: no generator frame per call
            if compare("==", item, constant) is True:
                return True
        return False
    return compare("==", value, constant) is True


def cmp_any(value: Any, op: str, constant: Any) -> bool:
    """Some element satisfies `element op constant`."""
    if value.__class__ is list:
        for item in value:  # noqa: SIM110 - a loop: no generator frame per call
            if compare(op, item, constant) is True:
                return True
        return False
    return compare(op, value, constant) is True


def in_any(value: Any, options: frozenset[Any]) -> bool:
    """Some element is one of `options` (hashable scalars; bools never equal numbers)."""
    if value.__class__ is list:
        for item in value:  # noqa: SIM110 - a loop: no generator frame per call
            if _in(item, options):
                return True
        return False
    return _in(value, options)


def in_str_any(value: Any, options: frozenset[str]) -> bool:
    """`in_any` for string options only: no element of another type can equal one, so a
    list is tested in C (`isdisjoint`); an unhashable element falls back to `in_any`."""
    if value.__class__ is str:
        return value in options
    if value.__class__ is list:
        try:
            return not options.isdisjoint(value)
        except TypeError:
            return in_any(value, options)
    return _in(value, options)


def _in(item: Any, options: frozenset[Any]) -> bool:
    if item is None or item.__class__ is bool:
        return item in options and any(o is item for o in options)
    try:
        return item in options
    except TypeError:
        return False  # an unhashable value (an object) equals none of the constants


def in_fold_any(value: Any, options: frozenset[Any]) -> bool:
    """Like `in_any`, folding strings (options are folded already)."""
    if value.__class__ is list:
        if not options.isdisjoint(folded_strings(value)):
            return True
        for item in value:  # noqa: SIM110 - a loop: no generator frame per call
            if item.__class__ is not str and _in(item, options):
                return True
        return False
    return _in(_fold(value), options)


def _fold(item: Any) -> Any:
    return item.casefold() if item.__class__ is str else item


def match_any(value: Any, matcher: StringMatcher) -> bool:
    """Some string element matches."""
    if value.__class__ is str:
        return matcher.matches(value)
    if value.__class__ is list:
        return matcher.matches_some(value)
    return False


def cidr_any(value: Any, networks: CidrSet) -> bool:
    """Some element is an address inside `networks`."""
    if value.__class__ is list:
        contains = networks.contains
        for item in value:  # noqa: SIM110 - a loop: no generator frame per call
            if contains(item):
                return True
        return False
    return networks.contains(value)


def true_any(value: Any) -> bool:
    """Some element is the boolean true (a bare field used as a condition)."""
    if value.__class__ is list:
        for item in value:  # noqa: SIM110 - a loop: no generator frame per call
            if item is True:
                return True
        return False
    return value is True


# --- value-level (three-valued) helpers -------------------------------------------------------
def in_val(value: Any, options: tuple[Any, ...], fold: bool) -> Any:
    """`value in options` for one value: null when the value is null."""
    if value is None:
        return None
    probe = _fold(value) if fold else value
    for option in options:
        if compare("==", probe, _fold(option) if fold else option) is True:
            return True
    return False


def match_val(value: Any, matcher: StringMatcher, others: frozenset[Any]) -> Any:
    """A `:`/`like`/`regex` test of one value; non-string values compare to `others`."""
    if value is None:
        return None
    if value.__class__ is str:
        return matcher.matches(value)
    return _in(value, others)


def cidr_val(value: Any, networks: CidrSet) -> Any:
    """`cidrmatch` of one value: null when the value is null."""
    return None if value is None else networks.contains(value)


def compare_optional(op: str, left: Any, right: Any, left_opt: bool, right_opt: bool) -> Any:
    """`==`/`!=` where a missing optional field stands for the null literal."""
    if (left is None and left_opt) or (right is None and right_opt):
        both_null = left is None and right is None
        return both_null if op == "==" else not both_null
    return compare(op, left, right)


def not3(value: Any) -> Any:
    """Three-valued not."""
    return None if value is None else value is not True


def and3(*values: Any) -> Any:
    """Three-valued and."""
    if any(v is False for v in values):
        return False
    return None if any(v is None for v in values) else True


def or3(*values: Any) -> Any:
    """Three-valued or."""
    if any(v is True for v in values):
        return True
    return None if any(v is None for v in values) else False


NAMESPACE: dict[str, Any] = {
    "_elements": elements,
    "_is_null": is_null,
    "_eq_any": eq_any,
    "_cmp_any": cmp_any,
    "_in_any": in_any,
    "_in_str_any": in_str_any,
    "_in_fold_any": in_fold_any,
    "_match_any": match_any,
    "_cidr_any": cidr_any,
    "_true_any": true_any,
    "_in_val": in_val,
    "_match_val": match_val,
    "_cidr_val": cidr_val,
    "_not3": not3,
    "_and3": and3,
    "_or3": or3,
    "_compare": compare,
    "_compare_optional": compare_optional,
    "_arith": arith,
}
