"""Replay's two-pass filter kept on disk, beside the rule cache, so a replay with many rules
does not derive it again each start (~0.1 s for the 408 Elastic rules, ~0.4 s with the
SigmaHQ rules added; reading it back takes milliseconds).

The filter (`replay_filter.replay_filter`) is a function of the compiled rules in load
order, of the line shape and of the code that compiles rules and derives needles. Its key
hashes all of them:

* per rule, what its compiled form depends on (`program.rule_key`: query text, origin, line
  offset) and its name (the filter's descriptions);
* the shape;
* the source of every module that building the filter imports and of the rule cache's code
  (`_CODE`: grammar, parser, compiler, needles, mapping tables...), the Python version and
  this format's version.

A file is named after its key, so a changed rule, shape or code looks for another file; the
key is also stored inside and compared, with a SHA-256 of the data (a file cut short or
damaged is found without checking every needle's type). The file holds only data: the first pass's
`Prefilter` (needle tuples and descriptions) and, per joined rule, indexes into the compiled
rules (rule, root stage) with its needle tuples; the stages are taken from the rules loaded
now, never unpickled. A file that cannot be read, does not unpickle, does not have that
shape or points outside the rules is logged and ignored, and the filter is built and
written anew. The newest `_KEEP` files are kept. `S1_CONNECTOR_CACHE_DIR=off` turns this off
with the rule cache.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from connector.detection.eql.compiler import UNPICKLING_ERRORS
from connector.detection.program import CompiledRule, rule_key
from connector.detection.rule_cache import cache_dir, keep_newest
from connector.detection.stages import UNTIL
from connector.sources.base import Shape
from connector.sources.query import Alternative, Prefilter
from connector.sources.replay_filter import JoinSpec, ReplayFilter, replay_filter

__all__ = ["cached_replay_filter", "filter_key"]

log = logging.getLogger(__name__)

_VERSION = 2
_KEEP = 8
"""How many filter files (rule sets x shapes) the folder keeps, newest first."""

_CODE = (
    "__init__.py",
    "ecsutil.py",
    "errors.py",
    "timeutil.py",
    "detection/__init__.py",
    "detection/anchors.py",
    "detection/engine.py",
    "detection/exception_files.py",
    "detection/exceptions.py",
    "detection/lane.py",
    "detection/literal_pass.py",
    "detection/model.py",
    "detection/needles.py",
    "detection/persist.py",
    "detection/program.py",
    "detection/rule_cache.py",
    "detection/rules.py",
    "detection/sequence.py",
    "detection/stages.py",
    "detection/suppression.py",
    "detection/timestamps.py",
    "detection/eql/__init__.py",
    "detection/eql/eql.lark",
    "detection/eql/ast.py",
    "detection/eql/codegen.py",
    "detection/eql/compiler.py",
    "detection/eql/functions.py",
    "detection/eql/literals.py",
    "detection/eql/parser.py",
    "detection/eql/patterns.py",
    "detection/eql/regex_runs.py",
    "detection/eql/runtime.py",
    "detection/eql/transform.py",
    "detection/eql/unsupported.py",
    "detection/sigma/convert.py",
    "mapping/__init__.py",
    "mapping/argv.py",
    "mapping/classify.py",
    "mapping/compiler.py",
    "mapping/ecs.py",
    "mapping/ecs_input.py",
    "mapping/fields.py",
    "mapping/inline.py",
    "mapping/mapper.py",
    "mapping/plan.py",
    "mapping/projection.py",
    "mapping/skip.py",
    "mapping/tables.py",
    "mapping/values.py",
    "mapping/writers.py",
    "sources/__init__.py",
    "sources/base.py",
    "sources/line_forms.py",
    "sources/literal_prefilter.py",
    "sources/query.py",
    "sources/replay_filter.py",
    "sources/replay_filter_cache.py",
)
"""Relative to the `connector` package: every module building a filter imports
(`tests/sources/test_replay_filter_cache.py` checks) and the rule cache's code."""

_ROOT = Path(__file__).resolve().parent.parent
"""The `connector` package's folder."""

_Join = tuple[int, int, tuple[Alternative, ...], bool]
_Stored = tuple[tuple[Alternative, ...], tuple[str, ...], bool, tuple[_Join, ...]]
"""(first pass: alternatives, descriptions, automaton; per joined rule: rule index, root
stage index, the other stages' alternatives, by value)."""


