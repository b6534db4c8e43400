"""The Mapper front, skip reasons, shapes, roles and the cross-field rules."""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import pytest

from connector.mapping import (
    SKIP_REASONS,
    Mapper,
    Skip,
    detect_shape,
    normalise_event_type,
    rows_from_table,
    to_ecs,
)


def cf_process(**extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "event.time": 1763900000000,
        "event.id": "01J_1",
        "event.type": "Process Creation",
        "endpoint.name": "WKS-1",
        "agent.uuid": "a1",
        "tgt.process.uid": "TGT",
        "tgt.process.name": "cmd.exe",
        "src.process.uid": "SRC",
        "src.process.name": "explorer.exe",
    }
    record.update(extra)
    return record


def dv_connect(**extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": "42",
        "eventType": "IP Connect",
        "eventTime": "2025-11-23T12:13:20.000Z",
        "agentUuid": "a1",
        "srcProcUid": "TGT",
        "srcProcName": "cmd.exe",
        "dstIp": "8.8.8.8",
        "dstPort": 443,
        "netEventDirection": "OUTGOING",
    }
    record.update(extra)
    return record


def test_map_counts_and_returns_events() -> None:
    mapper = Mapper()
    event = mapper.map(cf_process())
    assert event is not None and event["process.name"] == "cmd.exe"
    assert mapper.map("not a record") is None
    assert mapper.map(cf_process(**{"event.id": None})) is None
    assert mapper.map(cf_process(**{"event.time": "soon"})) is None
    assert mapper.mapped == 1
    assert mapper.skipped == Counter(
        {"not_an_object": 1, "missing_event_id": 1, "bad_timestamp": 1}
    )
    assert mapper.as_dict()["mapped"] == 1


def test_each_skip_reason_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    mapper = Mapper()
    with caplog.at_level(logging.WARNING, logger="connector.mapping"):
        for _ in range(3):
            mapper.map([1, 2])
    assert mapper.skipped["not_an_object"] == 3
    assert len([r for r in caplog.records if "not_an_object" in r.getMessage()]) == 1


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ([], "not_an_object"),
        ("x", "not_an_object"),
        (None, "not_an_object"),
        ({"event.type": "IP Connect", "event.time": 1}, "missing_event_id"),
        ({"event.id": "x", "event.type": "IP Connect"}, "bad_timestamp"),
        ({"event.id": "x", "event.time": "null"}, "bad_timestamp"),
        ({"event.id": ["x"], "event.time": 1}, "missing_event_id"),
        ({"event.id": "null", "event.time": 1}, "missing_event_id"),
        ({"event.id": True, "event.time": 1}, "missing_event_id"),
        ({"event.id": "x", "event.time": True}, "bad_timestamp"),
        ({"event.id": "x", "event.time": {"ms": 1}}, "bad_timestamp"),
    ],
)
def test_skip_reasons(record: object, reason: str) -> None:
    assert to_ecs(record, "cloud-funnel") == Skip(reason)
    assert reason in SKIP_REASONS


def test_missing_id_is_checked_before_time() -> None:
    assert to_ecs({"event.type": "IP Connect"}, "cloud-funnel") == Skip("missing_event_id")


def test_dv_time_falls_back_to_created_at_only_when_absent() -> None:
    record = dv_connect(eventTime=None, createdAt="2022-01-24T18:49:35.296000Z")
    event = to_ecs(record, "dv")
    assert isinstance(event, dict) and event["@timestamp"] == "2022-01-24T18:49:35.296Z"
    assert to_ecs(dv_connect(eventTime="bad", createdAt="2022-01-24T18:49:35Z"), "dv") == Skip(
        "bad_timestamp"
    )


class ExplodingRecord(dict[str, Any]):
    """A mapping whose lookups fail: stands in for a bug below the record boundary."""

    def get(self, key: str, default: Any = None) -> Any:
        raise RuntimeError("boom")


