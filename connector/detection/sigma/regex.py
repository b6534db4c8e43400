"""Sigma regular expressions (PCRE style, unanchored) → EQL `regex` patterns (Lucene, anchored).

Elasticsearch's `regex` operator uses Lucene syntax and matches the **whole** value; Sigma's
`|re` is a PCRE-style search anywhere in the value. pySigma's EQL backend passes the pattern
through, which breaks on `(?:`/`(?i)` groups, leaves the pattern anchored, and leaves `"` and
Lucene's operator characters unescaped. `to_lucene` rewrites a pattern exactly, or raises
ValueError naming what EQL cannot express:

| Sigma (PCRE)            | EQL regex (Lucene)                 |
|-------------------------|------------------------------------|
| `abc`                   | `.*(abc).*`                        |
| `^abc$`                 | `(abc)`                            |
| `(?i)a(?:b|c)`          | `.*(a(b|c)).*`, case-insensitive   |
| `a"b<c>`                | `.*(a\\"b\\<c\\>).*`               |
| `x+?`                   | `.*(x+).*` (same set of matches)   |
| `(?=x)`, `\\b`, `\\1`   | ValueError                         |

Escaped punctuation (`\\/`, `\\.`) and `\\d \\w \\s` (and their negations) are kept.
No pySigma import here.
"""

from __future__ import annotations

__all__ = ["eql_string", "to_lucene", "wildcard_to_lucene"]

# Characters Lucene gives a meaning that PCRE treats as ordinary text.
_LUCENE_ONLY = set('"<>#@&~')
_CLASS_ESCAPES = set("dDsSwW")
_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}
_UNSUPPORTED_ESCAPES = {
    "b": "word boundaries (\\b)",
    "B": "word boundaries (\\B)",
    "A": "\\A anchors",
    "Z": "\\Z anchors",
    "z": "\\z anchors",
    "G": "\\G anchors",
    "x": "hex escapes (\\x)",
    "p": "Unicode classes (\\p)",
    "P": "Unicode classes (\\P)",
    "k": "named back-references",
}
_FLAG_PREFIXES = ("(?i)", "(?s)", "(?m)", "(?is)", "(?si)", "(?im)", "(?mi)")


def to_lucene(pattern: str, ignore_case: bool = False) -> tuple[str, bool]:
    """(Lucene pattern for a whole-value match, case-insensitive?) for a Sigma regex."""
    while pattern.startswith(_FLAG_PREFIXES):
        flags, pattern = pattern[2 : pattern.index(")")], pattern[pattern.index(")") + 1 :]
        ignore_case = ignore_case or "i" in flags
    start = pattern.startswith("^")
    end = pattern.endswith("$") and not pattern.endswith("\\$")
    body = pattern[1 if start else 0 : len(pattern) - 1 if end else len(pattern)]
    translated, alternation = _translate(body)
    if alternation and (start or end):
        raise ValueError("anchors around a top-level alternation are not supported")
    prefix = "" if start else ".*"
    suffix = "" if end else ".*"
    return f"{prefix}({translated}){suffix}", ignore_case


def _translate(body: str) -> tuple[str, bool]:
    """The Lucene text of a pattern body and whether it has a top-level `|`."""
    out: list[str] = []
    depth = 0
    top_alternation = False
    in_class = False
    i = 0
    while i < len(body):
        char = body[i]
        if char == "\\":
            if i + 1 >= len(body):
                raise ValueError("the pattern ends with a lone backslash")
            out.append(_escape(body[i + 1], in_class))
            i += 2
            continue
        if in_class:
            if char == "]" and not _class_opened_just_now(out):
                in_class = False
            out.append("\\" + char if char in _LUCENE_ONLY else char)
            i += 1
            continue
        i = _outside_class(body, i, out)
        if char == "[":
            in_class = True
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            top_alternation = True
    return "".join(out), top_alternation


def _class_opened_just_now(out: list[str]) -> bool:
    return bool(out) and out[-1] in ("[", "[^")


def _outside_class(body: str, i: int, out: list[str]) -> int:
    """Append the translation of the token at `i` (outside a class); return the next index."""
    char = body[i]
    if char == "(" and body[i + 1 : i + 2] == "?":
        if body[i + 2 : i + 3] == ":":
            out.append("(")
            return i + 3
        raise ValueError(f"group syntax {body[i : i + 3]!r} (lookaround, named or flag groups)")
    if char == "[" and body[i + 1 : i + 2] == "^":
        out.append("[^")
        return i + 2
    if char in "^$":
        raise ValueError(f"an anchor {char!r} inside the pattern")
    if char in "*+?}" and body[i + 1 : i + 2] == "?":
        out.append(char)  # lazy quantifier: the same values match, greedy or not
        return i + 2
    if char in "*+?}" and body[i + 1 : i + 2] == "+":
        raise ValueError("possessive quantifiers")
    out.append("\\" + char if char in _LUCENE_ONLY else char)
    return i + 1


def _escape(char: str, in_class: bool) -> str:
    if char in _CLASS_ESCAPES:
        return "\\" + char
    if char in _CONTROL:
        return _CONTROL[char]
    if char in _UNSUPPORTED_ESCAPES:
        raise ValueError(f"{_UNSUPPORTED_ESCAPES[char]} are not Lucene syntax")
    if char.isdigit():
        raise ValueError("back-references are not Lucene syntax")
    if char.isalpha():
        raise ValueError(f"the escape \\{char} is not Lucene syntax")
    return "\\" + char


def wildcard_to_lucene(parts: list[str | None]) -> str:
    """A whole-value Lucene pattern from literal text and wildcards (None = `*`, "" = `?`).

    Used where a Sigma value holds a literal `*` or `?`, which an EQL `:` pattern cannot
    express (it has no escape for them)."""
    out: list[str] = []
    for part in parts:
        if part is None:
            out.append(".*")
        elif part == "":
            out.append(".")
        else:
            out.extend(ch if ch.isalnum() else "\\" + ch for ch in part)
    return "".join(out)


def eql_string(text: str) -> str:
    """`text` as an EQL double-quoted string literal."""
    escaped = (
        text.replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\n")
        .replace("\r", "\\r")
        .replace("\t", "\\t")
    )
    return f'"{escaped}"'
