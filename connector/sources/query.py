"""What a source is asked to fetch: the pushed-down queries and the raw-line prefilter.

Plain data, so sources depend on it without depending on the rule engine
(`pushdown.py` builds these from the rules).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from connector.sources.line_forms import forcing_patterns, forcing_texts

if TYPE_CHECKING:
    from connector.sources.needle_index import NeedleIndex

__all__ = ["EDR_FILTER", "HIDING_ESCAPE", "Prefilter", "Pushdown"]

EDR_FILTER = "dataSource.name='SentinelOne' and dataSource.category='security'"
"""SDL filter for EDR telemetry; without it LRQ can silently return nothing (api §6.2)."""

HIDING_ESCAPE = re.compile(rb"\\[u/]")
"""JSON escapes a needle cannot be looked for through (`\\u0041`, `\\/`): lines holding one
always pass. (A regex finds them in a block faster than `in`, which stumbles over the many
backslashes of Windows paths.)"""
Group = tuple[bytes, ...]
Alternative = tuple[Group, ...]


@dataclass(frozen=True)
class Prefilter:
    """Says whether a raw NDJSON line *could* match: a superset test, never a verdict.

    `alternatives` is an OR of ANDs of ORs: the line passes when, for at least one
    alternative (one rule stage), every group has at least one needle in the line. Needles
    are lowercase ASCII as JSON writes them (`"` as `\\"`, `\\` as `\\\\`, `/` as itself);
    the line is compared in lowercase. A line that is not pure ASCII, or holds a `\\u` or `\\/`
    escape (`HIDING_ESCAPE`), always passes: a Unicode case fold or such an escape could hide
    a needle. So does a line that writes a value some of its needles look for in another way
    than they do (`forcing`, `line_forms.py`).

    | alternatives                      | meaning                                   |
    |-----------------------------------|-------------------------------------------|
    | `((),)` (the default)             | every line passes                         |
    | `(((b"cmd.exe",),),)`             | the line must contain `cmd.exe`, any case |
    | `()`                              | no line passes (no rule stage at all)     |

    `passes_lowered` is the needle test alone, for callers that lower-case and check the
    ASCII / escape / odd number conditions on a whole block at once
    (`ndjson.PrefilteredLines`).
    """

    alternatives: tuple[Alternative, ...] = ((),)
    description: tuple[str, ...] = field(default=(), compare=False)
    automaton: bool = field(default=True, compare=False)
    """Whether many needles (more than `_AUTOMATON_FROM`) are tested with one automaton walk
    per line; else always with `in` tests, which stop at the first needle found and, in the
    order of the groups, at the first group without one (`block_scan`'s per-key tests: a
    walk costs ~10 µs per line whatever it finds, measured)."""

    def __call__(self, line: bytes | str) -> bool:
        raw = line.encode("utf-8") if isinstance(line, str) else line
        if not raw.isascii() or HIDING_ESCAPE.search(raw) is not None:
            return True
        if self.forcing is not None and self.forcing.search(raw) is not None:
            return True
        return self.passes_lowered(raw.lower())

    @cached_property
    def forcing_patterns(self) -> tuple[bytes, ...]:
        """The regexes (ASCII case ignored) of the lines that pass whatever their needles
        (`line_forms.forcing_patterns`; none for most prefilters)."""
        return forcing_patterns(self._needles)

    @cached_property
    def forcing_texts(self) -> tuple[bytes, ...]:
        """The same, as texts (`line_forms.forcing_texts`)."""
        return forcing_texts(self._needles)

    @cached_property
    def forcing(self) -> re.Pattern[bytes] | None:
        """`forcing_patterns` and `forcing_texts` as one Python regex, or None when there
        are none."""
        patterns = (*self.forcing_patterns, *map(re.escape, self.forcing_texts))
        return re.compile(b"|".join(patterns), re.IGNORECASE) if patterns else None

    @property
    def _needles(self) -> Iterator[bytes]:
        return (n for alternative in self.alternatives for group in alternative for n in group)

    @cached_property
    def passes_lowered(self) -> Callable[[bytes], bool]:
        """The needle test on one already lower-cased line, pure ASCII without `\\u`."""
        passes: Callable[[bytes], bool] = self._compiled["passes"]
        return passes

    @cached_property
    def select_lowered(self) -> Callable[[Sequence[bytes]], list[int]]:
        """The indexes of the lines that pass `passes_lowered`, for a list of lower-cased
        lines (`ndjson.PrefilteredLines` handles the ASCII and escape conditions)."""
        select: Callable[[Sequence[bytes]], list[int]] = self._compiled["select"]
        return select

    @cached_property
    def _compiled(self) -> dict[str, Any]:
        needles = self._flat_needles()
        if self.automaton and needles is not None and len(needles) > _AUTOMATON_FROM:
            return _automaton_test(needles)
        index = self._index if self.automaton else None
        if index is not None:  # many needles in groups: one automaton walk per line
            return {"passes": index.passes, "select": index.select}
        # One boolean expression (`b'cmd.exe' in low and ...`), inlined into a list
        # comprehension for whole blocks: per line, a loop over the tuples or even a
        # function call would cost more than the `in` tests themselves.
        test = _expression(self.alternatives)
        source = (
            f"def passes(low):\n    return {test}\n"
            f"def select(lines):\n    return [i for i, low in enumerate(lines) if {test}]\n"
        )
        namespace: dict[str, Any] = {}
        exec(compile(source, "<prefilter>", "exec"), namespace)
        return namespace

    def _flat_needles(self) -> tuple[bytes, ...] | None:
        """All needles, when the test is "the line holds any of them" (every alternative
        one group); None otherwise."""
        if not all(len(alternative) == 1 for alternative in self.alternatives):
            return None
        return tuple(dict.fromkeys(n for (group,) in self.alternatives for n in group))

    @property
    def passes_everything(self) -> bool:
        return any(not alt for alt in self.alternatives)

    @cached_property
    def _index(self) -> NeedleIndex | None:
        """The automaton test, for a prefilter of more than `_AUTOMATON_FROM` needles."""
        if self.passes_everything or not self.alternatives:
            return None
        count = len({n for alt in self.alternatives for group in alt for n in group})
        if count <= _AUTOMATON_FROM:
            return None
        from connector.sources.needle_index import NeedleIndex  # noqa: PLC0415

        return NeedleIndex(self.alternatives)

    def ordered_by(self, sample: Sequence[bytes]) -> Prefilter:
        """The same test with each alternative's groups in rising order of how many
        `sample` lines (lower-cased) they accept, so a line that fails, fails on the first
        `in` test. The answer for any line is unchanged; only the order of work is."""
        index = self._index
        if index is not None:  # one automaton walk per sample line, not one `in` per needle
            known = index.group_rates(sample)
            ordered = tuple(tuple(sorted(alt, key=known.__getitem__)) for alt in self.alternatives)
            return Prefilter(ordered, self.description, self.automaton)

        rates: dict[Group, int] = {}  # many alternatives share groups (`windows`, `start`)

        def rate(group: Group) -> int:
            found = rates.get(group)
            if found is None:
                found = rates[group] = sum(
                    1 for low in sample if any(needle in low for needle in group)
                )
            return found

        ordered = tuple(tuple(sorted(alt, key=rate)) for alt in self.alternatives)
        return Prefilter(ordered, self.description, self.automaton)

    @classmethod
    def everything(cls) -> Prefilter:
        return cls()


_AUTOMATON_FROM = 24
"""From this many needles on, one Aho-Corasick scan of the line beats one `in` per needle."""


def _automaton_test(needles: tuple[bytes, ...]) -> dict[str, Any]:
    """`passes`/`select` for "the line holds one of `needles`", with one Aho-Corasick
    automaton (`pyahocorasick`, C). Lines are decoded as Latin-1 (one byte, one character),
    so byte needles match exactly where they would in the bytes."""
    # Only prefilters with many needles need it.
    from connector.sources.needle_index import byte_automaton  # noqa: PLC0415

    first = byte_automaton(needles).iter

    def passes(low: bytes) -> bool:
        return next(first(low.decode("latin-1")), None) is not None

    def select(lines: Sequence[bytes]) -> list[int]:
        # Line by line: an automaton scan from an offset of one long text re-reads the
        # text on each call, which costs more than the per-line calls.
        return [i for i, low in enumerate(lines) if passes(low)]

    return {"passes": passes, "select": select}


def _expression(alternatives: tuple[Alternative, ...]) -> str:
    """`alternatives` as a Python expression over `low` (empty OR: False, empty AND: True)."""
    if not alternatives:
        return "False"
    terms = []
    for alternative in alternatives:
        groups = [
            "(" + " or ".join(f"{needle!r} in low" for needle in group) + ")" if group else "False"
            for group in alternative
        ]
        terms.append("(" + " and ".join(groups) + ")" if groups else "True")
    return " or ".join(terms)


@dataclass(frozen=True)
class Pushdown:
    """The narrowest queries that are still a superset of what every loaded rule stage needs.

    `s1ql` is for Deep Visibility init-query, `sdl_filter` for SDL LOG queries (it includes
    the EDR data-source filter; sites are added by the SDL source), `prefilter` for Cloud
    Funnel lines. `notes` says where translation fell back to something coarser; `widened`
    says which query had to be widened to fit the console's size limit, and `levels` names
    the level each query took (`pushdown_widen.LEVELS`: "exact" unless widened).
    """

    s1ql: str
    sdl_filter: str
    prefilter: Prefilter = field(default_factory=Prefilter)
    notes: tuple[str, ...] = ()
    widened: tuple[str, ...] = ()
    levels: dict[str, str] = field(default_factory=dict, compare=False)
