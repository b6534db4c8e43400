"""The on-disk cache of parsed rule files: same rules, no parsing, never stale."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.detection import program
from connector.detection import rules as rules_module
from connector.detection.eql import parser
from connector.detection.rule_cache import RuleCache
from connector.detection.rules import load_rules
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "detection-rules-s1" / "rules"
SEED = Path(rules_module.__file__).parent.parent / "rules"


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("S1_CONNECTOR_CACHE_DIR", str(folder))
    return folder


def _forbid_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("a cached rule was parsed again")

    parser.PARSED.clear()
    program._CACHE.clear()
    monkeypatch.setattr(rules_module, "read_rule_file", refuse)
    monkeypatch.setattr(parser, "_parse", refuse)


def _forbid_compiling(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("a cached rule was compiled again")

    monkeypatch.setattr(program, "compile_query", refuse)


def test_a_second_load_reads_the_cache_and_gives_the_same_rules(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = load_rules(builtin=False, paths=[CORPUS])
    assert len(list(cache_dir.glob("rules-*.pickle"))) == 1
    from connector.detection.engine import Engine  # noqa: PLC0415

    fresh = Engine(first).compiled
    _forbid_parsing(monkeypatch)
    second = load_rules(builtin=False, paths=[CORPUS])
    assert second == first
    # The engine gets them compiled from the cache: no parsing, no code generation.
    _forbid_compiling(monkeypatch)
    cached = Engine(second).compiled
    assert [_shape(c) for c in cached] == [_shape(c) for c in fresh]


def _shape(compiled: program.CompiledRule) -> tuple[object, ...]:
    """Everything a compiled rule holds, its conditions as their source and fields."""
    stages = (*compiled.stages, *((compiled.until,) if compiled.until else ()))
    parts = [(s.category, s.keys, s.anchor, s.needles, s.condition.source, s.condition.fields)
             for s in stages]  # fmt: skip
    return (compiled.rule, compiled.query, compiled.order, compiled.maxspan_ms,
            compiled.sequence, compiled.fingerprint, parts)  # fmt: skip


def test_an_edited_rule_file_is_read_again(cache_dir: Path, tmp_path: Path) -> None:
    rule_file = tmp_path / "rule.toml"
    text = (SEED / "command_prompt_network_connection.toml").read_text(encoding="utf-8")
    rule_file.write_text(text, encoding="utf-8")
    before = load_rules(builtin=False, paths=[rule_file])[0]
    edited = text.replace(f'name = "{before.name}"', 'name = "Edited"', 1)
    assert edited != text
    rule_file.write_text(edited, encoding="utf-8")  # within the same clock tick
    assert load_rules(builtin=False, paths=[rule_file])[0].name == "Edited"


def test_a_broken_cache_file_is_ignored(cache_dir: Path) -> None:
    load_rules(builtin=True)
    (written,) = cache_dir.glob("rules-*.pickle")
    written.write_bytes(b"not a pickle")
    assert [r.name for r in load_rules(builtin=True)] == [r.name for r in load_rules()]
    assert RuleCache.open().entries  # rewritten after the broken one was ignored


def test_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("S1_CONNECTOR_CACHE_DIR", "off")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load_rules(builtin=True)
    assert RuleCache.open().path is None
    assert not any(tmp_path.iterdir())


def test_a_cached_matcher_compiles_its_regex_on_first_use() -> None:
    import pickle  # noqa: PLC0415

    from connector.detection.eql.patterns import StringMatcher  # noqa: PLC0415

    built = StringMatcher.wildcards(["*\\\\cmd?.exe", "power*shell*"], fold=True)
    assert built.regex is not None  # built from a rule: compiled (and so validated) at once
    read_back = pickle.loads(pickle.dumps(built))
    assert read_back.regex is None and read_back == built
    samples = ["C:\\Windows\\cmd1.exe", "PowerXShellY", "cmd.exe", "", "powershell"]
    assert [read_back.matches(s) for s in samples] == [built.matches(s) for s in samples]
    assert read_back.regex is not None and read_back.regex.pattern == built.regex.pattern


def test_a_run_unpickles_only_the_rules_it_loads(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pickle  # noqa: PLC0415

    from connector.detection.engine import Engine  # noqa: PLC0415

    Engine(load_rules(builtin=False, paths=[CORPUS]))  # caches 408 rules and their code
    Engine(load_rules(builtin=True))  # and the seed rule, in the same file
    loads = pickle.loads
    blobs: list[bytes] = []

    def counting(data: bytes) -> object:
        blobs.append(data)
        return loads(data)

    monkeypatch.setattr(pickle, "loads", counting)
    seed = load_rules(builtin=True)
    Engine(seed)
    assert len(seed) == 1
    assert 1 <= len(blobs) <= 4  # the seed's entry and its conditions' code, not 408 others'


def test_a_corrupt_entry_is_read_again_and_rewritten(cache_dir: Path) -> None:
    import pickle  # noqa: PLC0415

    first = load_rules(builtin=True)
    (written,) = cache_dir.glob("rules-*.pickle")
    with written.open("rb") as handle:
        index = pickle.load(handle)  # the index; the entries' bytes follow it
        start = handle.tell()
    ((path, (_, begin, end)),) = index["rules"].items()
    data = bytearray(written.read_bytes())
    middle = start + (begin + end) // 2
    data[middle : start + end] = bytes(start + end - middle)  # the entry's second half zeroed
    written.write_bytes(bytes(data))
    assert load_rules(builtin=True) == first
    assert RuleCache.open().get(Path(path)) == first[0]  # the entry was written anew


def test_the_cache_is_per_python_bytecode_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util  # noqa: PLC0415

    from connector.detection import rule_cache  # noqa: PLC0415

    before = rule_cache._code_key()
    monkeypatch.setattr(importlib.util, "MAGIC_NUMBER", b"\x00\x00\r\n")
    assert rule_cache._code_key() != before


def test_opening_the_cache_reads_only_its_index(cache_dir: Path) -> None:
    """With 409 rules cached, a one-rule run reads the bytes of its own entry only."""
    load_rules(builtin=False, paths=[CORPUS])
    (seed,) = load_rules(builtin=True)
    cache = RuleCache.open()
    assert len(cache.entries) == 409
    assert all(isinstance(blob, slice) for _, blob in cache.entries.values())  # not read
    (seed_file,) = rules_module.builtin_rule_files()
    assert cache.get(seed_file) == seed


def test_a_truncated_cache_file_is_ignored(cache_dir: Path) -> None:
    first = load_rules(builtin=True)
    (written,) = cache_dir.glob("rules-*.pickle")
    written.write_bytes(written.read_bytes()[:-10])
    assert not RuleCache.open().entries
    assert load_rules(builtin=True) == first
    assert RuleCache.open().entries  # written anew


def test_the_code_table_is_read_only_when_a_rule_is_compiled(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rule cached: the conditions' code table stays unread. A rule file edited (not
    its query): the table is read, and its conditions' code comes from it, not generated."""
    from connector.detection.eql import compiler  # noqa: PLC0415

    folder = tmp_path / "rules"
    folder.mkdir()
    for source in sorted((CORPUS / "windows").glob("*.toml"))[:3]:
        (folder / source.name).write_bytes(source.read_bytes())
    first = load_rules(builtin=False, paths=[folder])

    def forget() -> None:
        for memo in (compiler.STORED, compiler.GENERATED, program._CACHE, parser.PARSED):
            memo.clear()

    forget()
    assert load_rules(builtin=False, paths=[folder]) == first
    assert not compiler.STORED  # not read
    edited = sorted(folder.glob("*.toml"))[0]
    edited.write_bytes(edited.read_bytes() + b"\n# edited\n")
    forget()

    def refuse(condition: object) -> object:
        raise AssertionError("the code of a cached condition was generated again")

    monkeypatch.setattr(compiler, "_generate", refuse)
    assert load_rules(builtin=False, paths=[folder]) == first


