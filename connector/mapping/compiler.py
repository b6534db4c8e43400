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

`compile_builder` puts the same rows into the whole per-record function the mapper calls:
id and time checks, the event's class fields, the rows, the cross-field rules (and, for a
projected mapping, the source record). `to_ecs` runs it; `Plan.apply` stays the rows alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from connector.mapping.inline import INLINE, NAMESPACE
from connector.mapping.skip import BAD_TIMESTAMP, MISSING_EVENT_ID, Skip
from connector.mapping.values import INLINE_TIME, to_timestamp
from connector.mapping.writers import make_writer

__all__ = [
    "SOURCE_KEY",
    "Applier",
    "Builder",
    "Frame",
    "Head",
    "RoleSpecs",
    "Spec",
    "compile_builder",
    "compile_rows",
]

Spec = tuple[tuple[str, ...], str, str]
"""(source keys, first present wins; ECS field; converter name)."""

RoleSpecs = tuple[str | None, tuple[Spec, ...], tuple[Spec, ...]]
"""(selector key or None, rows when the selector is present, rows when it is absent)."""

SOURCE_KEY: Final = "~source"
"""Key of `(shape, record)` in a projected event: not a field name any rule can spell
unquoted, and dropped by `Mapper.complete`."""

Applier = Callable[[Mapping[str, Any], dict[str, Any], Counter[str] | None], None]
Builder = Callable[[Mapping[str, Any], Counter[str] | None], "dict[str, Any] | Skip"]
Head = tuple[tuple[str, ...], tuple[str, ...], str | None]
"""The event class fields every event of a route gets: (category, type, action or None)."""

_ABSENT: Final = "v is None or v == '' or v == 'null'"
_INT_MAX: Final = {"uint": 9223372036854775807, "port": 65535}


class _Emitter:
    """Accumulates source lines and the names they refer to."""

    def __init__(self, signature: str = "apply(r, e, bad)") -> None:
        self.lines: list[str] = [f"def {signature}:", "    g = r.get"]
        self.namespace: dict[str, Any] = {"TS": to_timestamp, **NAMESPACE}
        self.count = 0

    def emit(self, indent: int, *lines: str) -> None:
        pad = "    " * indent
        self.lines.extend(pad + line for line in lines)

    def row(self, spec: Spec, indent: int, held: str | None = None) -> None:
        """Emit one row; `held` names a key whose value `v` already holds."""
        keys, field, converter = spec
        n = self.count
        self.count += 1
        self.namespace[f"W{n}"] = make_writer(converter, field)
        self.namespace[f"L{n}"] = f"bad_field:{field}"
        if keys != (held,):
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

    def block(self, specs: Sequence[Spec], indent: int, held: str | None = None) -> None:
        for index, spec in enumerate(specs):
            self.row(spec, indent, held if index == 0 else None)
        if not specs:
            self.emit(indent, "pass")

    def rows(self, fixed: Sequence[Spec], roles: Sequence[RoleSpecs]) -> None:
        self.block(fixed, 1)
        for selector, new, legacy in roles:
            if selector is None:
                self.block(new, 1)
                continue
            self.emit(1, f"v = g({selector!r})", f"if {_ABSENT}:")
            self.block(legacy, 2)
            self.emit(1, "else:")
            self.block(new, 2, held=selector)  # `v` holds the uid already: no second read

    def finish(self, name: str, result: str) -> Any:
        self.emit(1, f"return {result}")
        source = "\n".join(self.lines) + "\n"
        exec(compile(source, f"<mapping {name}>", "exec"), self.namespace)
        return self.namespace[self.lines[0][4:].partition("(")[0]], source


def compile_rows(
    name: str, fixed: Sequence[Spec], roles: Sequence[RoleSpecs]
) -> tuple[Applier, str]:
    """Compile the rows into `apply(record, event, bad)`; returns it and its source."""
    out = _Emitter()
    out.rows(fixed, roles)
    applier, source = out.finish(f"plan {name}", "None")
    return applier, source


