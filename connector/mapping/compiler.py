"""Compile a plan's rows into one straight-line Python function (like `dataclasses` does).

Why: a table loop pays ~100 ns of interpreter overhead per row, absent or not, and a record
meets 60–80 rows. The same rows unrolled into `v = g("key")` statements cost ~25 ns for an
absent key, which is what keeps mapping within reach of `json.loads` (see
`scripts/bench_mapping.py`). The rows stay the single source of truth: this module only
changes how they run, and `Plan.interpret` runs the same rows as a plain loop, which the tests
use as the reference for the compiled function.

Generated code per row (`g` = `record.get`, `e` = the event, `W*` the row's writer, `L*` its
`bad_field:` label; `v` absent means `None`, `""` or `"null"`):

    v = g('src.process.name')            # text row: present strings copied without a call
    if v is not None:
        if v.__class__ is str:
            if v and v != 'null':
                e['process.name'] = v
        elif not W3(e, v) and bad is not None:
            bad[L3] += 1

`uint`/`port` rows store plain ints inline, `time` rows call `to_timestamp` directly, the hot
converters of `inline.py` handle strings inline, and every other value goes to its writer.
The source is kept on the plan (`Plan.source`) for debugging.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from connector.mapping.inline import INLINE, NAMESPACE
from connector.mapping.values import to_timestamp
from connector.mapping.writers import make_writer

__all__ = ["Applier", "RoleSpecs", "Spec", "compile_rows"]

Spec = tuple[tuple[str, ...], str, str]
"""(source keys, first present wins; ECS field; converter name)."""

RoleSpecs = tuple[str | None, tuple[Spec, ...], tuple[Spec, ...]]
"""(selector key or None, rows when the selector is present, rows when it is absent)."""

Applier = Callable[[Mapping[str, Any], dict[str, Any], Counter[str] | None], None]

_ABSENT: Final = "v is None or v == '' or v == 'null'"
_INT_MAX: Final = {"uint": 9223372036854775807, "port": 65535}


class _Emitter:
    """Accumulates source lines and the names they refer to."""

    def __init__(self) -> None:
        self.lines: list[str] = ["def apply(r, e, bad):", "    g = r.get"]
        self.namespace: dict[str, Any] = {"TS": to_timestamp, **NAMESPACE}
        self.count = 0

    def emit(self, indent: int, *lines: str) -> None:
        pad = "    " * indent
        self.lines.extend(pad + line for line in lines)

    def row(self, spec: Spec, indent: int) -> None:
        keys, field, converter = spec
        n = self.count
        self.count += 1
        self.namespace[f"W{n}"] = make_writer(converter, field)
        self.namespace[f"L{n}"] = f"bad_field:{field}"
        self._read(keys, indent)
        if converter == "text" and len(keys) == 1:
            self._text(n, field, indent)
        elif converter in _INT_MAX:
            self._int(n, field, _INT_MAX[converter], indent)
        elif converter == "time":
            self._time(n, field, indent)
        elif converter in INLINE:
            self._inline(n, INLINE[converter](field), indent)
        else:
            self._call(n, indent)

    def _read(self, keys: tuple[str, ...], indent: int) -> None:
        self.emit(indent, f"v = g({keys[0]!r})")
        for depth, key in enumerate(keys[1:]):
            self.emit(indent + depth, f"if {_ABSENT}:", f"    v = g({key!r})")

    def _text(self, n: int, field: str, indent: int) -> None:
        self.emit(
            indent,
            "if v is not None:",
            "    if v.__class__ is str:",
            "        if v and v != 'null':",
            f"            e[{field!r}] = v",
            f"    elif not W{n}(e, v) and bad is not None:",
            f"        bad[L{n}] += 1",
        )

    def _int(self, n: int, field: str, maximum: int, indent: int) -> None:
        # Ints and short ASCII digit strings (DV sends pids as text) are handled here; 18
        # digits always fit the maximum of `uint`. Anything else goes to the writer.
        self.emit(
            indent,
            "if v is not None:",
            f"    if v.__class__ is int and 0 <= v <= {maximum}:",
            f"        e[{field!r}] = v",
            "    elif v.__class__ is str and v.isdigit() and v.isascii() and len(v) <= 18:",
            "        x = int(v)",
            f"        if x <= {maximum}:",
            f"            e[{field!r}] = x",
            "        elif bad is not None:",
            f"            bad[L{n}] += 1",
            f"    elif v != '' and v != 'null' and not W{n}(e, v) and bad is not None:",
            f"        bad[L{n}] += 1",
        )

    def _time(self, n: int, field: str, indent: int) -> None:
        self.emit(
            indent,
            "if v is not None and v != '' and v != 'null':",
            "    x = TS(v)",
            "    if x is not None:",
            f"        e[{field!r}] = x",
            "    elif bad is not None:",
            f"        bad[L{n}] += 1",
        )

    def _inline(self, n: int, lines: list[str], indent: int) -> None:
        self.emit(indent, f"if not ({_ABSENT}):", "    if v.__class__ is str:")
        self.emit(indent + 2, *(line.replace("{n}", str(n)) for line in lines))
        self.emit(
            indent,
            f"    elif not W{n}(e, v) and bad is not None:",
            f"        bad[L{n}] += 1",
        )

    def _call(self, n: int, indent: int) -> None:
        self.emit(
            indent,
            f"if not ({_ABSENT}) and not W{n}(e, v) and bad is not None:",
            f"    bad[L{n}] += 1",
        )

    def block(self, specs: Sequence[Spec], indent: int) -> None:
        for spec in specs:
            self.row(spec, indent)
        if not specs:
            self.emit(indent, "pass")


def compile_rows(
    name: str, fixed: Sequence[Spec], roles: Sequence[RoleSpecs]
) -> tuple[Applier, str]:
    """Compile the rows into `apply(record, event, bad)`; returns it and its source."""
    out = _Emitter()
    out.block(fixed, 1)
    for selector, new, legacy in roles:
        if selector is None:
            out.block(new, 1)
            continue
        out.emit(1, f"v = g({selector!r})", f"if {_ABSENT}:")
        out.block(legacy, 2)
        out.emit(1, "else:")
        out.block(new, 2)
    source = "\n".join(out.lines) + "\n"
    exec(compile(source, f"<mapping plan {name}>", "exec"), out.namespace)
    applier: Applier = out.namespace["apply"]
    return applier, source
