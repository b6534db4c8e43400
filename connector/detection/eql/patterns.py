"""Precompiled string matchers: wildcards, Lucene-style regexes and CIDR lists.

Everything here is built once per rule and then only called. A `StringMatcher` answers
"does this string match any of the patterns" with the cheapest check that is exact:

| patterns (after case folding)  | check used                      |
|--------------------------------|---------------------------------|
| `"cmd.exe"`                    | set membership                  |
| `"*.bat"`, `"*.cmd"`           | `str.endswith(tuple)`           |
| `"c:\\windows\\*"`             | `str.startswith(tuple)`         |
| `"*http://*"`                  | substring test                  |
| `"a*b?c"`, regexes             | one compiled regex (fullmatch), |
|                                | after a substring pre-check     |

A matcher built here compiles its regex at once (a bad pattern is an error of the rule). A
matcher read back from the rule cache (`rule_cache.py`) holds only the regex source and compiles
it on its first `matches` call: most rule regexes never run (the stage's other tests reject the
event first), and compiling the ~500 regexes of the Elastic rules on every start cost more than
the rest of loading them.

The pre-check (`required`): every pattern that goes into the regex holds a literal run that
every match contains (the longest text between wildcards; for a Lucene regex, the longest of
`regex_runs.required_runs`). A string holding none of them cannot match, and the substring
tests cost a fraction of running the regex (SigmaHQ's `|re` rules run `.*(...).*` regexes
over every command line). Under `regex~` a run holds only ASCII characters that are not
letters, which no case rule touches, so the test on the unfolded string stays exact. A
matcher where some pattern has no run has no pre-check.

Wildcards: `*` is any run of characters (also none), `?` exactly one; everything else is
literal. Every pattern is anchored to the whole value. Case folding uses `str.casefold` on both
sides.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import is_
from typing import Any

from connector.detection.eql.regex_runs import required_runs

__all__ = [
    "CidrSet",
    "StringMatcher",
    "folded_strings",
    "lucene_regex",
    "strings",
    "wildcard_regex",
]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class StringMatcher:
    """Matches a string against a set of patterns; see the module docstring.

    `fold` means both sides are case-folded. `matches(s)` is the whole contract.
    `pattern`/`flags` are the regex source (None: no regex); `regex` is its compiled form,
    None until first needed when the matcher was unpickled. `required`, when set, holds one
    text of each pattern of the regex that all its matches contain (the pre-check)."""

    fold: bool = False
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()
    contains: tuple[str, ...] = ()
    any_string: bool = False
    pattern: str | None = None
    flags: int = 0
    regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)
    required: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.pattern is not None and self.regex is None:
            self.regex = re.compile(self.pattern, self.flags)  # raises re.error when invalid

    def __getstate__(self) -> dict[str, Any]:
        # Pickled without the compiled regex: unpickling a compiled pattern compiles it again,
        # for every regex of every rule, on every start (see the module docstring).
        return {**self.__dict__, "regex": None}

    @classmethod
    def wildcards(cls, patterns: Iterable[str], fold: bool) -> StringMatcher:
        """Matcher for EQL wildcard patterns (`:`, `like`, `like~`)."""
        regexes: list[str] = []
        exact: set[str] = set()
        prefixes: list[str] = []
        suffixes: list[str] = []
        contains: list[str] = []
        any_string = False
        runs: list[str] = []
        for raw in patterns:
            pattern = raw.casefold() if fold else raw
            core = pattern.strip("*")
            if "?" in pattern or "*" in core:
                regexes.append(wildcard_regex(pattern))
                runs.append(max(_WILDCARDS.split(pattern), key=len))
            elif pattern == core:
                exact.add(pattern)
            elif not core:
                any_string = True
            elif pattern.startswith("*") and pattern.endswith("*"):
                contains.append(core)
            elif pattern.endswith("*"):
                prefixes.append(core)
            else:
                suffixes.append(core)
        return cls(
            fold,
            frozenset(exact),
            tuple(prefixes),
            tuple(suffixes),
            tuple(contains),
            any_string,
            "|".join(regexes) if regexes else None,
            re.DOTALL,
            required=_required(runs),
        )

    @classmethod
    def literal(cls, kind: str, texts: Sequence[str], fold: bool) -> StringMatcher:
        """Matcher for `startswith`/`endswith`/`stringcontains` (no wildcards: `*` is literal)."""
        folded = tuple(t.casefold() if fold else t for t in texts)
        if kind == "prefix":
            return cls(fold, prefixes=folded)
        if kind == "suffix":
            return cls(fold, suffixes=folded)
        return cls(fold, contains=folded)

    @classmethod
    def regexes(cls, patterns: Iterable[str], fold: bool) -> StringMatcher:
        """Matcher for `regex`/`regex~` (Lucene syntax, anchored)."""
        flags = re.DOTALL | (re.IGNORECASE if fold else 0)
        texts = list(patterns)
        joined = "|".join(f"(?:{lucene_regex(p)})" for p in texts)
        keep = _CASELESS if fold else None
        runs = [
            max(found, key=len) if found else ""
            for found in (required_runs(p, keep) for p in texts)
        ]
        return cls(False, pattern=joined, flags=flags, required=_required(runs))

    def matches_some(self, values: list[Any]) -> bool:
        """True when some string of `values` matches (other items never do): `matches` per
        string, with the checks of a matcher without regex and without `any_string` done
        inline over the list's strings, case-folded once per list (`folded_strings`): lists
        such as `process.args` are tested by many conditions of an event."""
        if self.pattern is not None or self.any_string:
            matches = self.matches
            for item in values:  # noqa: SIM110 - a loop: no generator frame per call
                if item.__class__ is str and matches(item):
                    return True
            return False
        texts = folded_strings(values) if self.fold else strings(values)
        if not self.exact.isdisjoint(texts):
            return True
        suffixes, prefixes, contains = self.suffixes, self.prefixes, self.contains
        if suffixes or prefixes or contains:
            for text in texts:
                if suffixes and text.endswith(suffixes):
                    return True
                if prefixes and text.startswith(prefixes):
                    return True
                for needle in contains:
                    if needle in text:
                        return True
        return False

    def matches(self, value: str) -> bool:
        """True when `value` matches at least one pattern."""
        if self.any_string:
            return True
        text = value.casefold() if self.fold else value
        if text in self.exact:
            return True
        if self.suffixes and text.endswith(self.suffixes):
            return True
        if self.prefixes and text.startswith(self.prefixes):
            return True
        for needle in self.contains:
            if needle in text:
                return True
        if self.pattern is None:
            return False
        required = self.required
        if required is not None:
            for run in required:
                if run in text:
                    break
            else:
                return False
        regex = self.regex
        if regex is None:
            regex = self.regex = re.compile(self.pattern, self.flags)
        return regex.fullmatch(text) is not None


def strings(values: list[Any]) -> list[str]:
    """The items of `values` that are strings (exactly: a subclass is no JSON string)."""
    return [item for item in values if item.__class__ is str]


def folded_strings(values: list[Any]) -> tuple[str, ...]:
    """The strings of `values`, case-folded (`strings`), remembered for the last list asked
    about: the conditions of one event fold its lists once. The answer is reused only for
    the same list object holding the very same items (`is`, item by item), so a list
    changed in place is folded again."""
    global _FOLDED  # noqa: PLW0603 - one slot, replaced whole (a tuple): safe across threads
    last = _FOLDED
    if last[0] is values and len(values) == len(last[1]) and all(map(is_, values, last[1])):
        return last[2]
    folded = tuple([item.casefold() for item in values if item.__class__ is str])
    _FOLDED = (values, tuple(values), folded)
    return folded


_FOLDED: tuple[list[Any] | None, tuple[Any, ...], tuple[str, ...]] = (None, (), ())
"""The last list `folded_strings` folded, its items then (held: their ids stay theirs), and
the answer."""

_WILDCARDS = re.compile(r"[*?]")
_CASELESS = frozenset(chr(c) for c in range(128) if not chr(c).isalpha())
"""ASCII characters no case rule touches (Python's `IGNORECASE` matches each only itself)."""


def _required(runs: list[str]) -> tuple[str, ...] | None:
    """The pre-check texts, or None when some pattern has no run (an empty one)."""
    if not runs or not all(runs):
        return None
    return tuple(dict.fromkeys(runs))


def wildcard_regex(pattern: str) -> str:
    """Regex source for one wildcard pattern, to be used with `fullmatch`."""
    out: list[str] = []
    for char in pattern:
        if char == "*":
            out.append(".*")
        elif char == "?":
            out.append(".")
        else:
            out.append(re.escape(char))
    return "(?:" + "".join(out) + ")"


# Lucene treats these as ordinary characters where Python gives them a meaning.
_LUCENE_LITERAL_OUTSIDE_CLASS = {"^": r"\^", "$": r"\$"}


def lucene_regex(pattern: str) -> str:
    """Translate a Lucene (Elasticsearch `regexp`) pattern into Python `re` syntax.

    Lucene patterns are always anchored (we use `fullmatch`), `.` matches any character (we use
    DOTALL), and `^`/`$` are literal characters. Raises ValueError for Python-only syntax
    (`(?...)` groups) that Lucene would read differently."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            in_class = char != "]" or (out[-1] == "[" or out[-1] == "[^")
            out.append(char)
        elif char == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                continue
            out.append(char)
        elif char == "(" and pattern[i + 1 : i + 2] == "?":
            raise ValueError(f"regex group syntax '(?' is not Lucene syntax: {pattern!r}")
        else:
            out.append(_LUCENE_LITERAL_OUTSIDE_CLASS.get(char, char))
        i += 1
    return "".join(out)


class CidrSet:
    """A precompiled list of IPv4/IPv6 networks for `cidrmatch`.

    Networks may omit the prefix (a single address) and use any letter case. An IPv4 address
    never matches an IPv6 network and vice versa; a value that is not an IP address matches
    nothing."""

    def __init__(self, networks: Iterable[str]) -> None:
        v4: list[tuple[int, int]] = []
        v6: list[tuple[int, int]] = []
        for text in networks:
            try:
                net = ipaddress.ip_network(text.strip(), strict=False)
            except ValueError as exc:
                raise ValueError(f"not an IP network: {text!r}") from exc
            mask = int(net.netmask)
            (v4 if net.version == 4 else v6).append((int(net.network_address), mask))
        self._v4 = tuple(v4)
        self._v6 = tuple(v6)
        self._cache: dict[str, bool] = {}

    def contains(self, value: object) -> bool:
        """True if `value` is an IP address string inside one of the networks."""
        if not isinstance(value, str):
            return False
        hit = self._cache.get(value)
        if hit is None:
            hit = self._lookup(value)
            # Addresses repeat a lot in telemetry; the cache is bounded so it cannot grow forever.
            if len(self._cache) > 65_536:
                self._cache.clear()
            self._cache[value] = hit
        return hit

    def _lookup(self, value: str) -> bool:
        try:
            address = ipaddress.ip_address(value.strip())
        except ValueError:
            return False  # not an IP address: matches no network (documented contract)
        number = int(address)
        nets = self._v4 if address.version == 4 else self._v6
        return any(number & mask == base for base, mask in nets)