def cached_replay_filter(rules: Sequence[CompiledRule], shape: Shape) -> ReplayFilter:
    """`replay_filter(rules, shape)`, from the cache folder when it holds it (see the
    module docstring); built and written there otherwise."""
    folder = cache_dir()
    if folder is None:
        return replay_filter(rules, shape)
    key = filter_key(rules, shape)
    path = folder / f"replay-filter-{key[:32]}.pickle"
    cached = _read(path, key, rules)
    if cached is not None:
        return cached
    built = replay_filter(rules, shape)
    _write(path, key, built)
    return built


def filter_key(rules: Sequence[CompiledRule], shape: Shape) -> str:
    """What the filter of `rules` for `shape` depends on, hashed (see the module docstring)."""
    digest = hashlib.sha256(f"{_VERSION}\0{sys.version}\0{shape}\0".encode())
    for name in _CODE:
        digest.update(name.encode() + b"\0" + (_ROOT / name).read_bytes() + b"\0")
    texts: list[bytes] = []
    for compiled in rules:
        query, origin, offset = rule_key(compiled.rule)
        for text in (query, origin, str(offset), compiled.rule.name):
            texts.append(text.encode("utf-8", "surrogatepass"))
    digest.update(repr([len(text) for text in texts]).encode() + b"\0")  # unambiguous
    digest.update(b"".join(texts))
    return digest.hexdigest()


def _read(path: Path, key: str, rules: Sequence[CompiledRule]) -> ReplayFilter | None:
    try:
        if path.stat().st_uid != os.getuid():
            log.info("replay filter cache %s: not owned by this user, ignored", path)
            return None
        stored_key, checksum, payload = pickle.loads(path.read_bytes())  # ours, private
        if stored_key != key:
            log.info("replay filter cache %s is for other rules or code, built again", path)
            return None
        if not (isinstance(payload, bytes) and hashlib.sha256(payload).digest() == checksum):
            log.info("replay filter cache %s corrupt (checksum), built again", path)
            return None
        stored = pickle.loads(payload)
    except FileNotFoundError:
        return None
    except (OSError, *UNPICKLING_ERRORS) as exc:
        log.info("replay filter cache %s unreadable, built again: %s", path, exc)
        return None
    built = _rebuilt(stored, rules)
    if built is None:
        log.info("replay filter cache %s malformed, built again", path)
    return built


def _rebuilt(stored: object, rules: Sequence[CompiledRule]) -> ReplayFilter | None:
    """The filter `stored` describes, its joins' stages taken from `rules`; None when
    `stored` is not what `_write` writes for these rules."""
    if not (isinstance(stored, tuple) and len(stored) == 4):
        return None
    alternatives, description, automaton, joins = stored
    if not (
        isinstance(alternatives, tuple)  # the checksum vouches for the needles inside
        and isinstance(description, tuple)
        and all(isinstance(d, str) for d in description)
        and type(automaton) is bool
        and isinstance(joins, tuple)
    ):
        return None
    specs: list[JoinSpec] = []
    for join in joins:
        if not (isinstance(join, tuple) and len(join) == 4):
            return None
        number, root, rest, by_value = join
        if not (
            type(number) is int
            and 0 <= number < len(rules)
            and type(root) is int
            and 0 <= root < len(rules[number].stages)
            and rules[number].sequence
            and isinstance(rest, tuple)
            and type(by_value) is bool
        ):
            return None
        compiled = rules[number]
        roles = dict(enumerate(compiled.stages))
        if compiled.until is not None:
            roles[UNTIL] = compiled.until
        specs.append(JoinSpec(number, root, compiled.stages[root], rest, roles, by_value))
    return ReplayFilter(Prefilter(alternatives, description, automaton), tuple(specs))


def _write(path: Path, key: str, built: ReplayFilter) -> None:
    joins = tuple((j.rule, j.root, j.rest, j.by_value) for j in built.joins)
    first = built.first
    stored: _Stored = (first.alternatives, first.description, first.automaton, joins)
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        payload = pickle.dumps(stored, protocol=pickle.HIGHEST_PROTOCOL)
        checksum = hashlib.sha256(payload).digest()
        data = pickle.dumps((key, checksum, payload), protocol=pickle.HIGHEST_PROTOCOL)
        with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
            handle.write(data)
        os.replace(handle.name, path)
        keep_newest(path.parent, "replay-filter-*.pickle", _KEEP)
    except (OSError, pickle.PicklingError) as exc:
        log.info("replay filter cache %s not written: %s", path, exc)
