"""`build_alert` gives, byte for byte, the document of the plain step-by-step form
(`alerts_reference.py`), for generated matches: any mix of fields, timestamps that are ISO,
epoch numbers, unusable or missing, network and non-network events, one to three events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector import alerts
from connector.alerts import _copy, alert_id, build_alert, reason_line
from connector.detection.model import Match, Rule
from connector.timeutil import format_utc, to_datetime
from tests.outputs.alerts_reference import alert_id as reference_id
from tests.outputs.alerts_reference import reason_line as reference_reason
from tests.outputs.alerts_reference import reference_alert
from tests.outputs.conftest import SEED_RULE, seed_match


class _StrSub(str):
    """A string of another type (JSON writes it as a string)."""


_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), _TEXT, st.floats(allow_nan=False))
_VALUE = st.one_of(_SCALAR, st.lists(_SCALAR, max_size=3))
_FIELDS = st.sampled_from(
    [
        "host.name", "host.id", "user.name", "process.name", "process.command_line",
        "process.parent.name", "process.args", "event.type", "event.category", "event.id",
        "destination.ip", "destination.address", "destination.port", "source.ip",
        "network.direction", "sentinel_one.site.id", "sentinel_one.account.id",
        "sentinel_one.tgt.process.storyline.id", "sentinel_one.src.process.storyline.id",
        "file.path", "registry.path",
    ]
)  # fmt: skip
_TIMESTAMP = st.one_of(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ).map(lambda moment: moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
    st.integers(min_value=0, max_value=2**42),
    st.sampled_from(["", "not a time", "2026-02-30T00:00:00Z", "1700000000123"]),
)
_EVENT = st.builds(
    lambda fields, stamp, network: {
        **({"@timestamp": stamp} if stamp is not None else {}),
        **fields,
        **({"event.category": ["network"]} if network else {}),
    },
    st.dictionaries(_FIELDS, _VALUE, max_size=10),
    st.one_of(st.none(), _TIMESTAMP),
    st.booleans(),
)
_RULE = st.builds(
    lambda description, threat, tags, references, author: Rule(
        rule_id="r-1", name="Rule\nname", query="any where true", description=description,
        threat=threat, tags=tags, references=references, author=author,
    ),
    _TEXT,
    st.sampled_from([(), SEED_RULE.threat]),
    st.lists(_TEXT, max_size=2).map(tuple),
    st.lists(_TEXT, max_size=2).map(tuple),
    _TEXT,
)  # fmt: skip
_CREATED = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2100, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=45))]),
)


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


@settings(max_examples=400, deadline=None)
@given(
    rule=_RULE,
    events=st.lists(_EVENT, min_size=1, max_size=3).map(tuple),
    join_key=st.lists(_SCALAR, max_size=2).map(tuple),
    created=_CREATED,
    console=st.sampled_from(["", "https://example.sentinelone.net/"]),
)
def test_build_alert_is_byte_identical_to_the_reference(
    rule: Rule, events: tuple[dict[str, Any], ...], join_key: tuple[Any, ...],
    created: datetime, console: str,
) -> None:  # fmt: skip
    match = Match(rule, events, join_key)
    expected = _text(reference_alert(match, created=created, console_url=console))
    assert _text(build_alert(match, created=created, console_url=console)) == expected
    assert _text(build_alert(match, created=created, console_url=console)) == expected, "again"
    assert reason_line(match) == reference_reason(match)


def test_the_seed_alert_is_byte_identical_to_the_reference() -> None:
    created = datetime(2026, 11, 20, 10, 15, 2, 125000, tzinfo=UTC)
    match = seed_match()
    assert _text(build_alert(match, created=created)) == _text(
        reference_alert(match, created=created)
    )


_ID_PART = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8"), max_size=8),
    st.text(alphabet=st.characters(), max_size=4),  # lone surrogates too
    _SCALAR,
    st.builds(_StrSub, st.text(max_size=4)),
)


@settings(max_examples=400, deadline=None)
@given(
    rule_id=st.one_of(st.text(max_size=8), st.builds(_StrSub, st.text(max_size=4))),
    join_key=st.lists(_ID_PART, max_size=3).map(tuple),
    ids=st.lists(st.one_of(st.none(), _ID_PART), min_size=1, max_size=3),
)
def test_the_alert_id_is_the_reference_id(
    rule_id: str, join_key: tuple[Any, ...], ids: list[Any]
) -> None:
    rule = Rule(rule_id=rule_id, name="r", query="any where true")
    events = tuple({"event.id": value, "n": n} for n, value in enumerate(ids))
    match = Match(rule, events, join_key)
    assert alert_id(match) == reference_id(match)


def _typed(value: Any) -> Any:
    """The value with every type spelled out (tuple vs list, 1 vs 1.0 vs True, key order)."""
    if isinstance(value, dict):
        return (type(value), [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value), [_typed(item) for item in value])
    return (type(value), repr(value))


def _containers(value: Any) -> list[int]:
    """The ids of the mutable containers inside `value` (tuples may be shared: immutable)."""
    if isinstance(value, dict):
        return [id(value), *(i for item in value.values() for i in _containers(item))]
    if isinstance(value, list):
        return [id(value), *(i for item in value for i in _containers(item))]
    if isinstance(value, tuple):
        return [i for item in value for i in _containers(item)]
    return []


_THREAT_SCALAR = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(), st.text(alphabet=st.characters(), max_size=4), st.builds(_StrSub, st.text()),
)  # fmt: skip
_THREAT_VALUE = st.recursive(
    _THREAT_SCALAR,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=2).map(tuple),
        st.dictionaries(st.text(max_size=3), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(threat=st.lists(st.dictionaries(st.text(max_size=3), _THREAT_VALUE, max_size=3), max_size=3))
def test_the_alert_threat_is_a_fresh_exact_copy_of_the_rule_threat(
    threat: list[dict[str, Any]],
) -> None:
    rule = Rule(rule_id="r", name="r", query="any where true", threat=tuple(threat))
    match = Match(rule, ({"event.id": "1"},))
    created = datetime(2026, 12, 3, tzinfo=UTC)
    first = build_alert(match, created=created)["threat"]
    second = build_alert(match, created=created)["threat"]
    assert _typed(first) == _typed(second) == _typed([_copy(entry) for entry in threat])
    shared = set(_containers(rule.threat)) | set(_containers(first))
    assert not set(_containers(first)) & set(_containers(rule.threat))
    assert not set(_containers(second)) & shared


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -0.0, 2**64, -(2**63) - 1, (1, 2.0), _StrSub("x"), "\ud800",
     {1: "a"}, {"k": [1, {"n": None}]}, True, 1e16],
)  # fmt: skip
def test_odd_threat_values_are_copied_exactly(value: Any) -> None:
    threat = ({"v": value, "l": [value]},)
    rule = Rule(rule_id="r", name="r", query="any where true", threat=threat)
    doc = build_alert(Match(rule, ({"event.id": "1"},)), created=datetime(2026, 12, 3, tzinfo=UTC))
    assert _typed(doc["threat"]) == _typed([_copy(entry) for entry in threat])


def test_a_threat_json_gives_back_exactly_is_copied_from_json() -> None:
    rule = Rule(rule_id="r", name="r", query="any where true", threat=SEED_RULE.threat)
    match = Match(rule, ({"event.id": "1"},))
    doc = build_alert(match, created=datetime(2026, 12, 3, tzinfo=UTC))
    assert _typed(doc["threat"]) == _typed([_copy(entry) for entry in SEED_RULE.threat])
    assert alerts._THREATS[id(rule.threat)][1] is not None
    odd = Rule(rule_id="r", name="r", query="any where true", threat=({"a": (1, 2.0)},))
    build_alert(Match(odd, ({"event.id": "1"},)), created=datetime(2026, 12, 3, tzinfo=UTC))
    assert alerts._THREATS[id(odd.threat)][1] is None


_CANONICAL = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31)).map(
    lambda d: (
        f"{d.year:04d}-{d.month:02d}-{d.day:02d}T{d.hour:02d}:{d.minute:02d}:"
        f"{d.second:02d}.{d.microsecond // 1000:03d}Z"
    )
)
_TWEAKS = st.sampled_from(
    [
        lambda s: s,
        lambda s: s.replace("T", " "),
        lambda s: s.replace("T", "t"),
        lambda s: s[:-1] + "z",
        lambda s: s[:-1] + "+00:00",
        lambda s: s[:-1] + "+01:00",
        lambda s: s[:-2] + "Z",
        lambda s: s[:-1] + "4Z",
        lambda s: s[:-5] + "Z",
        lambda s: s.replace("1", "\u0661").replace("2", "\u0662"),
        lambda s: s.replace("0", "\u0966"),
        lambda s: " " + s,
    ]
)
_STAMP = st.builds(lambda text, tweak: tweak(text), _CANONICAL, _TWEAKS)


@settings(max_examples=1000, deadline=None)
@given(value=_STAMP | st.integers(min_value=0, max_value=2**42) | st.text(max_size=30))
def test_a_time_already_in_the_alert_form_is_kept_as_it_is(value: Any) -> None:
    moment = to_datetime(value)
    expected = format_utc(moment) if moment is not None else None
    assert alerts._utc_text(value, moment) == expected
