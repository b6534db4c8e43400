"""The mapped-field catalog that `rules check` warns against is derived from the mapper itself."""

from __future__ import annotations

from connector.mapping.catalog import mapped_fields


def test_catalog_holds_what_the_seed_rule_and_common_rules_read() -> None:
    fields = mapped_fields()
    for name in (
        "@timestamp",
        "event.category",
        "event.type",
        "host.os.type",
        "process.name",
        "process.args",
        "process.command_line",
        "process.entity_id",
        "process.parent.name",
        "process.parent.entity_id",
        "destination.ip",
        "destination.port",
        "user.name",
        "user.domain",
        "file.path",
        "registry.path",
        "dns.question.name",
        "dns.resolved_ip",
    ):
        assert name in fields, name


def test_catalog_excludes_fields_no_s1_record_has() -> None:
    fields = mapped_fields()
    assert "process.working_directory" not in fields
    assert "winlog.event_data.IntegrityLevel" not in fields
    assert not any(name.startswith("sample") for name in fields)
