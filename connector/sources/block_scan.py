"""The prefilter over a whole block of NDJSON lines at once: one automaton scan per block.

`PrefilteredLines` (ndjson.py) asks this module first. For a block that is plain — pure
ASCII, no `\\u` or `\\/` escape, every line shaped like a JSON object (`{…}`, no blank line) — the
passing lines are found without a Python step per line:

1. the block is searched for the *key needles* (lower-cased and `bytes.find` for a few,
   else one Hyperscan scan ignoring ASCII case): for each alternative of the prefilter,
   the needles of one of its groups. A passing line satisfies some alternative, so it holds
   one of that alternative's key needles: lines without a hit are ruled out;
2. a line with a hit is then tested against the other groups of the alternatives that the
   key needle found starts (a small `Prefilter` per key, made once), unless one of them
   has no other group (the hit is then the answer).

So the lines chosen are exactly those `Prefilter.passes_lowered` accepts, and, when the
prefilter holds number needles, those with an `ODD_NUMBER` (found by one more Hyperscan
scan); the work grows with the hits, not with the lines. Blocks that are not plain return
None and go the line by line way (ndjson.py), which handles the forced and shapeless lines.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable
from itertools import accumulate, repeat
from operator import add

from connector.sources.query import (
    HIDING_ESCAPE,
    ODD_NUMBER_PATTERNS,
    Alternative,
    Prefilter,
)

__all__ = ["BlockScanner"]

_FIND_UP_TO = 8
"""Up to this many key needles, one `bytes.find` pass each; beyond, one automaton walk."""
_ESCAPE = HIDING_ESCAPE.search


class BlockScanner:
    """Finds the passing lines of plain blocks for one `Prefilter` (see the module docstring).

    Not for a prefilter that passes everything (no needle to scan for)."""

    def __init__(self, prefilter: Prefilter) -> None:
        rests: dict[bytes, list[Alternative]] = {}
        for alternative in prefilter.alternatives:
            if not alternative:
                raise ValueError("a prefilter that passes every line needs no scan")
            # The first group: `ordered_by` put the one fewest sample lines hold first.
            for key in alternative[0]:
                rests.setdefault(key, []).append(alternative[1:])
        if any(b"\n" in key for key in rests):
            raise ValueError("a needle holds a line break")
        self.empty = not rests
        self._keys = tuple(rests)
        # Per key, the test of the other groups of its alternatives (None: the key decides),
        # one `Prefilter` per distinct set (keys of one group share it), compiled when first
        # needed: most keys are never hit.
        shared: dict[tuple[Alternative, ...], Prefilter] = {}
        self._rests: list[Prefilter | None] = []
        for started in rests.values():
            others = tuple(dict.fromkeys(started))
            if any(not rest for rest in others):
                self._rests.append(None)
            else:
                self._rests.append(shared.setdefault(others, Prefilter(others, automaton=False)))
        self._tests: list[Callable[[bytes], bool] | None] = [None] * len(rests)
        self._few = len(self._keys) <= _FIND_UP_TO
        self._hits = self._found if self._few else _hyperscan(self._keys)
        self._odd = _hyperscan(ODD_NUMBER_PATTERNS, literal=False) if prefilter.numbers else None

    def _found(self, lowered: bytes) -> list[tuple[int, int]]:
        """Where a key needle ends in `lowered` and which, in order: `bytes.find` per needle
        (a fast C search) beats an automaton walk over the block while there are only a few."""
        ends: list[tuple[int, int]] = []
        for number, key in enumerate(self._keys):
            at = lowered.find(key)
            while at >= 0:
                ends.append((at + len(key) - 1, number))
                at = lowered.find(key, at + 1)
        ends.sort()
        return ends

    def select(self, block: bytes) -> tuple[list[tuple[int, bytes]], int] | None:
        """For a plain block: the passing lines as (index in the block, line without
        `\\r\\n`), and the number of lines in the block. None when the block is not plain."""
        lines = _plain_lines(block)
        if lines is None:
            return None
        if self.empty:
            return [], len(lines)
        chosen = self._chosen(block, lines)
        return [(index, lines[index].removesuffix(b"\r")) for index in chosen], len(lines)

    def needle_lines(self, block: bytes, lowered: list[bytes]) -> list[int]:
        """For any block: the indexes of its lines (`lowered`: the lower-cased block split at
        `\\n`) that pass the needle test (`Prefilter.passes_lowered`), in order. The ASCII,
        escape and shape conditions are the caller's (`ndjson.PrefilteredLines`)."""
        if self.empty:
            return []
        return self._chosen(block, lowered)

    def _chosen(self, block: bytes, lines: list[bytes]) -> list[int]:
        """The indexes of the lines of `block` (split at `\\n` into `lines`, lower-cased or
        not) that pass the needle test, or that hold an odd number when it has number
        needles."""
        # `bytes.find` needs the block lower-cased; Hyperscan ignores ASCII case itself, and
        # only the lines it hits are lower-cased, for their tests.
        searched = block.lower() if self._few else block
        # Where each line starts: the lengths before it plus one line break per line.
        starts = list(map(add, accumulate(map(len, lines), initial=0), range(len(lines) + 1)))
        chosen: list[int] = []
        tests = self._tests
        done = -1  # the last line taken: its later hits are skipped
        tried: set[int] = set()  # the keys whose test failed on the current line
        line_of = -1
        low = b""
        for end, key in self._hits(searched):
            index = bisect_right(starts, end) - 1
            if index <= done:
                continue
            if index != line_of:
                line_of = index
                tried.clear()
                low = lines[index].lower()
            elif key in tried:
                continue
            test = tests[key]
            if test is None:
                rest = self._rests[key]
                if rest is not None:
                    test = tests[key] = rest.passes_lowered
            if test is None or test(low):
                done = index
                chosen.append(index)
            else:
                tried.add(key)
        if self._odd is not None:
            odd = {bisect_right(starts, end) - 1 for end, _ in self._odd(block)}
            if odd:
                return sorted(odd.union(chosen))
        return chosen


