"""Each exception entry type and operator against a table of Elasticsearch outcomes.

Where the expectations come from (public sources, checked with the search tool):

* Kibana's exception filter builder (`build_exception_filter`, elastic/kibana:
  packages/kbn-securitysolution-list-utils/src/build_exception_filter/index.ts, later moved
  into the security solution server) turns `match` into `match_phrase`, `match_any` into a
  `bool.should` of `match_phrase`, `wildcard` into a `wildcard` query, `exists` into
  `exists`, `nested` into a `nested` query over the path, `list` into `terms` (ip_range lists:
  `range` gte/lte for `a-b` values), `excluded` into `bool.must_not` of the same clause; the
  entries of an item are `bool.filter` (AND), the items are `should` (OR), and the filter is
  negated. `os_types` adds `host.os.type` (or `host.os.name.caseless`) = the OS.
* Elasticsearch: a keyword field is not analyzed, so `match_phrase` is an exact, case-sensitive
  comparison; any value of a multi-valued field may match; `must_not` holds for a document that
  lacks the field. The wildcard query's `case_insensitive` defaults to false ("the case
  sensitivity of matching depends on the underlying field's mapping"); a keyword with a
  lowercase normalizer (Elastic Endpoint's `.caseless` sub-fields) matches case-insensitively,
  wildcard queries included (elastic/elasticsearch#28894). The `exists` query counts `""` and
  `[null, "foo"]` as existing and `null` / `[]` as missing. A `term`/`match_phrase` on an `ip`
  field accepts a CIDR block.
"""

from __future__ import annotations

from typing import Any

import pytest

from connector.detection.exceptions import ValueList, compile_entry

WORD = {"process.parent.name": "WINWORD.EXE", "host.os.type": "windows"}
MULTI = {"process.args": ["cmd.exe", "/c", "run.bat"]}
NET = {"destination.ip": "10.1.2.3", "destination.port": 443, "network.transport": "tcp"}
BOOL = {"process.code_signature.trusted": True}
EMPTY = {"user.name": "", "file.name": None, "dll.name": [], "process.env_vars": [None, "X=1"]}
NESTED = {
    "process.Ext.code_signature": [
        {"subject_name": "Microsoft Windows", "trusted": True},
        {"subject_name": "Evil Corp", "trusted": False},
    ]
}
FLAT_NESTED = {
    "file.Ext.code_signature.subject_name": "Acme",
    "file.Ext.code_signature.trusted": True,
}


def match(field: str, value: str, operator: str = "included") -> dict[str, Any]:
    return {"field": field, "operator": operator, "type": "match", "value": value}


def match_any(field: str, values: list[str], operator: str = "included") -> dict[str, Any]:
    return {"field": field, "operator": operator, "type": "match_any", "value": values}


def wildcard(field: str, value: str, operator: str = "included") -> dict[str, Any]:
    return {"field": field, "operator": operator, "type": "wildcard", "value": value}


def exists(field: str, operator: str = "included") -> dict[str, Any]:
    return {"field": field, "operator": operator, "type": "exists"}


def value_list(field: str, list_id: str, kind: str, operator: str = "included") -> dict[str, Any]:
    return {
        "field": field,
        "operator": operator,
        "type": "list",
        "list": {"id": list_id, "type": kind},
    }


def nested(path: str, *entries: dict[str, Any]) -> dict[str, Any]:
    return {"field": path, "type": "nested", "entries": list(entries)}


LISTS = {
    "hosts": ValueList("hosts", "keyword", ("WKS-0001", "WKS-0002")),
    "nets": ValueList("nets", "ip", ("10.0.0.0/8", "192.168.1.10")),
    "ranges": ValueList("ranges", "ip_range", ("10.1.2.0-10.1.2.9", "172.16.0.0/12")),
}

