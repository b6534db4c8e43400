"""`build_alert` gives, byte for byte, the document of the plain step-by-step form
(`alerts_reference.py`), for generated matches: any mix of fields, timestamps that are ISO,
epoch numbers, unusable or missing, network and non-network events, one to three events."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connector.alerts import build_alert, reason_line
from connector.detection.model import Match, Rule
from tests.outputs.alerts_reference import reason_line as reference_reason
from tests.outputs.alerts_reference import reference_alert
from tests.outputs.conftest import SEED_RULE, seed_match

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
