"""Needles: case-folded substrings one of which an event must carry for a stage to match.

Anchors (`anchors.py`) index stages by an exact field value. Many stage conditions have no
such value but still name text every matching event contains: `process.args : "*-enc*"`
cannot hold unless some value of `process.args`, case-folded, contains `-enc`. The needles of
a stage are such a set of texts, any one of which is necessary (an OR). One combined literal
pass per event (`literal_pass.py`) then finds which needles an event carries, and only the
stages with a needle in it are evaluated; the same needles make the raw-line prefilter.

| term                                               | needles (case-folded)            |
|----------------------------------------------------|----------------------------------|
| `f == "X"`, `f in ("X", "Y")`, `f in~ (...)`       | `x`, `y`                         |
| `f : "*\\Temp\\*.exe"`, `like~`, `wildcard()` | longest literal run (`\\temp\\`) |
| `startswith(f, "ab")`, `endswith~`, `stringcontains` | `ab`                           |
| `f regex ".*(ipconfig\\s+/all).*"`                | longest required literal run (`ipconfig`) |
| `a and b`                                          | the better of a's and b's (`_rank`) |
| `a or b`                                           | both sets (every branch needs some) |
| `not`, `!=`, `cidrmatch`, numbers, field-to-field tests | none             |

Why it is exact: `str.casefold` maps each character on its own, so a value that equals a
literal, or contains a pattern's literal run (whatever the pattern's case rule), contains
the folded literal once folded. Only string constants count (a string never equals a number
in EQL). Texts shorter than `MIN_LENGTH` and fields shared by nearly every event are
ignored: `host.os.type : "windows"` restricts nothing. A shorter text holding a character of
`RARE` (`^^`, `` ` ``, `${`) is kept, but ranks after every longer one (`_rank`).

With `edges=True` (`needle_options`, for the raw-line prefilter of ECS lines, where every
value stands as JSON wrote it), an integer a field must equal is a needle too (`NUMBER`:
values pass through the ECS intake unchanged, and a string never equals a number), and a
text also says where it stands in the value:
`EDGE` before it when the value starts with it (an exact value, a pattern without a leading
wildcard, `startswith`), after it when the value ends with it. An exact text may then be
shorter (`"/c"`), and the ranking prefers selective fields' needles over unselective ones.

A regex gives a needle only from characters every match must contain in that order
(`_regex_run`: not inside an alternation, an optional group or a class; a run right before
a group joined with the group's first, `regex_runs.required_runs(join=True)`); with `regex~` only
ASCII characters other than `i` count, because Python's case-insensitive matching (which
runs the regex) pairs `i` with the Turkish dotless `ı`, whose case-folded form holds no `i`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from connector.detection.anchors import string_constants
from connector.detection.eql import ast
from connector.detection.eql.codegen import UNSELECTIVE_FIELDS
from connector.detection.eql.regex_runs import required_runs, requires_beyond_ascii
from connector.mapping.ecs_input import LIST_FIELDS

__all__ = ["EDGE", "KEYED", "NUMBER", "RARE", "Needles", "needle_options", "needles_of"]

NUMBER = "\x01"
"""With `edges=True`: the text after it is an integer the field must equal as a JSON number
(`destination.port == 88`, `in (25, 587)`, `: 9389`); `literal_prefilter` turns it into the
number's delimited forms (`line_forms.number_needles`)."""
KEYED = "\x02"
"""With `edges=True`: `KEYED + field + KEYED + text`, a text the field's string value starts
with (exact values, prefixes), looked for right after the field's key
(`line_forms.keyed_needles`). Not for fields often written as lists (`_LISTED`): their values
stand after a `[`, and every such line would pass."""
_LISTED = LIST_FIELDS | {"event.action", "host.ip", "host.mac", "tags", "threat.tactic.name"}
"""The intake's list fields, `event.action` (Elastic writes it as a one-element list) and
other ECS fields that hold lists."""
BEYOND_ASCII = "\x80"
"""With `edges=True`: a text standing for "some character beyond ASCII" (a regex class of
such characters); no plain line holds one, like any text beyond ASCII."""
EDGE = "\x00"
"""With `edges=True`: the value starts (before the text) or ends (after it) here. No text
holds it (a needle with NUL is refused)."""
MIN_LENGTH = 3
"""Shorter ASCII texts (`-`, `.`, `c:`) are left out: nearly every event carries them. A
shorter text with a character beyond ASCII (the right-to-left override, an emoji) is kept:
such characters are rare in telemetry, and rules that look for them list many."""
RARE = frozenset("`^${}")
"""Characters rare in telemetry values but in obfuscated command lines (PowerShell's and
cmd's escape characters, PowerShell's variables and blocks): a text shorter than
`MIN_LENGTH` holding one is kept (Potential Dosfuscation's `^^`, Powershell Token
Obfuscation's `` ` ``, `"{`, `${`), ranked after the longer ones. (Measured on the bench
workload: no command line holds one.)"""
_WILDCARD_RUNS = re.compile(r"[*?]")
_TEXT_FUNCTIONS = frozenset({"startswith", "endswith", "stringcontains"})