def _hyperscan(
    keys: tuple[bytes, ...], *, literal: bool = True
) -> Callable[[bytes], list[tuple[int, int]]]:
    """`(end, key number)` of every occurrence of `keys` in a block, ASCII case ignored, in
    order, found by one Hyperscan scan (SIMD literal matching: about 11x faster than an
    Aho-Corasick walk in `pyahocorasick` over the 1,221 key needles of the 408 Elastic rules,
    and the block needs no lower-casing). With `literal=False` the keys are regexes."""
    import hyperscan  # noqa: PLC0415 - only a scan with many key needles needs it

    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(
        expressions=list(keys),
        ids=list(range(len(keys))),
        flags=hyperscan.HS_FLAG_CASELESS,
        literal=literal,
    )
    scratch = hyperscan.Scratch(database)

    def hits(block: bytes) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        append = found.append

        def on_match(number: int, start: int, end: int, flags: int, context: object) -> None:
            append((end - 1, number))

        database.scan(block, match_event_handler=on_match, scratch=scratch)
        found.sort()  # Hyperscan does not promise end-offset order for every pattern set
        return found

    return hits


def _plain_lines(block: bytes) -> list[bytes] | None:
    """The lines of a plain block (see the module docstring), else None. C-level passes
    only: split, two counting `map`s and one regex search."""
    if not block.isascii():
        return None
    lines = block.split(b"\n")
    if lines[-1] == b"":
        lines.pop()  # the block ends with a line break: no line after it
    total = len(lines)
    if (
        not total
        or sum(map(bytes.startswith, lines, repeat(b"{"))) != total
        or sum(map(bytes.endswith, lines, repeat((b"}", b"}\r")))) != total
        or _ESCAPE(block) is not None
    ):
        return None
    return lines
