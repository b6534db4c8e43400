"""What a source is asked to fetch: the pushed-down queries and the raw-line prefilter.

Plain data, so sources depend on it without depending on the rule engine
(`pushdown.py` builds these from the rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["EDR_FILTER", "Prefilter", "Pushdown"]

EDR_FILTER = "dataSource.name='SentinelOne' and dataSource.category='security'"
"""SDL filter for EDR telemetry; without it LRQ can silently return nothing (api §6.2)."""

Group = tuple[bytes, ...]
Alternative = tuple[Group, ...]


@dataclass(frozen=True)
class Prefilter:
    """Says whether a raw NDJSON line *could* match: a superset test, never a verdict.

    `alternatives` is an OR of ANDs of ORs: the line passes when, for at least one
    alternative (one rule stage), every group has at least one needle in the line. Needles
    are lowercase ASCII without `"`, `\\` or `/` (characters JSON may escape); the line is
    compared in lowercase. A line that is not pure ASCII, or holds a `\\u` escape, always
    passes: a Unicode case fold or an escape could hide a needle.

    | alternatives                      | meaning                                   |
    |-----------------------------------|-------------------------------------------|
    | `((),)` (the default)             | every line passes                         |
    | `(((b"cmd.exe",),),)`             | the line must contain `cmd.exe`, any case |
    | `()`                              | no line passes (no rule stage at all)     |
    """

    alternatives: tuple[Alternative, ...] = ((),)
    description: tuple[str, ...] = field(default=(), compare=False)

    def __call__(self, line: bytes | str) -> bool:
        raw = line.encode("utf-8") if isinstance(line, str) else line
        if not raw.isascii() or b"\\u" in raw:
            return True
        lowered = raw.lower()
        return any(_satisfies(lowered, alt) for alt in self.alternatives)

    @property
    def passes_everything(self) -> bool:
        return any(not alt for alt in self.alternatives)

    @classmethod
    def everything(cls) -> Prefilter:
        return cls()


def _satisfies(lowered: bytes, alternative: Alternative) -> bool:
    return all(any(needle in lowered for needle in group) for group in alternative)


@dataclass(frozen=True)
class Pushdown:
    """The narrowest queries that are still a superset of what every loaded rule stage needs.

    `s1ql` is for Deep Visibility init-query, `sdl_filter` for SDL LOG queries (it includes
    the EDR data-source filter; sites are added by the SDL source), `prefilter` for Cloud
    Funnel lines. `notes` says where translation fell back to something coarser.
    """

    s1ql: str
    sdl_filter: str
    prefilter: Prefilter = field(default_factory=Prefilter)
    notes: tuple[str, ...] = ()