@dataclass(frozen=True)
class Needles:
    """A stage can match only an event where some string value of one of `fields`,
    case-folded, contains one of `texts`."""

    fields: frozenset[str]
    texts: frozenset[str]


FieldFilter = Callable[[str], bool]


def needles_of(
    condition: ast.Expr,
    usable: FieldFilter | None = None,
    skip: str | None = None,
    *,
    selective_only: bool = True,
) -> Needles | None:
    """The best needles of a stage condition, or None when it has none.

    `usable(field)` says which fields may give needles (default: all; the unselective ones
    never do); `skip` names a field whose top-level terms are left out (the stage's anchor field,
    already checked by the index, so the needles add a second, independent gate).
    `selective_only=False` lets the unselective fields (`host.os.type`, `event.type`, ...) give
    needles too: still necessary, rarely useful (the raw-line prefilter's last resort); an
    `and` then prefers the needles of selective fields, and texts beyond ASCII (which a
    plain ASCII line cannot hold) most."""

    def allowed(name: str) -> bool:
        return (_selective(name) or not selective_only) and (usable is None or usable(name))

    if skip is not None:
        terms = condition.terms if isinstance(condition, ast.And) else (condition,)
        kept = tuple(t for t in terms if _subject(t) != skip)
        if not kept:
            return None
        condition = ast.And(kept) if len(kept) > 1 else kept[0]
    rank = _rank if selective_only else _prefilter_rank
    return _needles(condition, allowed, rank)


def _selective(name: str) -> bool:
    return name not in UNSELECTIVE_FIELDS


Rank = Callable[["Needles"], tuple[int, ...]]


def _needles(node: ast.Expr, usable: FieldFilter, rank: Rank) -> Needles | None:
    if isinstance(node, ast.And):
        found = [n for n in (_needles(t, usable, rank) for t in node.terms) if n is not None]
        return min(found, key=rank) if found else None
    if isinstance(node, ast.Or):
        branches = [_needles(t, usable, rank) for t in node.terms]
        if not branches or any(b is None for b in branches):
            return None
        return _union([b for b in branches if b is not None])
    return _leaf(node, usable, edges=False)


def _leaf(node: ast.Expr, usable: FieldFilter, edges: bool) -> Needles | None:
    """The needles of a term that is neither `and` nor `or`."""
    subject = _subject(node)
    if subject is None or not usable(subject):
        return None
    texts = _texts(node, edges)
    if not texts or any(_too_short(t) or EDGE in t.strip(EDGE) for t in texts):
        return None  # a short needle is in nearly every event: it would only cost time
    # (unless it holds a `RARE` character: `_short`, ranked last)
    if edges and subject not in _LISTED:
        texts = [_keyed(subject, t) if t.startswith(EDGE) else t for t in texts]
    return Needles(frozenset({subject}), frozenset(texts))


def _keyed(field: str, text: str) -> str:
    """`text` (a value's start) marked as `field`'s (`KEYED`)."""
    return KEYED + field + KEYED + text


def needle_options(
    condition: ast.Expr, usable: FieldFilter | None = None, *, edges: bool = False, limit: int = 8
) -> list[Needles]:
    """Several sets of needles of a condition, every one necessary on its own, best first
    (`needles_of(selective_only=False)`'s ranking), at most `limit`: for the raw-line
    prefilter, which keeps a few and lets the data tell which rejects most lines.

    An `and` offers each term's sets; an `or` the unions of one set of each branch. So
    `(a and b) or (c and d)` offers a∪c, a∪d, b∪c and b∪d, where `needles_of` keeps one."""

    def allowed(name: str) -> bool:
        return usable is None or usable(name)

    return _options(condition, allowed, edges, limit)


