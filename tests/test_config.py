"""Config loading: the example file, every kind of invalid value, all errors together."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

import pytest

from connector.config import (
    FileOutputConfig,
    SyslogOutputConfig,
    WebhookOutputConfig,
    load_config,
    parse_config,
)
from connector.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def _problems(raw: Mapping[str, object], base: Path = Path("/etc/s1")) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw, base_dir=base)
    return info.value.problems


def test_example_config_loads_with_every_section() -> None:
    config = load_config(REPO / "config.example.toml")
    assert config.source.kind == "deep-visibility"
    assert config.console.min_query_interval == timedelta(seconds=60)
    assert config.poll.max_runtime == timedelta(minutes=4)
    assert config.poll.effective_overlap == timedelta(minutes=5)
    kinds = [type(o) for o in config.outputs]
    assert kinds == [WebhookOutputConfig, SyslogOutputConfig, FileOutputConfig]
    assert [o.name for o in config.outputs] == ["webhook-1", "syslog-2", "file-3"]
    assert config.state.path == (REPO / "s1-connector.db").resolve()


def test_defaults_without_any_section() -> None:
    config = parse_config({}, base_dir=Path("/srv"))
    assert config.poll.initial_lookback == timedelta(hours=1)
    assert config.poll.lag == timedelta(minutes=2)
    assert config.state.path == Path("/srv/s1-connector.db")
    assert config.rules.builtin is True
    assert config.outputs == []


def test_relative_paths_resolve_against_config_folder(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    file.write_text('[state]\npath = "data/x.db"\n[[outputs]]\ntype = "file"\npath = "a.jsonl"\n')
    config = load_config(file)
    assert config.state.path == tmp_path / "data" / "x.db"
    assert config.outputs[0].path == tmp_path / "a.jsonl"  # type: ignore[union-attr]


def test_stdout_path_is_kept() -> None:
    config = parse_config({"outputs": [{"type": "file", "path": "-"}]}, base_dir=Path("/x"))
    assert str(config.outputs[0].path) == "-"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"bogus": 1}, "bogus: unknown key"),
        ({"poll": {"lagg": "1m"}}, "poll.lagg: unknown key"),
        ({"poll": {"lag": "5 minutes"}}, "poll.lag: not a duration"),
        ({"poll": {"lag": 5}}, "poll.lag: durations are strings"),
        ({"poll": {"max_window": "0s"}}, "poll.max_window: must be longer than zero"),
        ({"source": {"kind": "kafka"}}, "source.kind: Input should be"),
        ({"console": {"url": "ftp://x"}}, "console.url: must be an http(s) URL"),
        ({"console": {"url": "http://console.example"}}, "console.url: plain http"),
        (
            {"console": {"verify_tls": "maybe"}},
            "console.verify_tls: Input should be a valid boolean",
        ),
        ({"console": {"query_limit": 0}}, "console.query_limit: Input should be greater than"),
        ({"outputs": [{"type": "pigeon"}]}, "outputs[0]: unknown output type 'pigeon'"),
        ({"outputs": [{"type": "syslog", "host": "h", "port": 70000}]}, "outputs[0].port: Input"),
        (
            {"outputs": [{"type": "syslog", "host": "h", "transport": "sctp"}]},
            "outputs[0].transport",
        ),
        ({"outputs": [{"type": "webhook"}]}, "outputs[0].url: Field required"),
        ({"outputs": [{"type": "webhook", "url": "http://x.example"}]}, "outputs[0].url: plain"),
        ({"source": {"kind": "cloud-funnel"}}, "needs cloud_funnel.location"),
    ],
)
def test_each_kind_of_invalid_value(raw: dict[str, object], expected: str) -> None:
    problems = _problems(raw)
    assert any(expected in p for p in problems), problems


def test_all_problems_reported_together_with_dotted_paths() -> None:
    raw = {
        "poll": {"lag": "x"},
        "console": {"timeout": "never"},
        "outputs": [
            {"type": "file", "path": "a"},
            {"type": "syslog", "host": "h", "port": 65536, "colour": "red"},
        ],
    }
    problems = _problems(raw)
    assert len(problems) == 4
    assert "outputs[1].port: Input should be less than 65536" in problems
    assert "outputs[1].colour: unknown key" in problems
    with pytest.raises(ConfigError) as info:
        parse_config(raw, base_dir=Path("/x"))
    assert "4 problem(s)" in str(info.value)
    assert "outputs[1].port" in str(info.value)


def test_duplicate_output_names_rejected() -> None:
    raw = {
        "outputs": [
            {"type": "file", "path": "a", "name": "x"},
            {"type": "file", "path": "b", "name": "x"},
        ]
    }
    assert any("unique" in p for p in _problems(raw))


def test_loopback_http_allowed_and_insecure_override() -> None:
    config = parse_config(
        {
            "console": {"url": "http://127.0.0.1:8787/"},
            "outputs": [
                {"type": "webhook", "url": "http://hooks.lan/x", "allow_insecure_http": True}
            ],
        },
        base_dir=Path("/x"),
    )
    assert config.console.url == "http://127.0.0.1:8787"


def test_syslog_defaults_follow_transport() -> None:
    config = parse_config(
        {
            "outputs": [
                {"type": "syslog", "host": "h", "transport": "udp"},
                {"type": "syslog", "host": "h"},
            ]
        },
        base_dir=Path("/x"),
    )
    udp, tls = config.outputs
    assert isinstance(udp, SyslogOutputConfig) and isinstance(tls, SyslogOutputConfig)
    assert (udp.effective_port, udp.effective_max_bytes) == (514, 1400)
    assert (tls.effective_port, tls.effective_max_bytes) == (6514, 8192)


def test_invalid_toml_names_the_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.toml"
    file.write_text("[poll]\nlag = \n")
    with pytest.raises(ConfigError) as info:
        load_config(file)
    assert "bad.toml" in str(info.value) and "line 2" in str(info.value)


def test_missing_file_is_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")
