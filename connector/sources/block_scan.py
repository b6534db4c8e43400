"""The prefilter over a whole block of NDJSON lines at once: one Hyperscan scan per block.

`PrefilteredLines` (ndjson.py) asks this module first. For a block that is plain — pure
ASCII, no `\\u` or `\\/` escape, every line shaped like a JSON object (`{…}`, no blank line) — the
passing lines are found without a Python step per line, and without splitting the block:

1. one Hyperscan scan, ignoring ASCII case, finds the *key needles* and the escapes: for
   each alternative of the prefilter, the needles of one of its groups. A passing line
   satisfies some alternative, so it holds one of that alternative's key needles: lines
   without a hit are ruled out, and never cut out of the block;
2. a line with a hit is then tested against the other groups of the alternatives that the
   key needle found starts (a small `Prefilter` per key, made once), unless one of them
   has no other group (the hit is then the answer).

So the lines chosen are exactly those `Prefilter.passes_lowered` accepts, and, when the
prefilter has forcing patterns (`line_forms.py`), those with one (one more scan a pattern); the
work grows with the hits, not with the lines. Blocks that are not plain return None and go
the line by line way (ndjson.py), which handles the forced and shapeless lines.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from connector.sources.query import HIDING_ESCAPE, Alternative, Prefilter

__all__ = ["BlockScanner"]

_IRREGULAR = (HIDING_ESCAPE.pattern, rb"\n[^{]", rb"[^}\r]\n", rb"[^}]\r\n")
"""What makes a pure ASCII block that starts with `{` and ends with `}` not plain:
`query.HIDING_ESCAPE`'s two escapes (case kept: `C:\\\\Users` holds none), a line that
does not start with `{`, or does not end with `}` (or `}\r`)."""
Hits = Callable[[bytes], list[tuple[int, int]]]
_MANY = 8
"""A group of this many needles or more is tested after the smaller ones of its alternative
(its needles are each an `in` test when the line fails)."""
_WALK_FROM = 96
"""A key's test of more needles than this walks an automaton over the line (~10 µs); fewer
are `in` tests, which stop at the first needle found or group failed."""


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
            # Groups of many needles last: a line failing a one-needle group costs one `in`.
            others = tuple(
                tuple(sorted(rest, key=lambda group: len(group) >= _MANY))
                for rest in dict.fromkeys(started)
            )
            if any(not rest for rest in others):
                self._rests.append(None)
            else:
                test = shared.get(others)
                if test is None:
                    count = len({n for rest in others for group in rest for n in group})
                    test = shared[others] = Prefilter(others, automaton=count > _WALK_FROM)
                self._rests.append(test)
        self._tests: list[Callable[[bytes], bool] | None] = [None] * len(rests)
        # The forcing texts are scanned with the keys: a hit numbered `_forced` or more is one.
        self._forced = len(self._keys)
        self._hits = _key_scan((*self._keys, *prefilter.forcing_texts))
        self._irregular = _irregular()
        # One database per pattern: Hyperscan scans several such patterns together several
        # times slower than one by one (`line_forms.ODD_NUMBER_PATTERNS`).
        forcing = prefilter.forcing_patterns
        self._odd = (
            _merged([_hyperscan((pattern,), literal=False) for pattern in forcing])
            if forcing
            else None
        )

    def select(self, block: bytes) -> tuple[list[tuple[int, bytes]], int] | None:
        """For a plain block: the passing lines as (index in the block, line without
        `\\r\\n`), and the number of lines in the block. None when the block is not plain."""
        if (
            not block.isascii()
            or block[:1] != b"{"
            or not block.endswith((b"}\n", b"}\r\n", b"}", b"}\r"))
            or self._irregular(block)
        ):
            return None
        last = block[-1:] != b"\n"  # a last line without its line break
        if self.empty:
            return [], block.count(b"\n") + last
        chosen, breaks, counted = _indexed(block, self._chosen(block, self._hits(block)))
        # The line breaks before the last chosen line are counted already: count the rest.
        count = breaks + block.count(b"\n", counted) + last
        return [
            (index, block[start:stop].removesuffix(b"\r")) for index, start, stop in chosen
        ], count

    def needle_lines(self, block: bytes, lowered: list[bytes]) -> list[int]:
        """For any block: the indexes of its lines (`lowered`: the lower-cased block split at
        `\\n`) that pass the needle test (`Prefilter.passes_lowered`), in order. The ASCII,
        escape and shape conditions are the caller's (`ndjson.PrefilteredLines`)."""
        if self.empty:
            return []
        return [index for index, _, _ in _indexed(block, self._chosen(block, self._hits(block)))[0]]

    def _chosen(self, block: bytes, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """(start, end) in `block` of the lines that pass the needle test, or that hold one
        of the prefilter's forcing patterns, in order; `hits` are the key hits."""
        spans: list[tuple[int, int]] = []
        tests = self._tests
        forced = self._forced
        find, rfind = block.find, block.rfind
        size = len(block)
        start = stop = 0  # the current line: block[start:stop]; none yet
        taken = False  # the current line is chosen: its later hits are skipped
        tried: set[int] = set()  # the keys whose test failed on the current line
        low = b""
        for end, key in hits:
            if end >= stop:  # a hit on a later line
                start = rfind(b"\n", stop, end) + 1
                stop = find(b"\n", end)
                if stop < 0:
                    stop = size
                taken = False
                tried.clear()
                low = block[start:stop].lower()
            elif taken or key in tried:
                continue
            if key >= forced:  # the line writes a key otherwise: it passes
                taken = True
                spans.append((start, stop))
                continue
            test = tests[key]
            if test is None:
                rest = self._rests[key]
                if rest is not None:
                    test = tests[key] = rest.passes_lowered
            if test is None or test(low):
                taken = True
                spans.append((start, stop))
            else:
                tried.add(key)
        if self._odd is not None:
            odd = _spans_at(block, (end for end, _ in self._odd(block)))
            if odd:
                spans = sorted(set(spans).union(odd))
        return spans


def _spans_at(block: bytes, ends: Iterable[int]) -> list[tuple[int, int]]:
    """(start, end) of the lines holding the offsets `ends` (ascending)."""
    found: list[tuple[int, int]] = []
    stop = 0
    for end in ends:
        if end < stop:
            continue
        start = block.rfind(b"\n", stop, end) + 1
        stop = block.find(b"\n", end)
        if stop < 0:
            stop = len(block)
        found.append((start, stop))
    return found


def _indexed(
    block: bytes, spans: list[tuple[int, int]]
) -> tuple[list[tuple[int, int, int]], int, int]:
    """`spans` (ascending lines of `block`) with the index of each line, and how many line
    breaks come before which offset (the last line's start): line breaks are counted only up
    to the lines chosen, not to every line with a hit, and the caller counts on from there."""
    count = block.count
    index = before = 0
    indexed: list[tuple[int, int, int]] = []
    for start, stop in spans:
        index += count(b"\n", before, start)
        before = start
        indexed.append((index, start, stop))
    return indexed, index, before


def _no_hits(block: bytes) -> list[tuple[int, int]]:
    return []


def _irregular() -> Callable[[bytes], bool]:
    """Whether a block holds one of `_IRREGULAR`: one Hyperscan scan, each pattern reported
    once (counting `}\\n{` and `\\n` with `bytes.count` cost three times as long)."""
    global _IRREGULAR_SCAN  # noqa: PLW0603 - compiled once per process, on first use
    if _IRREGULAR_SCAN is None:
        import hyperscan  # noqa: PLC0415

        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=list(_IRREGULAR),
            ids=list(range(len(_IRREGULAR))),
            flags=hyperscan.HS_FLAG_SINGLEMATCH,
        )
        scratch = hyperscan.Scratch(database)

        def irregular(block: bytes) -> bool:
            found: list[int] = []

            def on_match(number: int, start: int, end: int, flags: int, context: object) -> None:
                found.append(number)

            database.scan(block, match_event_handler=on_match, scratch=scratch)
            return bool(found)

        _IRREGULAR_SCAN = irregular
    return _IRREGULAR_SCAN


