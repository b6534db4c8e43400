"""The prefilter over a whole block of NDJSON lines at once: one automaton scan per block.

`PrefilteredLines` (ndjson.py) asks this module first. For a block that is plain — pure
ASCII, no `\\u` or `\\/` escape, every line shaped like a JSON object (`{…}`, no blank line) — the
passing lines are found without a Python step per line:

1. the block is lower-cased once and searched for the *key needles* (`bytes.find` for a
   few, else one Aho-Corasick walk, `pyahocorasick`): for each alternative of the prefilter,
   the needles of one of its groups. A passing line satisfies some alternative, so it holds
   one of that alternative's key needles: lines without a hit are ruled out;
2. each line with a hit is then tested with the prefilter itself (`passes_lowered`), unless
   every alternative is a single group (the hit is then the answer).

So the lines chosen are exactly those `Prefilter.passes_lowered` accepts; the work grows
with the hits, not with the lines. Blocks that are not plain return None and go the line by
line way (ndjson.py), which handles the forced and shapeless lines.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from itertools import accumulate, repeat
from operator import add

from connector.sources.needle_index import byte_automaton
from connector.sources.query import HIDING_ESCAPE, Prefilter

__all__ = ["BlockScanner"]

_FIND_UP_TO = 8
"""Up to this many key needles, one `bytes.find` pass each; beyond, one automaton walk."""
_ESCAPE = HIDING_ESCAPE.search


class BlockScanner:
    """Finds the passing lines of plain blocks for one `Prefilter` (see the module docstring).

    Not for a prefilter that passes everything (no needle to scan for)."""

    def __init__(self, prefilter: Prefilter) -> None:
        keys: dict[bytes, None] = {}
        for alternative in prefilter.alternatives:
            if not alternative:
                raise ValueError("a prefilter that passes every line needs no scan")
            # The first group: `ordered_by` put the one fewest sample lines hold first.
            group = alternative[0]
            keys.update(dict.fromkeys(group))
        if any(b"\n" in key for key in keys):
            raise ValueError("a needle holds a line break")
        self.exact = all(len(alternative) == 1 for alternative in prefilter.alternatives)
        self.passes = prefilter.passes_lowered
        self.empty = not keys
        self._keys = tuple(keys)
        self._hits = self._found if len(keys) <= _FIND_UP_TO else self._automaton(self._keys)

    def _found(self, lowered: bytes) -> Iterator[int]:
        """Where a key needle ends in `lowered`, in order: `bytes.find` per needle (a fast
        C search) beats an automaton walk over the block while there are only a few."""
        ends: list[int] = []
        for key in self._keys:
            at = lowered.find(key)
            while at >= 0:
                ends.append(at + len(key) - 1)
                at = lowered.find(key, at + 1)
        ends.sort()
        return iter(ends)

    @staticmethod
    def _automaton(keys: tuple[bytes, ...]) -> Callable[[bytes], Iterator[int]]:
        walk = byte_automaton(keys).iter

        def hits(lowered: bytes) -> Iterator[int]:
            for end, _ in walk(lowered.decode("latin-1")):
                yield end

        return hits

    def select(self, block: bytes) -> tuple[list[tuple[int, bytes]], int] | None:
        """For a plain block: the passing lines as (index in the block, line without
        `\\r\\n`), and the number of lines in the block. None when the block is not plain."""
        lines = _plain_lines(block)
        if lines is None:
            return None
        if self.empty:
            return [], len(lines)
        lowered = block.lower()
        # Where each line starts: the lengths before it plus one line break per line.
        starts = list(map(add, accumulate(map(len, lines), initial=0), range(len(lines) + 1)))
        chosen: list[tuple[int, bytes]] = []
        passes = self.passes
        exact = self.exact
        done = -1  # the last line taken or tested: its later hits are skipped
        for end in self._hits(lowered):
            index = bisect_right(starts, end) - 1
            if index <= done:
                continue
            done = index
            line = lines[index]
            if exact or passes(lowered[starts[index] : starts[index] + len(line)]):
                chosen.append((index, line.removesuffix(b"\r")))
        return chosen, len(lines)


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