def test_unexpected_errors_become_mapper_error() -> None:
    mapper = Mapper()
    assert mapper.map(ExplodingRecord(x=1), "cloud-funnel") is None
    assert mapper.skipped == Counter({"mapper_error": 1})


def test_an_unknown_shape_is_a_mapper_error() -> None:
    assert to_ecs(cf_process(), "xml") == Skip("mapper_error")  # type: ignore[arg-type]


def test_event_type_filter_uses_normalised_names() -> None:
    assert normalise_event_type(" IP  Connect ") == "ipconnect"
    mapper = Mapper(event_types=["ProcessCreation"])
    assert mapper.map(cf_process(**{"event.type": "process creation"})) is not None
    assert mapper.map(dv_connect()) is None
    assert mapper.skipped == Counter({"unsupported_event_type": 1})


def test_meta_event_name_marks_process_creation_when_type_is_absent() -> None:
    record = cf_process(**{"event.type": None, "meta.event.name": "PROCESSCREATION"})
    event = to_ecs(record, "cloud-funnel")
    assert isinstance(event, dict)
    assert event["event.category"] == ["process"] and event["event.action"] == "start"
    assert event["process.entity_id"] == "TGT"
    assert event["process.parent.entity_id"] == "SRC"


def test_unknown_type_without_category_is_still_an_event() -> None:
    event = to_ecs({"event.id": "1", "event.time": 5, "event.type": "New Thing"}, "cloud-funnel")
    assert event == {
        "@timestamp": "1970-01-01T00:00:00.005Z",
        "event.kind": "event",
        "event.id": "1",
        "event.type": ["info"],
        "sentinel_one.event.type": "New Thing",
    }


def test_creation_and_connection_share_the_entity_id() -> None:
    """A process's creation (target uid) and its later connections (source uid) join."""
    start = to_ecs(cf_process(), "cloud-funnel")
    connect = to_ecs(dv_connect(), "dv")
    assert isinstance(start, dict) and isinstance(connect, dict)
    assert start["process.entity_id"] == connect["process.entity_id"] == "TGT"
    assert connect["event.action"] == "connection_attempted"
    assert connect["network.direction"] == "egress"


@pytest.mark.parametrize(
    ("raw", "command_line", "args"),
    [
        ('"C:\\a b\\x.exe" "y"', 'C:\\a b\\x.exe" "y', ["C:\\a b\\x.exe", "y"]),
        ('"C:\\Program Files\\x.exe"', "C:\\Program Files\\x.exe", ["C:\\Program Files\\x.exe"]),
        ('""', None, [""]),
    ],
)
def test_quote_trim_positions(raw: str, command_line: str | None, args: list[str]) -> None:
    """§7.2: the text is trimmed in the two Elastic positions, args always split the raw value."""
    start = to_ecs(cf_process(**{"tgt.process.cmdline": raw, "src.process.cmdline": raw}), "pq")
    connect = to_ecs(
        dv_connect(srcProcCmdLine=raw, srcProcParentUid="P", srcProcParentCmdLine=raw), "dv"
    )
    assert isinstance(start, dict) and isinstance(connect, dict)
    assert start.get("process.command_line") == command_line
    assert connect.get("process.parent.command_line") == command_line
    assert start["process.parent.command_line"] == raw == connect["process.command_line"]
    for event, prefix in ((start, "process."), (connect, "process.parent.")):
        assert event[prefix + "args"] == args
        assert event[prefix + "args_count"] == len(args)


def test_dv_generation_is_chosen_per_role() -> None:
    record = dv_connect(
        processName="legacy.exe",
        pid="1",
        parentProcessName="legacy-parent.exe",
        parentProcessUniqueKey="LEGACYPARENT",
    )
    event = to_ecs(record, "dv")
    assert isinstance(event, dict)
    assert event["process.name"] == "cmd.exe"  # srcProcUid present: S1QL-era keys only
    assert "process.pid" not in event
    assert event["process.parent.name"] == "legacy-parent.exe"  # no srcProcParentUid
    assert event["process.parent.entity_id"] == "LEGACYPARENT"