_IRREGULAR_SCAN: Callable[[bytes], bool] | None = None


def _key_scan(keys: tuple[bytes, ...]) -> Hits:
    """`_hyperscan(keys)`, with the one-byte keys (SigmaHQ's backtick) in a database of their
    own: in one database with the others, a one-byte literal made the whole scan of the 408
    Elastic + SigmaHQ rules' keys ~30% slower (0.34 s against 0.24 s over the 86 MB
    workload); alone it is scanned in 0.013 s. The hits of both, merged in order, are the
    same as one scan's."""
    short = tuple(number for number, key in enumerate(keys) if len(key) == 1)
    if not short:
        return _hyperscan(keys)
    long = tuple(number for number, key in enumerate(keys) if len(key) != 1)
    return _merged(
        [
            _hyperscan(tuple(keys[n] for n in numbers), numbers)
            for numbers in (long, short)
            if numbers
        ]
    )


def _merged(scans: list[Hits]) -> Hits:
    """The hits of all `scans` of a block, in order (one scan: itself)."""
    if len(scans) == 1:
        return scans[0]

    def hits(block: bytes) -> list[tuple[int, int]]:
        found = [hit for scan in scans for hit in scan(block)]
        found.sort()
        return found

    return hits


def _hyperscan(
    keys: tuple[bytes, ...], owners: tuple[int, ...] | None = None, *, literal: bool = True
) -> Hits:
    """`(end, key number)` of every occurrence of `keys` in a block, ASCII case ignored, in
    order, found by one Hyperscan scan (SIMD literal matching: about 11x faster than an
    Aho-Corasick walk in `pyahocorasick` over the 1,221 key needles of the 408 Elastic rules,
    and the block needs no lower-casing). With `literal=False` the keys are regexes. `owners`:
    the key number each of `keys` reports (default: its position)."""
    if not keys:  # Hyperscan compiles no empty database
        return _no_hits
    import hyperscan  # noqa: PLC0415 - only a replay's first pass needs it

    from connector.sources.scan_cache import database as cached  # noqa: PLC0415

    database = cached(keys, [hyperscan.HS_FLAG_CASELESS] * len(keys), literal=literal)
    scratch = hyperscan.Scratch(database)

    def hits(block: bytes) -> list[tuple[int, int]]:
        found: list[tuple[int, int]] = []
        append = found.append

        def on_match(number: int, start: int, end: int, flags: int, context: object) -> None:
            append((end - 1, number if owners is None else owners[number]))

        database.scan(block, match_event_handler=on_match, scratch=scratch)
        found.sort()  # Hyperscan does not promise end-offset order for every pattern set
        return found

    return hits
