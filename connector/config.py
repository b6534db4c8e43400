"""The TOML configuration, validated once into typed, frozen objects.

`load_config(path)` reads the file and reports **every** problem at once, each with its dotted
key path (`outputs[1].port: Input should be less than 65536`). Unknown keys are errors.
Durations are strings (`"30s"`, `"5m"`); relative paths resolve against the config file's folder.
After loading nothing downstream reads a raw dict.
"""

from __future__ import annotations

import ipaddress
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connector.errors import ConfigError
from connector.timeutil import parse_duration

__all__ = [
    "CloudFunnelConfig",
    "Config",
    "ConsoleConfig",
    "ExceptionsConfig",
    "FileOutputConfig",
    "OutputConfig",
    "PollConfig",
    "RulesConfig",
    "SuppressConfig",
    "SyslogOutputConfig",
    "ValueListConfig",
    "WebhookOutputConfig",
    "default_config",
    "is_loopback_host",
    "is_loopback_url",
    "load_config",
    "parse_config",
]


def _duration(value: object) -> object:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError("durations are strings with a unit, e.g. '30s' or '5m'")
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
    base = (info.context or {}).get("base_dir")
    if base is not None and not value.is_absolute() and str(value) != "-":
        return (Path(base) / value).resolve()
    return value


def _optional_path(value: object) -> object:
    return None if value == "" else value


Duration = Annotated[timedelta, BeforeValidator(_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
ConfigPath = Annotated[Path, AfterValidator(_resolve_path)]
OptionalPath = Annotated[ConfigPath | None, BeforeValidator(_optional_path)]


def is_loopback_url(url: str) -> bool:
    """True when the URL's host is `localhost` or a loopback address (127.0.0.0/8, ::1)."""
    return is_loopback_host(urlsplit(url).hostname or "")


def is_loopback_host(host: str) -> bool:
    """True for `localhost` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: str, allow_insecure_http: bool) -> str:
    """Accept https, or http only to loopback unless explicitly allowed."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) URL with a host")
    if parts.scheme == "http" and not (allow_insecure_http or is_loopback_url(url)):
        raise ValueError(
            "plain http is allowed only to loopback; use https or set allow_insecure_http = true"
        )
    return url.rstrip("/")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SourceConfig(_Section):
    kind: Literal["deep-visibility", "sdl", "cloud-funnel"] = "deep-visibility"


class ConsoleConfig(_Section):
    """How to reach the SentinelOne console (Deep Visibility and SDL sources)."""

    allow_insecure_http: bool = False
    url: str = ""
    token_file: OptionalPath = None
    account_ids: list[str] = Field(default_factory=list, max_length=500)
    site_ids: list[str] = Field(default_factory=list, max_length=500)
    verify_tls: bool = True
    ca_bundle: OptionalPath = None
    timeout: PositiveDuration = timedelta(seconds=30)
    min_query_interval: Duration = timedelta(seconds=60)
    query_timeout: PositiveDuration = timedelta(minutes=10)
    query_limit: int = Field(default=20000, ge=1, le=100000)
    sdl_limit: int = Field(default=5000, ge=1, le=100000)
    # LOW: SentinelOne's own LRQ client uses it and notes its more generous rate limits.
    sdl_query_priority: Literal["LOW", "HIGH"] = "LOW"
    sdl_query_type: Literal["LOG", "PQ"] = "LOG"
    # No public source states the longest query a console takes; above these sizes the
    # pushdown is widened in superset-preserving steps (connector/sources/pushdown_widen.py).
    max_s1ql_length: int = Field(default=10000, ge=200)
    max_sdl_filter_length: int = Field(default=10000, ge=200)
    min_window: PositiveDuration = timedelta(seconds=1)
    max_retries: int = Field(default=5, ge=0, le=20)

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str, info: ValidationInfo) -> str:
        return check_url(value, info.data.get("allow_insecure_http", False)) if value else value


class CloudFunnelConfig(_Section):
    location: str = ""
    prefix: str = "s1/cloud_funnel"
    rescan: Duration = timedelta(days=1)
    keys_sort_by_time: bool = False

    @field_validator("location")
    @classmethod
    def _location(cls, value: str, info: ValidationInfo) -> str:
        if not value or value.startswith("s3://"):
            return value
        return str(_resolve_path(Path(value), info))