# (entry, event, does the entry hold?) — one row per Elasticsearch outcome we rely on.
TABLE: list[tuple[str, dict[str, Any], dict[str, Any], bool]] = [
    # match: exact, case-sensitive on keyword fields
    ("match exact", match("process.parent.name", "WINWORD.EXE"), WORD, True),
    ("match is case-sensitive", match("process.parent.name", "winword.exe"), WORD, False),
    ("match is not a substring", match("process.parent.name", "WINWORD"), WORD, False),
    ("match missing field", match("process.parent.name", "WINWORD.EXE"), NET, False),
    ("match any value of an array", match("process.args", "/c"), MULTI, True),
    (
        "match excluded, other value",
        match("process.parent.name", "EXCEL.EXE", "excluded"),
        WORD,
        True,
    ),
    (
        "match excluded, same value",
        match("process.parent.name", "WINWORD.EXE", "excluded"),
        WORD,
        False,
    ),
    ("match excluded, field missing", match("process.parent.name", "X", "excluded"), NET, True),
    ("match excluded, one array value", match("process.args", "/c", "excluded"), MULTI, False),
    ("match number field", match("destination.port", "443"), NET, True),
    ("match number field, other", match("destination.port", "80"), NET, False),
    ("match boolean field", match("process.code_signature.trusted", "true"), BOOL, True),
    ("match boolean field, false", match("process.code_signature.trusted", "false"), BOOL, False),
    ("match ip field, address", match("destination.ip", "10.1.2.3"), NET, True),
    ("match ip field, CIDR", match("destination.ip", "10.0.0.0/8"), NET, True),
    ("match ip field, other CIDR", match("destination.ip", "192.168.0.0/16"), NET, False),
    (
        "match .caseless is case-insensitive",
        match("process.parent.name.caseless", "winword.exe"),
        WORD,
        True,
    ),
    (
        "match .keyword reads the field",
        match("process.parent.name.keyword", "WINWORD.EXE"),
        WORD,
        True,
    ),
    ("match empty string value", match("user.name", "x"), EMPTY, False),
    # match_any: OR of match_phrase
    (
        "match_any one of",
        match_any("process.parent.name", ["EXCEL.EXE", "WINWORD.EXE"]),
        WORD,
        True,
    ),
    (
        "match_any none of",
        match_any("process.parent.name", ["EXCEL.EXE", "winword.exe"]),
        WORD,
        False,
    ),
    (
        "match_any excluded, none of",
        match_any("process.parent.name", ["EXCEL.EXE"], "excluded"),
        WORD,
        True,
    ),
    (
        "match_any excluded, one of",
        match_any("process.parent.name", ["WINWORD.EXE"], "excluded"),
        WORD,
        False,
    ),
    (
        "match_any excluded, field missing",
        match_any("user.id", ["S-1-5-18"], "excluded"),
        WORD,
        True,
    ),
    ("match_any array field", match_any("process.args", ["run.bat", "x"]), MULTI, True),
    # wildcard: * and ?, whole value, case-sensitive
    ("wildcard star", wildcard("process.parent.name", "WIN*.EXE"), WORD, True),
    ("wildcard question mark", wildcard("process.parent.name", "WINWOR?.EXE"), WORD, True),
    ("wildcard is anchored", wildcard("process.parent.name", "WIN*"), WORD, True),
    ("wildcard must cover the whole value", wildcard("process.parent.name", "WORD*"), WORD, False),
    ("wildcard is case-sensitive", wildcard("process.parent.name", "win*.exe"), WORD, False),
    ("wildcard .caseless", wildcard("process.parent.name.caseless", "win*.exe"), WORD, True),
    (
        "wildcard escaped star is literal",
        wildcard("process.parent.name", "WINWORD\\*"),
        WORD,
        False,
    ),
    ("wildcard excluded", wildcard("process.parent.name", "EXCEL*", "excluded"), WORD, True),
    (
        "wildcard excluded, matching",
        wildcard("process.parent.name", "*WORD*", "excluded"),
        WORD,
        False,
    ),
    ("wildcard over an array", wildcard("process.args", "*.bat"), MULTI, True),
    ("wildcard missing field", wildcard("file.path", "*"), WORD, False),
    # exists
    ("exists present", exists("process.parent.name"), WORD, True),
    ("exists absent", exists("process.parent.name"), NET, False),
    ("exists empty string counts", exists("user.name"), EMPTY, True),
    ("exists null is missing", exists("file.name"), EMPTY, False),
    ("exists empty array is missing", exists("dll.name"), EMPTY, False),
    ("exists [null, value] counts", exists("process.env_vars"), EMPTY, True),
    ("exists object field", exists("process.parent"), WORD, True),
    ("exists excluded, absent", exists("process.parent.name", "excluded"), NET, True),
    ("exists excluded, present", exists("process.parent.name", "excluded"), WORD, False),
    # value lists
    (
        "list keyword member",
        value_list("host.name", "hosts", "keyword"),
        {"host.name": "WKS-0002"},
        True,
    ),
    (
        "list keyword case-sensitive",
        value_list("host.name", "hosts", "keyword"),
        {"host.name": "wks-0002"},
        False,
    ),
    (
        "list keyword excluded",
        value_list("host.name", "hosts", "keyword", "excluded"),
        {"host.name": "WKS-9"},
        True,
    ),
    ("list ip CIDR", value_list("destination.ip", "nets", "ip"), NET, True),
    (
        "list ip no member",
        value_list("destination.ip", "nets", "ip"),
        {"destination.ip": "8.8.8.8"},
        False,
    ),
    ("list ip_range a-b", value_list("destination.ip", "ranges", "ip_range"), NET, True),
    (
        "list ip_range outside",
        value_list("destination.ip", "ranges", "ip_range"),
        {"destination.ip": "10.1.2.10"},
        False,
    ),
    (
        "list ip_range CIDR",
        value_list("destination.ip", "ranges", "ip_range"),
        {"destination.ip": "172.20.1.1"},
        True,
    ),
    # nested: all inner entries on ONE object of the array
    (
        "nested same object",
        nested(
            "process.Ext.code_signature",
            match("subject_name", "Evil Corp"),
            match("trusted", "false"),
        ),
        NESTED,
        True,
    ),
    (
        "nested across objects does not match",
        nested(
            "process.Ext.code_signature",
            match("subject_name", "Evil Corp"),
            match("trusted", "true"),
        ),
        NESTED,
        False,
    ),
    (
        "nested excluded inner entry",
        nested(
            "process.Ext.code_signature", match("subject_name", "Microsoft Windows", "excluded")
        ),
        NESTED,
        True,
    ),
    ("nested exists inner", nested("process.Ext.code_signature", exists("trusted")), NESTED, True),
    ("nested path missing", nested("process.Ext.code_signature", exists("trusted")), WORD, False),
    (
        "nested from flat keys",
        nested("file.Ext.code_signature", match("subject_name", "Acme"), match("trusted", "true")),
        FLAT_NESTED,
        True,
    ),
]


@pytest.mark.parametrize(
    ("entry", "event", "expected"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_entry_against_elasticsearch_table(
    entry: dict[str, Any], event: dict[str, Any], expected: bool
) -> None:
    assert compile_entry(entry, LISTS)(event) is expected


def test_the_table_covers_every_entry_type_and_operator() -> None:
    seen = {(row[1]["type"], row[1].get("operator", "-")) for row in TABLE}
    for kind in ("match", "match_any", "wildcard", "exists", "list"):
        assert {(kind, "included"), (kind, "excluded")} <= seen, kind
    assert ("nested", "-") in seen