def test_parent_equal_to_self_is_dropped_and_counted() -> None:
    bad: Counter[str] = Counter()
    event = to_ecs(dv_connect(srcProcParentUid="TGT"), "dv", bad=bad)
    assert isinstance(event, dict) and "process.parent.entity_id" not in event
    assert bad == Counter({"parent_equals_self": 1})


def test_bad_fields_are_dropped_one_by_one() -> None:
    mapper = Mapper()
    event = mapper.map(
        dv_connect(srcProcPid="12x", dstPort=-5, srcProcStartTime="later", dstIp="not-an-ip")
    )
    assert event is not None
    assert event["process.name"] == "cmd.exe"
    for field in ("process.pid", "destination.port", "process.start"):
        assert field not in event
    assert event["destination.ip"] == event["destination.address"] == "not-an-ip"
    assert mapper.bad_fields == Counter(
        {
            "bad_field:process.pid": 1,
            "bad_field:destination.port": 1,
            "bad_field:process.start": 1,
            "bad_field:destination.ip": 1,
        }
    )


def test_numbers_given_as_text_and_text_given_as_numbers() -> None:
    event = to_ecs(dv_connect(id=649568400931684352, srcProcPid="1188", dstPort="443"), "dv")
    assert isinstance(event, dict)
    assert event["event.id"] == "649568400931684352"
    assert event["process.pid"] == 1188 and event["destination.port"] == 443


def test_null_markers_are_absent() -> None:
    event = to_ecs(dv_connect(netProtocolName="null", srcProcCmdLine=""), "dv")
    assert isinstance(event, dict)
    assert "network.protocol" not in event and "process.command_line" not in event
    assert None not in event.values()


@pytest.mark.parametrize(
    ("record", "shape"),
    [
        ({"@timestamp": "x"}, "ecs"),
        ({"event": {"id": "1"}}, "ecs"),
        ({"event.time": 1}, "cloud-funnel"),
        ({"event.type": "IP Connect"}, "cloud-funnel"),
        ({"eventType": "IP Connect"}, "dv"),
        ({"id": "1"}, "dv"),
        ({"createdAt": "x"}, "dv"),
        ({}, "cloud-funnel"),
        ([1], "cloud-funnel"),
    ],
)
def test_detect_shape(record: object, shape: str) -> None:
    assert detect_shape(record) == shape


def test_ecs_shape_requires_id_and_time() -> None:
    assert to_ecs({"@timestamp": "2025-01-01T00:00:00Z"}, "ecs") == Skip("missing_event_id")
    assert to_ecs({"event.id": "1", "@timestamp": "x"}, "ecs") == Skip("bad_timestamp")
    assert to_ecs("x", "ecs") == Skip("not_an_object")


def test_rows_from_table_zips_columns() -> None:
    columns = [{"name": "event.id", "type": "string"}, {"name": "event.time"}]
    values = [["01J_1", 1763900000000], ["short"], "not-a-row", ("01J_2", 1763900000001)]
    rows = list(rows_from_table(columns, values))
    assert rows == [
        {"event.id": "01J_1", "event.time": 1763900000000},
        Skip("malformed_row"),
        Skip("malformed_row"),
        {"event.id": "01J_2", "event.time": 1763900000001},
    ]
    assert list(rows_from_table(["a", "b"], [[1, 2]])) == [{"a": 1, "b": 2}]
    assert list(rows_from_table([{"type": "x"}], [[1]])) == [Skip("malformed_row")]


def test_map_all_counts_table_skips() -> None:
    mapper = Mapper()
    rows = rows_from_table(["event.id", "event.time"], [["a", 1], ["b"]])
    events = list(mapper.map_all(("pq", row) if isinstance(row, dict) else row for row in rows))
    assert [event["event.id"] for event in events] == ["a"]
    assert mapper.skipped == Counter({"malformed_row": 1})