@dataclass(frozen=True)
class Frame:
    """What a record needs besides the rows: where its id and time are, and the cross-field
    rules after the rows (`guard`: drop `process.parent.entity_id` equal to
    `process.entity_id`; `index` not None: the DV `sentinel_one.event.id` composite), and
    whether the event keeps its source record (projected mapping, see `Mapper.complete`)."""

    id: str
    time: str
    time_fallback: str | None
    trace: str
    index: str | None
    guard: bool
    source: str | None = None
    """Shape name to store with the record under `SOURCE_KEY` (None: store nothing)."""


def compile_builder(
    name: str, fixed: Sequence[Spec], roles: Sequence[RoleSpecs], frame: Frame, head: Head
) -> tuple[Builder, str]:
    """Compile `build(record, bad) -> event | Skip`: id and time checks, the event's class
    fields (`head`: category, type, action), the rows and the cross-field rules, in one
    function; returns it and its source.

    Why: per record, the calls and attribute lookups between these steps cost as much as
    the rows of a projected plan. The steps keep the order and the meaning `to_ecs`
    documents (missing id before bad time; the `to_timestamp` rules).
    """
    out = _Emitter("build(r, bad)")
    out.namespace.update(INLINE_TIME, MISSING=MISSING_EVENT_ID, BAD_TS=BAD_TIMESTAMP)
    out.emit(1, *_id_and_time(frame))
    category, types, action = head
    fields = ["'@timestamp': ts", "'event.kind': 'event'", "'event.id': i"]
    if category:  # a fresh list per event: events own their values
        fields.append(f"'event.category': {list(category)!r}")
    fields.append(f"'event.type': {list(types)!r}")
    if action is not None:
        fields.append(f"'event.action': {action!r}")
    out.emit(1, "e = {" + ", ".join(fields) + "}")
    out.rows(fixed, roles)
    out.emit(1, *_cross_field(frame))
    if frame.source is not None:
        out.emit(1, f"e[{SOURCE_KEY!r}] = ({frame.source!r}, r)")
    builder, source = out.finish(f"builder {name}", "e")
    return builder, source


def _id_and_time(frame: Frame) -> list[str]:
    fallback = (
        [f"if {_ABSENT}:", f"    v = g({frame.time_fallback!r})"] if frame.time_fallback else []
    )
    # The two hot paths of `to_timestamp` inline, the shape's usual one first (DV sends ISO
    # text, Cloud Funnel epoch ms); everything else goes to it.
    paths = [
        [
            "if v.__class__ is int and 0 <= v <= MAXMS:",
            "    x = v // 1000",
            "    ts = (SEC.get(x) or SECP(x)) + MS[v - x * 1000]",
        ],
        [
            "if v.__class__ is str and len(v) == 24 and v[:19] in ISOK and v[19:] in ISOS:",
            "    ts = v",
        ],
    ]
    if frame.time_fallback:
        paths.reverse()
    paths[1][0] = "el" + paths[1][0]
    return [
        f"i = g({frame.id!r})",
        "if i.__class__ is not str or not i or i == 'null':",
        "    if i.__class__ is not int:",  # an int id is its decimal text; bool is no int here
        "        return MISSING",
        "    i = str(i)",
        f"v = g({frame.time!r})",
        *fallback,
        *paths[0],
        *paths[1],
        "else:",
        "    ts = None if v is None else TS(v)",
        "    if ts is None:",
        "        return BAD_TS",
    ]


def _cross_field(frame: Frame) -> list[str]:
    lines: list[str] = []
    if frame.guard:
        lines += [
            "x = e.get('process.parent.entity_id')",
            "if x is not None and x == e.get('process.entity_id'):",
            "    del e['process.parent.entity_id']",
            "    if bad is not None:",
            "        bad['parent_equals_self'] += 1",
        ]
    if frame.index is not None:
        lines += [
            f"x, v = g({frame.trace!r}), g({frame.index!r})",
            "if isinstance(x, str) and x and v.__class__ in (str, int) and v not in ('', 'null'):",
            "    e['sentinel_one.event.id'] = f'{x}_{v}'",
        ]
    return lines