def test_a_cache_written_again_keeps_the_code_it_held(cache_dir: Path) -> None:
    from connector.detection.eql import compiler  # noqa: PLC0415

    (seed,) = load_rules(builtin=True)
    compiler.STORED.clear()
    compiler.GENERATED.clear()
    held = RuleCache.open()
    held._read_generated()
    kept = dict(compiler.STORED)
    assert kept
    compiler.STORED.clear()
    cache = RuleCache.open()
    (seed_file,) = rules_module.builtin_rule_files()
    cache.put(seed_file, seed)  # changed, nothing compiled: the table was never read
    cache.save()
    compiler.STORED.clear()
    RuleCache.open()._read_generated()
    assert kept == compiler.STORED


SIGMAHQ = FIXTURES / "sigmahq-windows" / "rules"


def _sigma_files() -> list[Path]:
    """A few dozen SigmaHQ files: usable, skipped and correlation outcomes among them."""
    return rules_module.rule_files(False, [SIGMAHQ])[::40]


def test_sigma_rules_load_the_second_time_without_conversion_parsing_or_compiling(
    cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.detection.engine import Engine  # noqa: PLC0415
    from connector.detection.sigma import cache as sigma_cache  # noqa: PLC0415
    from connector.mapping import catalog  # noqa: PLC0415

    files = _sigma_files()
    first = load_rules(builtin=False, paths=files)
    assert len(first) > 20
    fresh = Engine(first).compiled
    _forbid_parsing(monkeypatch)
    _forbid_compiling(monkeypatch)

    def refuse(*args: object, **kwargs: object) -> object:
        raise AssertionError("a cached Sigma file was read from the conversion cache")

    monkeypatch.setattr(sigma_cache, "load_sigma_file", refuse)
    monkeypatch.setattr(catalog, "mapped_fields", refuse)
    second = load_rules(builtin=False, paths=files)
    assert second == first
    assert [_shape(c) for c in Engine(second).compiled] == [_shape(c) for c in fresh]


_SIGMA = """
title: NAME
id: 11111111-1111-1111-1111-111111111111
logsource: {category: process_creation, product: windows}
detection:
  sel: {Image|endswith: '\\\\cmd.exe'}
  condition: sel
"""


def test_an_edited_sigma_file_is_converted_again(cache_dir: Path, tmp_path: Path) -> None:
    rule_file = tmp_path / "rule.yml"
    rule_file.write_text(_SIGMA.replace("NAME", "before"), encoding="utf-8")
    assert load_rules(builtin=False, paths=[rule_file])[0].name == "before"
    rule_file.write_text(_SIGMA.replace("NAME", "after"), encoding="utf-8")
    (rule,) = load_rules(builtin=False, paths=[rule_file])
    assert rule.name == "after"
    from connector.detection.engine import Engine  # noqa: PLC0415

    assert Engine([rule]).compiled[0].rule == rule


def test_the_conversion_key_follows_the_mapping_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The catalog of mapped fields is not in the key, the code it comes from is."""
    import shutil  # noqa: PLC0415

    from connector.detection.sigma import cache as sigma_cache  # noqa: PLC0415

    rule_file = tmp_path / "rule.yml"
    data = _SIGMA.encode()
    before = sigma_cache.conversion_key(rule_file, data)
    copy = tmp_path / "connector"
    shutil.copytree(sigma_cache._CONNECTOR / "mapping", copy / "mapping")
    shutil.copy(sigma_cache._CONNECTOR / "ecsutil.py", copy / "ecsutil.py")
    monkeypatch.setattr(sigma_cache, "_CONNECTOR", copy)
    sigma_cache._mapping_digest.cache_clear()
    try:
        assert sigma_cache.conversion_key(rule_file, data) == before
        with (copy / "mapping" / "tables.py").open("a", encoding="utf-8") as handle:
            handle.write("\n# changed\n")
        sigma_cache._mapping_digest.cache_clear()
        assert sigma_cache.conversion_key(rule_file, data) != before
    finally:
        sigma_cache._mapping_digest.cache_clear()