class ExceptionsConfig(_Section):
    """`[[rules.exceptions]]`: a Kibana exception-list export and the rules it applies to."""

    file: ConfigPath
    rules: list[str] = Field(min_length=1)


class ValueListConfig(_Section):
    """`[[rules.value_lists]]`: the local copy of a Kibana value list (its export file)."""

    id: str = Field(min_length=1)
    file: ConfigPath


class SuppressConfig(_Section):
    """`[[rules.suppress]]`: alert suppression for rules one does not own (empty group_by: off)."""

    rules: list[str] = Field(min_length=1)
    group_by: list[str] = Field(default_factory=list, max_length=10)
    duration: PositiveDuration | None = None
    missing_fields_strategy: Literal["suppress", "doNotSuppress"] = "suppress"


class RulesConfig(_Section):
    builtin: bool = True
    paths: list[ConfigPath] = Field(default_factory=list)
    disabled: list[str] = Field(default_factory=list)
    exceptions: list[ExceptionsConfig] = Field(default_factory=list)
    value_lists: list[ValueListConfig] = Field(default_factory=list)
    suppress: list[SuppressConfig] = Field(default_factory=list)


class PollConfig(_Section):
    initial_lookback: PositiveDuration = timedelta(hours=1)
    lag: Duration = timedelta(minutes=2)
    max_window: PositiveDuration = timedelta(hours=1)
    allowed_lateness: Duration = timedelta(minutes=5)
    agent_idle: PositiveDuration = timedelta(days=7)
    overlap: Duration | None = None
    max_runtime: PositiveDuration = timedelta(minutes=4)
    delivery_backoff: Duration = timedelta(minutes=1)

    @property
    def effective_overlap(self) -> timedelta:
        """`overlap` when set, else `allowed_lateness`."""
        return self.allowed_lateness if self.overlap is None else self.overlap


class StateConfig(_Section):
    path: ConfigPath = Path("s1-connector.db")


class _OutputBase(_Section):
    name: str = ""
    enabled: bool = True


class WebhookOutputConfig(_OutputBase):
    type: Literal["webhook"]
    allow_insecure_http: bool = False
    url: str
    secret_env: str = ""
    template: Literal["ecs", "slack", "teams"] = "ecs"
    signature: Literal["standard", "github", "stripe"] = "standard"
    headers: dict[str, str] = Field(default_factory=dict)
    verify_tls: bool = True
    ca_bundle: OptionalPath = None
    timeout: PositiveDuration = timedelta(seconds=15)
    max_retry_time: Duration = timedelta(minutes=2)

    @field_validator("url")
    @classmethod
    def _url_scheme(cls, value: str, info: ValidationInfo) -> str:
        return check_url(value, info.data.get("allow_insecure_http", False))


_DEFAULT_SYSLOG_PORT = {"udp": 514, "tcp": 514, "tls": 6514}


class SyslogOutputConfig(_OutputBase):
    type: Literal["syslog"]
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, lt=65536)
    transport: Literal["udp", "tcp", "tls"] = "tls"
    format: Literal["rfc5424", "rfc3164"] = "rfc5424"
    payload: Literal["json", "cef", "leef"] = "json"
    document: Literal["compact", "full"] = "compact"  # what a JSON payload carries
    framing: Literal["octet", "lf"] = "octet"
    facility: int = Field(default=16, ge=0, le=23)
    app_name: str = "s1-connector"
    sd_id: str = "alert@32473"
    bom: bool = False
    max_message_bytes: int | None = Field(default=None, ge=480, le=1_000_000)
    oversize: Literal["shrink", "reject"] = "shrink"
    verify_tls: bool = True
    ca_bundle: OptionalPath = None
    client_cert: OptionalPath = None
    client_key: OptionalPath = None
    server_name: str = ""
    timeout: PositiveDuration = timedelta(seconds=10)

    @property
    def effective_port(self) -> int:
        return self.port or _DEFAULT_SYSLOG_PORT[self.transport]

    @property
    def effective_max_bytes(self) -> int:
        """The size cap: explicit, else per transport: UDP 1024 for RFC 3164 (its limit) and
        1400 for RFC 5424 (one Ethernet frame); TCP/TLS 8192 (rsyslog's default maximum)."""
        if self.max_message_bytes is not None:
            return self.max_message_bytes
        if self.transport == "udp":
            return 1024 if self.format == "rfc3164" else 1400
        return 8192


