"""Which stage conditions an event satisfies (category dispatch) and its join keys.

`Dispatch` indexes every stage of every rule by its event category, so an event costs one
dict lookup unless its category is used by some rule; only then are the (precompiled)
conditions of those stages run. A `Hit` is `(rule index, role)`, where role is the index of
the stage condition in `CompiledRule.stages`, or -1 for `until`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from itertools import product
from typing import Any

from connector.detection.model import Event
from connector.detection.program import CompiledRule, Stage

__all__ = ["UNTIL", "Dispatch", "Hit", "join_keys"]

log = logging.getLogger(__name__)

UNTIL = -1
Hit = tuple[int, int]
_Check = tuple[Callable[[Event], bool], Hit]


class Dispatch:
    """Category-indexed stage conditions of a rule set."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        by_category: dict[str, list[_Check]] = {}
        any_category: list[_Check] = []
        for rule_index, compiled in enumerate(rules):
            roles: list[tuple[int, Stage]] = list(enumerate(compiled.stages))
            if compiled.until is not None:
                roles.insert(0, (UNTIL, compiled.until))
            for role, stage in roles:
                check = (stage.condition.fn, (rule_index, role))
                if stage.category is None:
                    any_category.append(check)
                else:
                    by_category.setdefault(stage.category, []).append(check)
        self._any = tuple(any_category)
        self._specific = {k: tuple(v) for k, v in by_category.items()}
        # With `any where` stages appended, so the per-event path allocates nothing.
        self._combined = {k: (*v, *self._any) for k, v in self._specific.items()}
        self.errors = 0

    def candidates(self, event: Event, category: Any) -> list[Hit] | None:
        """The hits of `event` (None when it matches nothing). `category` may be a list."""
        try:
            # The common shapes inline (one category, possibly in a one-element list): this
            # runs for every event of the stream.
            if category.__class__ is not list:
                checks = self._combined.get(category, self._any)
            elif len(category) == 1:
                checks = self._combined.get(category[0], self._any)
            else:
                checks = self._several(category)
            if not checks:
                return None
            hits = None
            for condition, hit in checks:
                if condition(event):
                    if hits is None:
                        hits = [hit]
                    else:
                        hits.append(hit)
            return hits
        except (TypeError, AttributeError, ValueError, OverflowError) as exc:
            # A malformed event (e.g. an object where a string was expected) must not stop
            # the run: it is counted and skipped.
            self.errors += 1
            log.debug("event skipped, evaluating it failed: %s", exc)
            return None

    def _several(self, categories: list[Any]) -> tuple[_Check, ...]:
        specific = self._specific
        found = [check for name in dict.fromkeys(categories) for check in specific.get(name, ())]
        return (*found, *self._any)


def join_keys(stage: Stage, event: Event) -> list[tuple[Any, ...]]:
    """The join keys of `event` for `stage`: one tuple per combination of key values.

    A multi-valued key field yields one key per distinct value; a missing or null key field
    yields no key (the event takes no part) unless the key was written `?field`, in which
    case null is a key value like any other."""
    if not stage.keys:
        return [()]
    choices: list[list[Any]] = []
    for key in stage.keys:
        value = event.get(key.name)
        if value.__class__ is list:
            options = [v for v in dict.fromkeys(_hashable(v) for v in value) if v is not None]
        else:
            options = [] if value is None else [_hashable(value)]
        if not options:
            if not key.optional:
                return []
            options = [None]
        choices.append(options)
    if len(choices) == 1:
        return [(v,) for v in choices[0]]
    return list(product(*choices))


def _hashable(value: Any) -> Any:
    # Join keys are dict keys and JSON values; anything else becomes its text.
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
