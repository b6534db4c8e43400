"""Parsed rule files kept on disk, so a run with hundreds of rules starts in milliseconds.

Reading 408 rule files (TOML, then the EQL query with lark) takes seconds, and the result
depends only on each file's bytes and on this code. The cache keeps, per rule file, the
SHA-256 of its bytes, the `Rule` read from it, its parsed query (`ast.Query`, seeded into the
parser's memo) and the rule compiled (`program.CompiledRule`: stages, anchors, needles, each
condition as its generated code — source, bytecode, constants — so reading it back costs one
`exec` per condition; seeded into `compile_rule`'s memo). A Sigma file's entry holds its
conversion outcomes (`sigma.convert.Converted`) and, per usable rule, the parsed query and the
compiled rule, under the file's conversion key (`sigma.cache.conversion_key`: its bytes, the
converter, pySigma and mapping versions) instead of the bytes' SHA-256, so loading SigmaHQ's
1,200 Windows rules reads neither the conversion cache's JSON files nor the mapping catalog,
and parses and compiles nothing (~2.5 s less per run).

A file whose bytes changed is read again (hashing all 408 files takes milliseconds;
modification times could miss an edit within one clock tick); the whole cache is ignored when
the code that produces it changes (its name holds a hash of the grammar, of the modules that
build rules, ASTs and compiled rules, and of the Python bytecode version: the cache holds
marshalled code objects).

One file serves every rule set the user runs, so each rule file's entry and each condition's
code is pickled on its own inside it, after an index: the file is a pickle of the index (rule
file path -> its digest or key and where its entry lies; where the table of the conditions'
code lies; the region's size), then the entries' bytes. Opening the cache unpickles only the
index and maps the file (`mmap`); a run reads and unpickles the entries of the rules it loads
(a one-rule run neither reads nor unpickles the 1,600 others), and reads the code table
(condition key -> where its code lies, 2.5 MB of keys for 1,600 rules) only when it compiles
a rule or writes the cache: with every rule cached, neither. Reading every entry's bytes and
the code table of a 24 MB cache cost ~25-40 ms of each start. Compiled regexes are not
stored; they compile on first use (`patterns.py`).

| `S1_CONNECTOR_CACHE_DIR` | where                                                    |
|--------------------------|----------------------------------------------------------|
| unset                    | `$XDG_CACHE_HOME/s1-connector`, else `~/.cache/s1-connector` |
| a folder                 | that folder                                              |
| `off`                    | no cache                                                 |

The cache never changes what is loaded: only files that loaded without error are cached,
and a cache (or an entry) that cannot be read or written is logged (debug) and treated as
absent, then written anew. It is a pickle, so the folder is created private (0700) and a file
owned by someone else is never read.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import mmap
import os
import pickle
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from connector.detection.eql import ast
from connector.detection.eql.compiler import GENERATED, STORED, UNPICKLING_ERRORS
from connector.detection.eql.parser import PARSED
from connector.detection.model import Rule
from connector.detection.program import CompiledRule, compiled_of, remember, rule_key

if TYPE_CHECKING:
    from connector.detection.sigma.convert import Converted

__all__ = ["RuleCache", "cache_dir"]

log = logging.getLogger(__name__)

_VERSION = 3
_CODE = (
    "eql/eql.lark",
    "eql/parser.py",
    "eql/transform.py",
    "eql/ast.py",
    "eql/codegen.py",
    "eql/compiler.py",
    "eql/runtime.py",
    "eql/functions.py",
    "eql/patterns.py",
    "eql/regex_runs.py",
    "eql/literals.py",
    "eql/unsupported.py",
    "rules.py",
    "model.py",
    "program.py",
    "anchors.py",
    "needles.py",
    "rule_cache.py",
    "sigma/convert.py",
)
_Entry = tuple[str, bytes | slice]
"""(SHA-256 of the rule file, pickle of (`Rule`, its parsed query, compiled rule; or None));
for a Sigma file (conversion key, pickle of (outcomes, (parsed query, compiled rule; or
None) per usable outcome)). The pickle as bytes, or as where it lies in the entries' region
of the file read."""


def cache_dir() -> Path | None:
    """The cache folder (`S1_CONNECTOR_CACHE_DIR`, see the table above); None when off."""
    configured = os.environ.get("S1_CONNECTOR_CACHE_DIR", "")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "s1-connector"


def keep_newest(folder: Path, pattern: str, keep: int) -> None:
    """Remove all but the `keep` newest files of `folder` matching `pattern` (the caches kept
    beside the rule cache: replay filters, scan databases). Another run may remove some first."""
    files = sorted(folder.glob(pattern), key=_age)
    for old in files[keep:]:
        with contextlib.suppress(FileNotFoundError):  # another run removed it first
            old.unlink()


def _age(path: Path) -> float:
    try:
        return -path.stat().st_mtime
    except FileNotFoundError:  # removed by another run meanwhile: oldest, unlinked or not
        return float("inf")


def _code_key() -> str:
    digest = hashlib.sha256(str(_VERSION).encode())
    digest.update(importlib.util.MAGIC_NUMBER)  # marshalled bytecode is per Python version
    here = Path(__file__).parent
    for name in _CODE:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()[:16]


@dataclass
class RuleCache:
    """The cached rule files (`get`/`put` by path), written back by `save` when changed."""

    path: Path | None
    entries: dict[str, _Entry] = field(default_factory=dict)
    changed: bool = False
    stored: frozenset[str] = frozenset()
    """Keys of the generated conditions the file held or could not hold (closures): more
    in memory means new code, written back."""
    _data: memoryview | None = None
    """The entries' region of the file read (mapped: only the entries used are read)."""
    _table: slice | None = None
    """Where the table of the generated conditions' code lies in `_data`, until it is read
    (`_read_generated`: only a run that compiles or writes needs it)."""

    @classmethod
    def open(cls) -> RuleCache:
        """The cache of this user and code version (empty when absent or unusable)."""
        folder = cache_dir()
        if folder is None:
            return cls(None)
        cache = cls(folder / f"rules-{_code_key()}.pickle")
        cache._read()
        return cache

    def _read(self) -> None:
        assert self.path is not None
        try:
            if self.path.stat().st_uid != os.getuid():
                log.debug("rule cache %s: not owned by this user, ignored", self.path)
                return
            with self.path.open("rb") as handle:
                index = pickle.load(handle)
                start = handle.tell()
                data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            rules, table = index["rules"], index["generated"]
            unkept, size = index["unkept"], index["size"]
        except FileNotFoundError:
            return
        except (OSError, *UNPICKLING_ERRORS) as exc:
            log.debug("rule cache %s unreadable, ignored: %s", self.path, exc)
            return
        if not (
            type(size) is int
            and len(data) - start == size
            and _well_formed(rules, size)
            and _span(table, size)
            and isinstance(unkept, frozenset)
        ):
            log.debug("rule cache %s malformed, ignored", self.path)
            return
        self._data = memoryview(data)[start:]
        self.entries = {path: (digest, slice(a, b)) for path, (digest, a, b) in rules.items()}
        self._table = slice(*table)
        self.stored = unkept

    def _read_generated(self) -> None:
        """Put the file's generated code into `STORED` (once; a run that compiles nothing
        and writes nothing never reads it)."""
        if self._table is None:
            return
        assert self._data is not None  # a table comes from `_read`
        region, span, self._table = self._data, self._table, None
        try:
            generated = pickle.loads(region[span])  # ours, in a private folder
        except UNPICKLING_ERRORS as exc:
            log.debug("rule cache %s: code table unreadable, generated again: %s", self.path, exc)
            return
        if not (
            isinstance(generated, dict)
            and all(isinstance(k, str) and _span(v, len(region)) for k, v in generated.items())
        ):
            log.debug("rule cache %s: code table malformed, generated again", self.path)
            return
        STORED.update((k, region[a:b].tobytes()) for k, (a, b) in generated.items()
                      if k not in GENERATED)  # fmt: skip
        self.stored = self.stored | frozenset(generated)

    def _blob(self, blob: bytes | slice) -> bytes:
        """The bytes of an entry's pickle (read from the mapped file for a slice)."""
        if isinstance(blob, bytes):
            return blob
        assert self._data is not None  # entries with slices come from `_read`
        return self._data[blob].tobytes()

    def get(self, file: Path) -> Rule | None:
        """The cached rule of `file` when the file is unchanged since (else None)."""
        entry = self.entries.get(str(file))
        if entry is None or _digest(file) != entry[0]:
            self._read_generated()  # the rule is compiled anew: its conditions' code may be here
            return None
        try:
            # our own file, in a private folder
            rule, query, compiled = pickle.loads(self._blob(entry[1]))
        except UNPICKLING_ERRORS as exc:
            log.debug("rule cache entry of %s unreadable, read again: %s", file, exc)
            self._read_generated()
            return None
        if not (
            isinstance(rule, Rule)
            and isinstance(query, ast.Query | None)
            and isinstance(compiled, CompiledRule | None)
        ):
            log.debug("rule cache entry of %s malformed, read again", file)
            self._read_generated()
            return None
        self._seed(rule, query, compiled)
        return rule

    def _seed(self, rule: Rule, query: ast.Query | None, compiled: CompiledRule | None) -> None:
        """Put a cached rule's parsed query and compiled program into the memos; without a
        program of that rule, the generated code is read so the rule compiles from it."""
        if query is not None:
            PARSED[rule_key(rule)] = query
        if compiled is not None and compiled.rule == rule:
            remember(compiled)
        else:
            self._read_generated()

    def put(self, file: Path, rule: Rule) -> None:
        """Remember `rule`, just read from `file` without error (and its parsed query)."""
        digest = _digest(file)
        if self.path is None or digest is None:
            return
        query = PARSED.get(rule_key(rule))
        # A condition whose constants cannot be pickled (closures) is compiled again instead.
        blob = _pickled((rule, query, compiled_of(rule))) or _pickled((rule, query, None))
        if blob is None:
            return
        self.entries[str(file)] = (digest, blob)
        self.changed = True

    def get_sigma(self, file: Path, key: str) -> list[Converted] | None:
        """The cached outcomes of the Sigma file `file` when its conversion key is `key`
        (else None); their parsed queries and compiled rules are seeded into the memos."""
        entry = self.entries.get(str(file))
        if entry is None or entry[0] != key:
            self._read_generated()  # its rules are compiled anew: their code may be here
            return None
        try:
            # our own file, in a private folder
            outcomes, compiled = pickle.loads(self._blob(entry[1]))
        except UNPICKLING_ERRORS as exc:
            log.debug("rule cache entry of %s unreadable, read again: %s", file, exc)
            self._read_generated()
            return None
        usable = _usable(outcomes)
        if usable is None or not _compiled_pairs(compiled, len(usable)):
            log.debug("rule cache entry of %s malformed, read again", file)
            self._read_generated()
            return None
        for rule, (query, program) in zip(usable, compiled, strict=True):
            self._seed(rule, query, program)
        return list(outcomes)

    def put_sigma(self, file: Path, key: str, outcomes: Sequence[Converted]) -> None:
        """Remember the outcomes of the Sigma file `file` under its conversion key `key`,
        with the parsed query and compiled rule of each usable one (as far as known)."""
        if self.path is None:
            return
        rules = _usable(tuple(outcomes)) or []
        compiled = tuple((PARSED.get(rule_key(r)), compiled_of(r)) for r in rules)
        plain = tuple((PARSED.get(rule_key(r)), None) for r in rules)
        blob = _pickled((tuple(outcomes), compiled)) or _pickled((tuple(outcomes), plain))
        if blob is None:
            return
        self.entries[str(file)] = (key, blob)
        self.changed = True

    def save(self) -> None:
        """Write the cache back (atomically) if something was added."""
        if self.path is None:
            return
        if self.changed or GENERATED:
            self._read_generated()  # the file's code is kept in the file written
        if not (self.changed or not self.stored.issuperset(GENERATED)):
            return
        generated = dict(STORED)  # read from disk and not needed by this run: kept as they were
        unkept: set[str] = set()
        for key, item in GENERATED.items():
            blob = _pickled(item)
            if blob is None:
                unkept.add(key)
            else:
                generated[key] = blob
        blobs: list[bytes] = []
        offset = 0

        def place(blob: bytes) -> tuple[int, int]:
            nonlocal offset
            blobs.append(blob)
            offset += len(blob)
            return offset - len(blob), offset

        rules = {path: (digest, *place(self._blob(blob)))
                 for path, (digest, blob) in self.entries.items()}  # fmt: skip
        table = {key: place(blob) for key, blob in generated.items()}
        code = place(pickle.dumps(table, protocol=pickle.HIGHEST_PROTOCOL))
        index = {"rules": rules, "generated": code, "unkept": frozenset(unkept), "size": offset}
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            data = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
            with tempfile.NamedTemporaryFile(dir=self.path.parent, delete=False) as handle:
                handle.write(data)
                handle.writelines(blobs)
            os.replace(handle.name, self.path)
        except (OSError, pickle.PicklingError) as exc:
            log.debug("rule cache %s not written: %s", self.path, exc)
            return
        self.changed = False
        self.stored = frozenset(generated) | unkept