class FileOutputConfig(_OutputBase):
    type: Literal["file"]
    path: ConfigPath


OutputConfig = Annotated[
    WebhookOutputConfig | SyslogOutputConfig | FileOutputConfig, Field(discriminator="type")
]


class MetricsConfig(_Section):
    textfile: OptionalPath = None


class HeartbeatConfig(_Section):
    url: str = ""


class Config(_Section):
    """The whole configuration. Every section has documented defaults."""

    source: SourceConfig = SourceConfig()
    console: ConsoleConfig = ConsoleConfig()
    cloud_funnel: CloudFunnelConfig = CloudFunnelConfig()
    rules: RulesConfig = RulesConfig()
    poll: PollConfig = PollConfig()
    state: StateConfig = StateConfig()
    outputs: list[OutputConfig] = Field(default_factory=list)
    metrics: MetricsConfig = MetricsConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _every_section(cls, data: Any) -> Any:
        # A missing section must still be validated (with the config folder as context), so
        # that its default relative paths resolve like written ones.
        if isinstance(data, dict):
            sections = (
                "source",
                "console",
                "cloud_funnel",
                "rules",
                "poll",
                "state",
                "metrics",
                "heartbeat",
            )
            return {**{name: {} for name in sections}, **data}
        return data

    @model_validator(mode="after")
    def _name_outputs(self) -> Config:
        named = []
        for index, output in enumerate(self.outputs):
            named.append(
                output
                if output.name
                else output.model_copy(update={"name": f"{output.type}-{index + 1}"})
            )
        names = [o.name for o in named]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"output names must be unique: {', '.join(duplicates)}")
        object.__setattr__(self, "outputs", named)
        return self

    @model_validator(mode="after")
    def _source_needs(self) -> Config:
        if self.source.kind == "cloud-funnel" and not self.cloud_funnel.location:
            raise ValueError("source.kind = 'cloud-funnel' needs cloud_funnel.location")
        return self


def default_config() -> Config:
    """The configuration used when no file exists (replay, `rules list`)."""
    return Config()


def load_config(path: Path) -> Config:
    """Read and validate a TOML config; raise ConfigError listing every problem."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"config file not found: {path}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return parse_config(raw, base_dir=path.parent.resolve(), source=path)


def parse_config(raw: Mapping[str, Any], base_dir: Path, source: Path | None = None) -> Config:
    """Validate a decoded TOML document; relative paths resolve against `base_dir`."""
    try:
        config = Config.model_validate(raw, context={"base_dir": base_dir})
    except ValidationError as exc:
        problems = [_describe(error) for error in exc.errors()]
        where = str(source) if source else "configuration"
        raise ConfigError(f"{where}: {len(problems)} problem(s)", problems) from None
    return config.model_copy(update={"path": source})


def _describe(error: Any) -> str:
    location = _dotted(tuple(error["loc"]))
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key"
    elif error["type"] in ("union_tag_not_found", "union_tag_invalid"):
        found = error.get("ctx", {}).get("tag")
        what = f"unknown output type {found!r}" if found is not None else "missing key 'type'"
        message = f'{what}: each [[outputs]] needs type = "webhook", "syslog" or "file"'
    return f"{location}: {message}" if location else message


_OUTPUT_TAGS = {"webhook", "syslog", "file"}


def _dotted(loc: tuple[Any, ...]) -> str:
    """`('outputs', 1, 'syslog', 'port')` → `outputs[1].port` (drops the union tag)."""
    out = ""
    previous: Any = None
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(previous, int) and part in _OUTPUT_TAGS and out.startswith("outputs"):
            pass
        else:
            out += f".{part}" if out else str(part)
        previous = part
    return out
