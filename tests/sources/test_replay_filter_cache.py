"""The replay filter kept on disk: read back equal to the one built, never stale (rules, shape
and code are in its key), a damaged file ignored with a log line and rebuilt."""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import shutil
import subprocess
import sys
from dataclasses import fields, replace
from pathlib import Path

import pytest

from connector.detection.model import Rule
from connector.detection.program import CompiledRule, compile_rule
from connector.detection.rules import load_rules
from connector.detection.stages import UNTIL
from connector.sources import replay_filter_cache as cache_module
from connector.sources.base import Shape
from connector.sources.query import Prefilter
from connector.sources.replay_filter import ReplayFilter, replay_filter
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "detection-rules-s1" / "rules"
REPO = Path(__file__).resolve().parent.parent.parent


@pytest.fixture(scope="module")
def corpus() -> list[CompiledRule]:
    return [compile_rule(rule) for rule in load_rules(builtin=False, paths=[CORPUS])]


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("S1_CONNECTOR_CACHE_DIR", str(folder))
    return folder


class _Builds:
    """Counts the filters built (not read from the cache)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        monkeypatch.setattr(cache_module, "replay_filter", self)

    def __call__(self, rules: list[CompiledRule], shape: Shape) -> ReplayFilter:
        self.count += 1
        return replay_filter(rules, shape)


def _same(a: ReplayFilter, b: ReplayFilter) -> None:
    assert a == b
    for item in fields(Prefilter):  # every field, those == skips too (description...)
        assert getattr(a.first, item.name) == getattr(b.first, item.name), item.name
    assert len(a.joins) == len(b.joins)
    for x, y in zip(a.joins, b.joins, strict=True):
        assert (x.rule, x.root, x.rest, x.by_value) == (y.rule, y.root, y.rest, y.by_value)
        assert x.stage is y.stage
        assert x.roles.keys() == y.roles.keys()
        assert all(x.roles[k] is y.roles[k] for k in x.roles)


@pytest.mark.parametrize("shape", ["ecs", "cloud-funnel", "dv"])
def test_the_filter_read_back_is_the_one_built(
    corpus: list[CompiledRule], cache_dir: Path, monkeypatch: pytest.MonkeyPatch, shape: Shape
) -> None:
    builds = _Builds(monkeypatch)
    built = cache_module.cached_replay_filter(corpus, shape)
    assert builds.count == 1
    assert len(list(cache_dir.glob("replay-filter-*.pickle"))) == 1
    read = cache_module.cached_replay_filter(corpus, shape)
    assert builds.count == 1  # from the file
    _same(read, replay_filter(corpus, shape))
    _same(read, built)
    if shape == "ecs":
        assert any(spec.by_value for spec in read.joins)  # the joins are exercised


def test_a_changed_rule_or_shape_builds_another_filter(
    corpus: list[CompiledRule], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = _Builds(monkeypatch)
    cache_module.cached_replay_filter(corpus, "ecs")
    cache_module.cached_replay_filter(corpus, "cloud-funnel")
    assert builds.count == 2
    renamed = [*corpus[:-1], replace(corpus[-1], rule=replace(corpus[-1].rule, name="other"))]
    assert cache_module.cached_replay_filter(renamed, "ecs").first.description[-1] == "other"
    assert builds.count == 3
    fewer = corpus[1:]
    _same(cache_module.cached_replay_filter(fewer, "ecs"), replay_filter(fewer, "ecs"))
    assert builds.count == 4
    cache_module.cached_replay_filter(corpus, "ecs")
    assert builds.count == 4  # still there


def test_an_edited_rule_file_builds_another_filter(
    tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "rules"
    folder.mkdir()
    source = CORPUS / "windows" / "defense_evasion_mshta_beacon.toml"
    rule_file = folder / source.name
    shutil.copy(source, rule_file)
    builds = _Builds(monkeypatch)

    def filter_now() -> ReplayFilter:
        rules = load_rules(builtin=False, paths=[folder])
        return cache_module.cached_replay_filter([compile_rule(r) for r in rules], "ecs")

    before = filter_now()
    again = filter_now()  # rules from the rule cache: other condition objects, same filter
    assert again.first == before.first and builds.count == 1
    text = rule_file.read_text(encoding="utf-8")
    assert "mshta.exe" in text
    rule_file.write_text(text.replace("mshta.exe", "mshtx.exe"), encoding="utf-8")
    after = filter_now()
    assert builds.count == 2
    needles = {n for alt in after.first.alternatives for group in alt for n in group}
    assert any(b"mshtx" in n for n in needles)
    assert after.first != before.first


def test_changed_code_builds_another_filter(
    corpus: list[CompiledRule], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = REPO / "connector"
    copy = tmp_path / "connector"
    for name in cache_module._CODE:
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(package / name, copy / name)
    monkeypatch.setattr(cache_module, "_ROOT", copy)
    before = cache_module.filter_key(corpus, "ecs")
    for name in ("detection/needles.py", "sources/literal_prefilter.py", "mapping/tables.py"):
        original = (copy / name).read_bytes()
        (copy / name).write_bytes(original + b"\n# changed\n")
        assert cache_module.filter_key(corpus, "ecs") != before, name
        (copy / name).write_bytes(original)
    assert cache_module.filter_key(corpus, "ecs") == before


def test_every_module_building_a_filter_is_in_its_key() -> None:
    """Loading and compiling rules (grammar, compiler, needles) and building the filter for
    every shape imports only modules whose source the key hashes."""
    probe = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "import connector\n"
        "from connector.detection.program import compile_rule\n"
        "from connector.detection.rules import load_rules\n"
        "from connector.sources.replay_filter_cache import cached_replay_filter\n"
        f"rules = load_rules(builtin=False, paths=[Path({str(CORPUS)!r})])\n"
        "compiled = [compile_rule(r) for r in rules]\n"
        "for shape in ('ecs', 'cloud-funnel', 'dv'):\n"
        "    cached_replay_filter(compiled, shape)\n"
        "root = Path(connector.__file__).parent\n"
        "print(json.dumps(sorted(str(Path(m.__file__).relative_to(root)) for n, m in\n"
        "    list(sys.modules.items()) if n.startswith('connector') and\n"
        "    getattr(m, '__file__', None))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"S1_CONNECTOR_CACHE_DIR": "off", "PATH": "/usr/bin:/bin"},
    )
    loaded = set(json.loads(out.stdout))
    assert "sources/replay_filter.py" in loaded
    assert loaded - set(cache_module._CODE) == set()
    from connector.detection import rule_cache  # noqa: PLC0415

    assert {f"detection/{name}" for name in rule_cache._CODE} <= set(cache_module._CODE)


def _the_file(cache_dir: Path) -> Path:
    (path,) = cache_dir.glob("replay-filter-*.pickle")
    return path


def test_a_damaged_file_is_logged_and_rebuilt(
    corpus: list[CompiledRule],
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    builds = _Builds(monkeypatch)
    reference = cache_module.cached_replay_filter(corpus, "ecs")
    path = _the_file(cache_dir)
    good = path.read_bytes()
    key, checksum, payload = pickle.loads(good)
    assert b'"cmd.exe"' in payload
    flipped = payload.replace(b'"cmd.exe"', b'"cmd.exf"', 1)  # still a pickle, another needle
    out_of_range = pickle.dumps(((), (), ((len(corpus), 0, (), True),)))
    damaged = [  # (what the log line says, the file's bytes)
        ("unreadable", good[: len(good) // 2]),  # cut short
        ("corrupt (checksum)", pickle.dumps((key, checksum, flipped))),
        ("for other rules or code", pickle.dumps(("0" * 64, checksum, payload))),
        ("malformed", pickle.dumps((key, hashlib.sha256(out_of_range).digest(), out_of_range))),
        ("unreadable", b"not a pickle"),
    ]
    for what, data in damaged:
        path.write_bytes(data)
        caplog.clear()
        with caplog.at_level(logging.INFO, logger=cache_module.__name__):
            _same(cache_module.cached_replay_filter(corpus, "ecs"), reference)
        assert what in caplog.text and "built again" in caplog.text, what
        assert path.read_bytes() == good, what  # written anew
    assert builds.count == 1 + len(damaged)
    _same(cache_module.cached_replay_filter(corpus, "ecs"), reference)
    assert builds.count == 1 + len(damaged)


def test_no_file_when_the_cache_is_off(
    corpus: list[CompiledRule], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("S1_CONNECTOR_CACHE_DIR", "off")
    builds = _Builds(monkeypatch)
    cache_module.cached_replay_filter(corpus, "ecs")
    cache_module.cached_replay_filter(corpus, "ecs")
    assert builds.count == 2


def test_only_the_newest_files_are_kept(
    corpus: list[CompiledRule], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "_KEEP", 2)
    for count in (10, 20, 30):
        cache_module.cached_replay_filter(corpus[:count], "ecs")
    assert len(list(cache_dir.glob("replay-filter-*.pickle"))) == 2
    builds = _Builds(monkeypatch)
    cache_module.cached_replay_filter(corpus[:30], "ecs")
    assert builds.count == 0  # the newest is one of them


def test_an_until_stage_is_a_role_of_the_filter_read_back(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    query = (
        'sequence by host.id [process where process.name == "a.exe"] [network where true]'
        ' until [process where process.name == "b.exe"]'
    )
    compiled = [compile_rule(Rule(rule_id="u", name="until", query=query))]
    built = cache_module.cached_replay_filter(compiled, "ecs")
    (join,) = built.joins
    assert UNTIL in join.roles
    _same(cache_module.cached_replay_filter(compiled, "ecs"), built)


def test_every_field_of_the_first_pass_is_read_back(
    corpus: list[CompiledRule], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def without_automaton(rules: list[CompiledRule], shape: Shape) -> ReplayFilter:
        built = replay_filter(rules, shape)
        return replace(built, first=replace(built.first, automaton=False))

    monkeypatch.setattr(cache_module, "replay_filter", without_automaton)
    built = cache_module.cached_replay_filter(corpus[:50], "ecs")
    read = cache_module.cached_replay_filter(corpus[:50], "ecs")
    assert read.first.automaton is False
    _same(read, built)