def _options(node: ast.Expr, usable: FieldFilter, edges: bool, limit: int) -> list[Needles]:
    if isinstance(node, ast.And):
        found = [o for term in node.terms for o in _options(term, usable, edges, limit)]
        return _best(found, limit)
    if isinstance(node, ast.Or):
        combined = [Needles(frozenset(), frozenset())]
        for branch in node.terms:
            options = _options(branch, usable, edges, limit)
            if not options:
                return []  # a branch without needles: the `or` can hold without any
            combined = _best([_union([c, o]) for c in combined for o in options], limit)
        return combined
    leaf = _leaf(node, usable, edges)
    return [leaf] if leaf is not None else []


def _best(options: list[Needles], limit: int) -> list[Needles]:
    return sorted(set(options), key=lambda n: (_prefilter_rank(n), sorted(n.texts)))[:limit]


def _too_short(text: str) -> bool:
    """`_short` texts without a `RARE` character."""
    return _short(text) and RARE.isdisjoint(text)


def _short(text: str) -> bool:
    """ASCII texts shorter than `MIN_LENGTH`, but for an exact value (`EDGE` on both sides)
    of two characters or more."""
    bare = text.strip(EDGE)
    if not bare.isascii() or text.startswith(NUMBER):
        return False  # a number's needles hold its delimiters (`line_forms.number_needles`)
    if len(bare) >= MIN_LENGTH:
        return False
    return not (len(bare) >= 2 and text.startswith(EDGE) and text.endswith(EDGE))


def _rank(needles: Needles) -> tuple[int, ...]:
    """Smaller is better: no `_short` text (kept for a `RARE` character), few needles, then
    long ones."""
    texts = needles.texts
    return (any(map(_short, texts)), len(texts), -min(len(t) for t in texts))


def _prefilter_rank(needles: Needles) -> tuple[int, ...]:
    """For the raw-line prefilter: texts beyond ASCII first (no plain line holds them), then
    selective fields, then `_rank`."""
    if not any(t.strip(EDGE).isascii() for t in needles.texts):
        return (-1, 0, 0)
    return (0 if needles.fields.isdisjoint(UNSELECTIVE_FIELDS) else 1, *_rank(needles))


def _union(parts: list[Needles]) -> Needles:
    fields = frozenset().union(*(p.fields for p in parts))
    return Needles(fields, frozenset().union(*(p.texts for p in parts)))


def _subject(node: ast.Expr) -> str | None:
    """The field a positive string test reads, or None for any other kind of term."""
    if isinstance(node, ast.Compare):
        if node.op != "==":
            return None
        sides = (node.left, node.right)
        fields = [s for s in sides if isinstance(s, ast.Field)]
        literals = [s for s in sides if isinstance(s, ast.Literal)]
        return fields[0].name if len(fields) == 1 and len(literals) == 1 else None
    if isinstance(node, ast.In | ast.StringMatch):
        return node.value.name if isinstance(node.value, ast.Field) else None
    if isinstance(node, ast.FunctionCall) and node.name in (*_TEXT_FUNCTIONS, "wildcard"):
        first = node.args[0] if node.args else None
        return first.name if isinstance(first, ast.Field) else None
    return None


def _texts(node: ast.Expr, edges: bool) -> list[str] | None:
    """The folded needles of a term whose subject is a field; None when it has none."""
    both = EDGE if edges else ""
    if isinstance(node, ast.Compare):
        literal = node.right if isinstance(node.right, ast.Literal) else node.left
        value = literal.value if isinstance(literal, ast.Literal) else None
        number = _number_text(value) if edges else None
        if number is not None:
            return [number]
        return [both + value.casefold() + both] if isinstance(value, str) else None
    if isinstance(node, ast.In):
        if edges:
            return _exact_or_numbers(node.options, both)
        return _exact(node.options, (both, both))
    if isinstance(node, ast.StringMatch):
        if edges and node.operator != "regex":
            return _runs_or_numbers(node.patterns)
        if node.operator == "regex":
            return _regex_runs(node.patterns, node.case_insensitive, edges)
        return _runs(node.patterns, edges)
    if isinstance(node, ast.FunctionCall):
        if node.name == "wildcard":
            return _runs(node.args[1:], edges)
        if len(node.args) == 2:
            sides = {"startswith": (both, ""), "endswith": ("", both)}
            return _exact(node.args[1:], sides.get(node.name, ("", "")))
    return None


