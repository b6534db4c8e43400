"""Reading Kibana exception-list exports: a real export loads; every kind of problem is
reported with its file and line; value lists come from a local export or are refused."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from connector import cli
from connector.detection.exception_files import load_exception_file, parse_exception_file
from connector.errors import ConfigError

DATA = Path(__file__).parent / "data" / "exceptions"

LIST = {
    "_version": "WzEsMV0=", "created_at": "2026-11-20T09:00:00.000Z", "created_by": "elastic",
    "description": "d", "id": "a1", "immutable": False, "list_id": "tuning", "name": "Tuning",
    "namespace_type": "single", "os_types": [], "tags": [], "tie_breaker_id": "t1",
    "type": "detection", "updated_at": "2026-11-20T09:00:00.000Z", "updated_by": "elastic",
    "version": 1,
}  # fmt: skip


def item(
    item_id: str = "i1", entries: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    entries = entries or [
        {
            "field": "process.parent.name",
            "operator": "included",
            "type": "match",
            "value": "WINWORD.EXE",
        }
    ]
    return {
        "_version": "WzIsMV0=", "comments": [], "created_at": "2026-11-20T09:01:00.000Z",
        "created_by": "elastic", "description": "d", "entries": entries, "id": f"id-{item_id}",
        "item_id": item_id, "list_id": "tuning", "name": item_id, "namespace_type": "single",
        "os_types": [], "tags": [], "tie_breaker_id": "t2", "type": "simple",
        "updated_at": "2026-11-20T09:01:00.000Z", "updated_by": "elastic", **extra,
    }  # fmt: skip


def summary(lists: int = 1, items: int = 1) -> dict[str, Any]:
    return {
        "exported_exception_list_count": lists, "exported_exception_list_item_count": items,
        "missing_exception_list_item_count": 0, "missing_exception_list_items": [],
        "missing_exception_lists": [], "missing_exception_lists_count": 0,
    }  # fmt: skip


def write(tmp_path: Path, *lines: Any) -> Path:
    path = tmp_path / "export.ndjson"
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    path.write_text(text + "\n", encoding="utf-8")
    return path


def problems(path: Path, value_lists: dict[str, Path] | None = None) -> list[str]:
    return [str(p) for p in parse_exception_file(path, value_lists or {}).problems]


def test_a_kibana_export_loads(tmp_path: Path) -> None:
    [loaded] = load_exception_file(DATA / "word_parent.ndjson")
    assert (loaded.list_id, loaded.type, len(loaded.items)) == ("office-parents", "detection", 1)
    test = loaded.items[0].test
    assert test({"process.parent.name": "WINWORD.EXE", "host.os.type": "windows"})
    # os_types = ["windows"]: the item applies to Windows hosts only, as in Kibana.
    assert not test({"process.parent.name": "WINWORD.EXE", "host.os.type": "linux"})


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([LIST, {**item(), "colour": "red"}, summary()], ":2: item: unknown field 'colour'"),
        ([{**LIST, "owner": "x"}, item(), summary()], ":1: exception list: unknown field 'owner'"),
        (
            [{**LIST, "type": "endpoint_blocklists"}, summary(0, 0)],
            ":1: exception list: type must be",
        ),
        ([LIST, item(tags="x"), summary()], ":2: item: tags must be a list of strings"),
        ([LIST, item(type="complex"), summary()], ':2: item: type must be "simple"'),
        (
            [LIST, {k: v for k, v in item().items() if k != "entries"}, summary()],
            "missing field 'entries'",
        ),
        (
            [
                LIST,
                item(entries=[{"field": "a", "operator": "is", "type": "match", "value": "x"}]),
                summary(),
            ],
            ":2: item 'i1': entries[0].operator must be included or excluded",
        ),
        (
            [
                LIST,
                item(
                    entries=[{"field": "a", "operator": "included", "type": "regex", "value": "x"}]
                ),
                summary(),
            ],
            ":2: item 'i1': entries[0].type must be one of",
        ),
        (
            [
                LIST,
                item(entries=[{"field": "a", "operator": "included", "type": "match", "value": 3}]),
                summary(),
            ],
            "entries[0].value must be a non-empty string",
        ),
        (
            [
                LIST,
                item(
                    entries=[
                        {"field": "a", "operator": "included", "type": "match_any", "value": "x"}
                    ]
                ),
                summary(),
            ],
            "entries[0].value must be a non-empty list of strings",
        ),
        (
            [
                LIST,
                item(
                    entries=[{"field": "a", "operator": "included", "type": "exists", "value": "x"}]
                ),
                summary(),
            ],
            "entries[0]: unknown field 'value'",
        ),
        (
            [
                LIST,
                item(
                    entries=[
                        {
                            "field": "p",
                            "type": "nested",
                            "entries": [
                                {
                                    "field": "a",
                                    "operator": "included",
                                    "type": "wildcard",
                                    "value": "x",
                                }
                            ],
                        }
                    ]
                ),
                summary(),
            ],
            "entries[0].entries[0].type must be one of match, match_any, exists",
        ),
        (
            [
                LIST,
                item(
                    entries=[
                        {
                            "field": "process.name.text",
                            "operator": "included",
                            "type": "match",
                            "value": "x",
                        }
                    ]
                ),
                summary(),
            ],
            "analyzed .text sub-fields are not supported",
        ),
        (
            [LIST, {**item(), "list_id": "other"}, summary()],
            ":2: item of list 'other', which is not in this file",
        ),
        ([LIST, item(), summary(1, 2)], ":3: the summary counts 1 list(s) and 2 item(s)"),
        ([LIST, item()], "no export summary line"),
        ([LIST, "{not json", item(), summary()], ":2: not JSON"),
        ([LIST, item(), summary(), item("late")], ":4: a line after the export summary"),
        (
            [{"rule_id": "r"}, summary(0, 0)],
            ":1: neither an exception list, an item nor the export summary",
        ),
    ],
)
def test_problems_name_the_file_and_line(tmp_path: Path, lines: list[Any], expected: str) -> None:
    path = write(tmp_path, *lines)
    found = problems(path)
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(path)) for p in found)
    with pytest.raises(ConfigError):
        load_exception_file(path)


def test_every_problem_is_reported_not_only_the_first(tmp_path: Path) -> None:
    path = write(tmp_path, {**LIST, "owner": 1}, {**item(), "colour": 1}, summary())
    found = problems(path)
    assert any(":1:" in p for p in found) and any(":2:" in p for p in found)


def test_value_list_entries_read_the_local_export(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("WKS-0001\nWKS-0002\n\n", encoding="utf-8")  # Kibana's export: a value a line
    entry = {
        "field": "host.name",
        "operator": "included",
        "type": "list",
        "list": {"id": "hosts.txt", "type": "keyword"},
    }
    path = write(tmp_path, LIST, item(entries=[entry]), summary())
    [loaded] = load_exception_file(path, {"hosts.txt": hosts})
    assert loaded.items[0].test({"host.name": "WKS-0002"})
    assert not loaded.items[0].test({"host.name": "WKS-0003"})


def test_value_list_without_a_local_copy_is_refused_clearly(tmp_path: Path) -> None:
    entry = {
        "field": "host.name",
        "operator": "included",
        "type": "list",
        "list": {"id": "hosts.txt", "type": "keyword"},
    }
    path = write(tmp_path, LIST, item(entries=[entry]), summary())
    [problem] = problems(path)
    assert f"{path}:2:" in problem and "'hosts.txt' has no local copy" in problem
    assert "[[rules.value_lists]]" in problem


def test_text_value_lists_are_refused(tmp_path: Path) -> None:
    entry = {
        "field": "message",
        "operator": "included",
        "type": "list",
        "list": {"id": "t", "type": "text"},
    }
    [problem] = problems(write(tmp_path, LIST, item(entries=[entry]), summary()))
    assert "list.type 'text' is not supported" in problem


def test_expired_items_are_not_applied(tmp_path: Path) -> None:
    path = write(
        tmp_path, LIST, item("old", expire_time="2026-01-01T00:00:00.000Z"),
        item("new", expire_time="2027-01-01T00:00:00.000Z"), summary(1, 2),
    )  # fmt: skip
    [loaded] = load_exception_file(path, now=datetime(2026, 6, 1, tzinfo=UTC))
    assert [i.item_id for i in loaded.items] == ["new"] and loaded.expired == 1


def test_rules_check_validates_exception_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, LIST, {**item(), "colour": "red"}, summary())
    good = DATA / "word_parent.ndjson"
    config = tmp_path / "s1-connector.toml"
    config.write_text(
        f'[[rules.exceptions]]\nfile = "{bad.name}"\nrules = ["*"]\n'
        f'[[rules.exceptions]]\nfile = "{good}"\nrules = ["*"]\n',
        encoding="utf-8",
    )
    code = cli.run(["--config", str(config), "rules", "check"])
    out = capsys.readouterr().out
    assert code == 78
    assert f"ERROR  {bad}:2: item: unknown field 'colour'" in out
    assert f"ok     {good}: 1 exception list(s), 1 item(s)" in out
    assert "2 exception files: 1 ok, 1 errors" in out


def test_rules_check_takes_an_export_as_a_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no config file: only the given export is checked
    code = cli.run(["rules", "check", str(DATA / "word_parent.ndjson")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "1 exception files: 1 ok, 0 errors" in out


def test_rules_check_warns_of_lists_a_rule_references_but_nobody_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builtin = Path(cli.__file__).parent / "rules" / "command_prompt_network_connection.toml"
    rule = tmp_path / "rules" / "r.toml"
    rule.parent.mkdir()
    rule.write_text(
        builtin.read_text(encoding="utf-8").replace('rule_id = "89f9', 'rule_id = "copy-89f9')
        + '\n[[rule.exceptions_list]]\nid = "x"\nlist_id = "approved-admins"\n'
        + 'namespace_type = "single"\ntype = "detection"\n',
        encoding="utf-8",
    )
    config = tmp_path / "s1-connector.toml"
    config.write_text(
        f'[rules]\npaths = ["rules"]\n[[rules.exceptions]]\n'
        f'file = "{DATA / "word_parent.ndjson"}"\nrules = ["*"]\n',
        encoding="utf-8",
    )
    code = cli.run(["--config", str(config), "rules", "check"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "warn   " in out and "'approved-admins' (single) is not loaded" in out


def test_check_reports_an_unusable_export(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = write(tmp_path, LIST, {**item(), "colour": "red"}, summary())
    config = tmp_path / "s1-connector.toml"
    config.write_text(
        f'[source]\nkind = "cloud-funnel"\n[cloud_funnel]\nlocation = "{tmp_path}"\n'
        f'[[rules.exceptions]]\nfile = "{bad.name}"\nrules = ["*"]\n',
        encoding="utf-8",
    )
    assert cli.run(["--config", str(config), "check"]) == 78
    out = capsys.readouterr().out
    assert f"tuning: FAILED — {bad}: 1 problem(s)" in out
    assert f"{bad}:2: item: unknown field 'colour'" in out
    bad.write_text(DATA.joinpath("word_parent.ndjson").read_text(encoding="utf-8"))
    cli.run(["--config", str(config), "check"])
    out = capsys.readouterr().out
    assert "tuning: 1 exception list(s), 1 rule(s) with exceptions, 0 with alert suppression" in out
