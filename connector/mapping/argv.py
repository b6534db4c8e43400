"""Windows command-line splitting, the way Elastic's SentinelOne pipelines split `process.args`.

The rules (spec: `ecs-mapping.md` §7.1) are the older Microsoft C runtime ones, applied to every
command line on every OS:

| raw command line          | arguments                  |
|---------------------------|----------------------------|
| `cmd.exe /c "C:\\a b\\x"` | `cmd.exe`, `/c`, `C:\\a b\\x` |
| `a\\"b`                   | `a"b`                      |
| `a\\\\"b c"`              | `a\\b c`                   |
| `"a""b c"`                | `a"b`, `c`                 |
| `a "" b`                  | `a`, ``, `b`               |
| `sh -c 'echo hi'`         | `sh`, `-c`, `'echo`, `hi'` |

Only space and tab separate arguments; backslashes are literal unless a run of them ends at a
double quote; `""` inside quotes is a literal quote that also closes the quoted part; an unclosed
quote runs to the end. Empty arguments (`""`) are kept.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["CACHED_LENGTH", "clear_cache", "split_cached", "split_command_line", "split_tuple"]

# One token per step of the state machine: a backslash run with the quote that ends it, a lone
# quote, a separator run, a backslash run not followed by a quote, or ordinary text.
_TOKEN = re.compile(r'(\\*)"|[ \t]+|\\+|[^\\" \t]+')


def split_command_line(text: str) -> list[str]:
    """Split `text` into arguments; `""` or whitespace only gives `[]`.

    Never raises for any string. The result is a new list the caller may change.
    """
    return list(split_tuple(text))


CACHED_LENGTH = 2048


def split_tuple(text: str) -> tuple[str, ...]:
    """`split_command_line` as an immutable tuple, cached for lines up to 2048 characters.

    Command lines repeat a lot in endpoint telemetry (services, shells, updaters), so a
    repeated line costs one dict lookup; the length limit bounds the cache's memory.
    """
    return split_cached(text) if len(text) <= CACHED_LENGTH else _split(text)


@lru_cache(maxsize=8192)
def split_cached(text: str) -> tuple[str, ...]:
    """`split_tuple` for lines of at most `CACHED_LENGTH` characters (compiled plans call
    it directly)."""
    return _split(text)


def clear_cache() -> None:
    """Forget cached splits (benchmarks use it to keep repeated runs comparable)."""
    split_cached.cache_clear()


def _split(text: str) -> tuple[str, ...]:
    if '"' not in text:
        # Without quotes no backslash is special and no argument can be empty. `str.split()`
        # without a separator would also split at newlines and Unicode spaces, so it is not used.
        return tuple(arg for arg in text.replace("\t", " ").split(" ") if arg)
    if '\\"' not in text and '""' not in text:
        if text[0] == '"':
            # The commonest quoted form by far: a quoted program path, plain arguments after.
            close = text.find('"', 1)
            rest = text[close + 1 :]
            if close > 0 and '"' not in rest and (not rest or rest[0] in " \t"):
                return (text[1:close], *(arg for arg in rest.replace("\t", " ").split(" ") if arg))
        return tuple(_split_toggling(text))
    return tuple(_split_quoted(text))


def _split_toggling(text: str) -> list[str]:
    """The common quoted form (`"C:\\Program Files\\x.exe" -y`): no backslash run ends at a
    quote and no `""`, so every quote just toggles quoting. The segments between quotes
    alternate outside / inside; only outside ones split at spaces and tabs."""
    args: list[str] = []
    current: str | None = None  # the argument being built; None: between arguments
    for index, segment in enumerate(text.split('"')):
        if index % 2:  # inside quotes: literal, and a quote always starts an argument
            current = segment if current is None else current + segment
            continue
        pieces = segment.replace("\t", " ").split(" ")
        if pieces[0]:
            current = pieces[0] if current is None else current + pieces[0]
        if len(pieces) == 1:
            continue
        if current is not None:
            args.append(current)
        args.extend(piece for piece in pieces[1:-1] if piece)
        current = pieces[-1] or None
    if current is not None:
        args.append(current)
    return args


def _split_quoted(text: str) -> list[str]:
    args: list[str] = []
    parts: list[str] = []
    in_arg = quoted = False
    pos, end = 0, len(text)
    while pos < end:
        token = _TOKEN.match(text, pos)
        assert token is not None  # the pattern matches any non-empty rest
        pos = token.end()
        chunk = token.group()
        if chunk[0] in " \t":
            if quoted:
                parts.append(chunk)
            elif in_arg:
                args.append("".join(parts))
                parts, in_arg = [], False
            continue
        in_arg = True
        if chunk[-1] != '"':
            parts.append(chunk)
            continue
        slashes = len(chunk) - 1
        parts.append("\\" * (slashes // 2))
        if slashes % 2:
            parts.append('"')
        elif quoted and text.startswith('"', pos):
            # `""` inside quotes: one literal quote, and the quoted part ends (pre-2008 rule).
            parts.append('"')
            pos += 1
            quoted = False
        else:
            quoted = not quoted
    if in_arg:
        args.append("".join(parts))
    return args