def _number_text(value: object) -> str | None:
    """`NUMBER` and the integer a value equal to `value` must be, if it must be one (a float
    constant with a fraction only equals floats: no needle)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    return NUMBER + str(value)


def _exact_or_numbers(options: tuple[ast.Expr, ...], both: str) -> list[str] | None:
    """`in`'s needles with `edges`: strings between quotes, integers as `NUMBER` texts."""
    texts = []
    for option in options:
        value = option.value if isinstance(option, ast.Literal) else None
        number = _number_text(value)
        if number is not None:
            texts.append(number)
        elif isinstance(value, str):
            texts.append(both + value.casefold() + both)
        else:
            return None
    return texts


def _runs_or_numbers(patterns: tuple[ast.Expr, ...]) -> list[str] | None:
    """`:`/`like` needles with `edges`: a number pattern equals numbers only (`_runs` for
    the strings)."""
    strings = tuple(p for p in patterns if not _number_pattern(p))
    runs = _runs(strings, True) if strings else []
    if runs is None:
        return None
    numbers = [
        _number_text(p.value) for p in patterns if isinstance(p, ast.Literal) and _number_pattern(p)
    ]
    if any(n is None for n in numbers):
        return None
    return runs + [n for n in numbers if n is not None]


def _number_pattern(pattern: ast.Expr) -> bool:
    return (
        isinstance(pattern, ast.Literal)
        and isinstance(pattern.value, int | float)
        and not isinstance(pattern.value, bool)
    )


def _exact(options: tuple[ast.Expr, ...], sides: tuple[str, str]) -> list[str] | None:
    values = string_constants(options)
    before, after = sides
    return None if values is None else [before + v.casefold() + after for v in values]


def _runs(patterns: tuple[ast.Expr, ...], edges: bool) -> list[str] | None:
    """The longest literal run of each wildcard pattern (folded first); with `edges`, marked
    where it starts or ends the value."""
    values = string_constants(patterns)
    if values is None:
        return None
    texts = []
    for value in values:
        runs = _WILDCARD_RUNS.split(value.casefold())
        at = max(range(len(runs)), key=lambda i: len(runs[i]))  # the first longest
        before = EDGE if edges and at == 0 else ""
        after = EDGE if edges and at == len(runs) - 1 else ""
        texts.append(before + runs[at] + after)
    return texts


def _regex_runs(patterns: tuple[ast.Expr, ...], fold: bool, edges: bool) -> list[str] | None:
    """The longest required literal run of each Lucene regex (folded); None when one has none.
    With `edges` (raw lines), a regex without a run whose every match holds a character
    beyond ASCII (`regex_runs.requires_beyond_ascii`) gives `BEYOND_ASCII`: only a line that
    always passes can hold such a value."""
    values = string_constants(patterns)
    if values is None:
        return None
    runs: list[str] = []
    for value in values:
        found = _regex_run(value, fold)
        if found is None:
            if not (edges and not fold and requires_beyond_ascii(value)):
                return None
            found = BEYOND_ASCII
        runs.append(found.casefold())
    return runs


_SAFE_FOLDED = frozenset("".join(map(chr, range(128))).replace("i", "").replace("I", ""))


def _regex_run(pattern: str, fold: bool) -> str | None:
    """The longest run of characters every full match of `pattern` holds in a row (at least
    `MIN_LENGTH` long unless it has a character beyond ASCII; failing that, the longest with
    a `RARE` character), or None when it finds none it is sure of."""
    runs = required_runs(pattern, _SAFE_FOLDED if fold else None, join=True) or ()
    kept = [r for r in runs if len(r) >= MIN_LENGTH or not r.isascii()]
    if not kept:
        kept = [r for r in runs if not RARE.isdisjoint(r)]
    return max(kept, key=len) if kept else None
