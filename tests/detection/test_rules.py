"""Rule files: the bundled seed rule, folders, disabled and non-EQL rules, broken files."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from connector.detection.rules import builtin_rule_files, load_rules, parse_rule_file
from connector.errors import RuleError
from tests.conftest import FIXTURES, SHARED
from tests.detection.seed import SEED_RULE_ID

RULE = """\
[metadata]
creation_date = "2026/01/01"
version = 3

[rule]
name = "{name}"
rule_id = "{rule_id}"
type = "{type}"
language = "{type}"
risk_score = 47
severity = "medium"
query = '''
process where
  process.name {op} "x"
'''

[[rule.threat]]
framework = "MITRE ATT&CK"
"""


def write(
    folder: Path, name: str, *, rule_id: str = "r1", type_: str = "eql", op: str = "=="
) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(RULE.format(name=name, rule_id=rule_id, type=type_, op=op), encoding="utf-8")
    return path


def test_builtin_seed_rule_metadata() -> None:
    (rule,) = load_rules(builtin=True)
    assert rule.rule_id == SEED_RULE_ID
    assert rule.name == "Suspicious Command Prompt Network Connection"
    assert (rule.risk_score, rule.severity, rule.version) == (21, "low", "1")
    tactics = [t["tactic"]["id"] for t in rule.threat]
    techniques = [tech["id"] for t in rule.threat for tech in t["technique"]]
    subs = [
        s["id"]
        for t in rule.threat
        for tech in t["technique"]
        for s in tech.get("subtechnique", [])
    ]
    assert tactics == ["TA0002", "TA0011"]
    assert techniques == ["T1059", "T1071", "T1105"]
    assert subs == ["T1059.003"]
    assert rule.source.endswith("command_prompt_network_connection.toml")


def test_seed_rule_query_is_verbatim() -> None:
    reference = (SHARED / "reference" / "detection.md").read_text(encoding="utf-8")
    query = reference.split("```")[1]
    (rule,) = load_rules(builtin=True)
    assert rule.query.strip() == query.strip()
    assert [p.name for p in builtin_rule_files()] == ["command_prompt_network_connection.toml"]


def test_folder_is_searched_recursively(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path, "a", rule_id="r1")
    write(tmp_path / "sub", "b", rule_id="r2")
    rules = load_rules(builtin=False, paths=[tmp_path])
    assert [r.rule_id for r in rules] == ["r1", "r2"]
    assert rules[0].version == "3"
    assert rules[0].risk_score == 47


def test_disabled_rules_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a", rule_id="r1")
    write(tmp_path, "b", rule_id="r2")
    assert [r.rule_id for r in load_rules(False, [tmp_path], disabled={"r1"})] == ["r2"]
    assert load_rules(True, disabled={SEED_RULE_ID}) == []


def test_non_eql_rules_are_skipped_with_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write(tmp_path, "kql", type_="query")
    with caplog.at_level(logging.INFO):
        assert load_rules(builtin=False, paths=[tmp_path]) == []
    assert "is not EQL" in caplog.text


def test_query_error_points_into_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "bad", op="=")
    with pytest.raises(RuleError) as caught:
        parse_rule_file(path)
    error = caught.value
    assert error.source == str(path)
    assert (error.line, error.column) == (14, 16)
    assert path.read_text().splitlines()[13] == '  process.name = "x"'
    assert "use == for equality" in str(error)


def test_unsupported_construct_is_named_with_position(tmp_path: Path) -> None:
    path = tmp_path / "lineage.toml"
    path.write_text(
        RULE.format(name="n", rule_id="r", type="eql", op="==").replace(
            '  process.name == "x"', "  descendant of [process where true]"
        )
    )
    with pytest.raises(RuleError, match="lineage `descendant of` is not supported") as caught:
        load_rules(builtin=False, paths=[path])
    assert (caught.value.line, caught.value.column) == (14, 3)


def test_broken_toml_names_file_line_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text('[rule]\nname = "x\n')
    with pytest.raises(RuleError) as caught:
        parse_rule_file(path)
    assert caught.value.source == str(path)
    assert caught.value.line == 2
    assert "invalid TOML" in caught.value.message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('name = "x"', r"no \[rule\] table"),
        ('[rule]\nname = "x"\ntype = "eql"\n', "lacks rule_id, query"),
        (
            '[rule]\nname = "x"\nrule_id = "r"\ntype = "eql"\n'
            'query = "any where true"\nrisk_score = "hi"\n',
            "risk_score",
        ),
    ],
)
def test_incomplete_rule_files(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    with pytest.raises(RuleError, match=problem):
        parse_rule_file(path)


def test_duplicate_rule_id_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a", rule_id="same")
    write(tmp_path, "b", rule_id="same")
    with pytest.raises(RuleError, match="duplicate rule_id same"):
        load_rules(builtin=False, paths=[tmp_path])


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuleError, match="does not exist"):
        load_rules(builtin=False, paths=[tmp_path / "nope"])


def test_rule_files_are_found_and_ordered_as_by_rglob(tmp_path: Path) -> None:
    """`rule_files` walks folders with `scandir`; it finds and orders what
    `sorted(rglob("*"))` filtered by suffix and `is_file()` finds, links and odd names too."""
    from connector.detection.rules import rule_files  # noqa: PLC0415

    root = tmp_path / "rules"
    outside = tmp_path / "outside"
    names = ("a.toml", "B.TOML", ".hidden.yml", ".yml", "x.yml.", "noext", "a-b/c.yml",
             "a/b.yml", "a/b/c.YAML", "dir.yml/y.toml", "z/z/z/deep.yaml", "a.b/x.yml")  # fmt: skip
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("x", encoding="utf-8")
    (outside / "o").mkdir(parents=True)
    (outside / "o" / "z.toml").write_text("x", encoding="utf-8")
    (outside / "f.yml").write_text("x", encoding="utf-8")
    (root / "link-dir").symlink_to(outside / "o", target_is_directory=True)
    (root / "link-file.toml").symlink_to(outside / "f.yml")
    (root / "dangling.yml").symlink_to(tmp_path / "missing.yml")
    suffixes = (".toml", ".yml", ".yaml")
    for folder in (root, FIXTURES / "sigmahq-windows" / "rules", FIXTURES / "detection-rules-s1"):
        expected = sorted(
            p for p in folder.rglob("*") if p.suffix.lower() in suffixes and p.is_file()
        )
        assert rule_files(False, [folder]) == expected
    found = [p.relative_to(root).as_posix() for p in rule_files(False, [root])]
    assert "link-file.toml" in found and "link-dir/z.toml" not in found
    assert ".hidden.yml" in found and "dangling.yml" not in found and ".yml" not in found