def _well_formed(rules: object, size: int) -> bool:
    """Whether the index's rule table has the shape `save` writes (the entries are checked
    when unpickled): path -> (digest, start, end), every span inside the entries' region of
    `size` bytes."""
    return isinstance(rules, dict) and all(
        isinstance(path, str)
        and isinstance(entry, tuple)
        and len(entry) == 3
        and isinstance(entry[0], str)
        and _span(entry[1:], size)
        for path, entry in rules.items()
    )


def _span(span: object, size: int) -> bool:
    return (
        isinstance(span, tuple)
        and len(span) == 2
        and type(span[0]) is int
        and type(span[1]) is int
        and 0 <= span[0] <= span[1] <= size
    )


def _usable(outcomes: object) -> list[Rule] | None:
    """The rules of the usable outcomes when `outcomes` is a tuple of them (else None)."""
    from connector.detection.sigma.convert import Converted  # noqa: PLC0415 - Sigma runs only

    if not isinstance(outcomes, tuple):
        return None
    if not all(isinstance(o, Converted) and isinstance(o.rule, Rule) for o in outcomes):
        return None
    return [o.rule for o in outcomes if not (o.error or o.skipped)]


def _compiled_pairs(items: object, count: int) -> bool:
    """Whether `items` is what `put_sigma` stores for `count` usable rules."""
    return (
        isinstance(items, tuple)
        and len(items) == count
        and all(
            isinstance(pair, tuple)
            and len(pair) == 2
            and isinstance(pair[0], ast.Query | None)
            and isinstance(pair[1], CompiledRule | None)
            for pair in items
        )
    )


def _pickled(item: object) -> bytes | None:
    """Constants are sets, matchers, CIDR lists and module-level functions; the few that
    are closures (arithmetic helpers) cannot be pickled (None): such a condition is
    generated anew."""
    try:
        return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, AttributeError, TypeError):
        return None


def _digest(file: Path) -> str | None:
    try:
        return hashlib.sha256(file.read_bytes()).hexdigest()
    except OSError:
        return None  # reading it again will report the problem
