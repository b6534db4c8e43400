"""Replay's two passes (`sources/replay_filter.py`) change what is read, never what is found:
the 408 Elastic rules over the benchmark workload, in input order and shuffled, give the
same alerts as reading every line, and the second pass does read lines."""

from __future__ import annotations

import importlib
import io
import json
import logging
import random
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from connector.config import Config
from connector.sources import forked_lines, ndjson
from connector.sources.base import Shape
from connector.sources.query import Prefilter
from connector.sources.replay_filter import ReplayFilter, replay_filter
from tests.conftest import FIXTURES

CORPUS = FIXTURES / "detection-rules-s1" / "rules"
LINES = 8000
# The module, not the function `connector.runner.replay` that the package exports.
replay_module = importlib.import_module("connector.runner.replay")


def _alerts(config: Config, path: Path, shape: Shape) -> list[tuple[str, tuple[str, ...]]]:
    sink = io.StringIO()
    replay_module.replay(config, [path], shape, "alerts", sink)
    found = []
    for line in sink.getvalue().splitlines():
        alert: dict[str, Any] = json.loads(line)
        events = alert.get("sequence", {}).get("events") or [alert]
        found.append((alert["rule"]["id"], tuple(str(e["event"]["id"]) for e in events)))
    return sorted(found)


def _sample(source: Path, target: Path, order: str, shape: Shape) -> Path:
    with source.open("rb") as handle:
        lines = list(islice(handle, LINES))
    if shape == "ecs":  # a root match of a rule whose later stage only the second pass reads
        lines.extend(_psexec_lines("psexec-in-workload", 10**9, 100))
    if order == "shuffled":
        random.Random(7).shuffle(lines)
    target.write_bytes(b"".join(lines))
    return target


@pytest.mark.parametrize("order", ["sorted", "shuffled"])
# With Cloud Funnel lines one pass takes every line (see below): no line is chosen, no fork.
@pytest.mark.parametrize(
    ("shape", "reader"),
    [("ecs", "in-process"), ("ecs", "forked"), ("cloud-funnel", "in-process")],
)
def test_two_passes_find_what_reading_every_line_finds(
    workload: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    shape: Shape,
    order: str,
    reader: str,
) -> None:
    """`reader`: the passes choose their lines in this process, or in a forked one
    (`sources/forked_lines.py`, as replay does for a big file on a machine with two cores)."""
    config = Config.model_validate({"rules": {"builtin": False, "paths": [str(CORPUS)]}})
    path = _sample(workload[shape], tmp_path / f"{shape}.ndjson", order, shape)
    # Every line, no prefilter at all: the reference.
    monkeypatch.setattr(
        replay_module, "_plan", lambda detector, shape: ReplayFilter(Prefilter.everything(), ())
    )
    reference = _alerts(config, path, shape)
    monkeypatch.undo()
    # The two passes, with the prefilter never switched off for a dense file (so the
    # workload, where most lines hold some needle, exercises both passes).
    monkeypatch.setattr(ndjson, "DENSE", 1.01)
    forks = _reader(monkeypatch, reader)
    with caplog.at_level(logging.INFO, logger="connector.runner.replay"):
        found = _alerts(config, path, shape)
    assert found == reference
    assert len(forks) == (2 if reader == "forked" else 0)  # the first and the second pass
    assert len({rule for rule, _ in found}) >= 3, "the workload must make several rules fire"
    messages = caplog.text
    if shape == "ecs":  # CF lines: not every stage has needles there, one pass takes all
        assert "second pass" in messages
        assert "dropped (no root match" in messages


def _reader(monkeypatch: pytest.MonkeyPatch, reader: str) -> list[None]:
    """Where the passes choose their lines; the list grows by one per forked file pass."""
    forks: list[None] = []
    real = forked_lines.forked_lines

    def counted(*args: Any) -> Any:
        forks.append(None)
        return real(*args)

    monkeypatch.setattr(forked_lines, "forked_lines", counted)
    monkeypatch.setattr(forked_lines, "FORK_FROM", 0 if reader == "forked" else 1 << 62)
    monkeypatch.setattr(forked_lines, "can_fork", lambda: True)
    return forks


def test_every_corpus_rule_has_a_first_pass_test_on_ecs_lines() -> None:
    """With ECS lines (every field under its own name), every root stage of the 408 rules
    has needles (field names and unselective values as a last resort): the first pass can
    skip lines; and the broad later stages of sequences are read by join value."""
    from connector.detection.program import compile_rule  # noqa: PLC0415
    from connector.detection.rules import load_rules  # noqa: PLC0415

    compiled = [compile_rule(rule) for rule in load_rules(builtin=False, paths=[CORPUS])]
    plan = replay_filter(compiled, "ecs")
    assert not plan.first.passes_everything
    joined = [spec for spec in plan.joins if spec.by_value]
    names = {compiled[spec.rule].rule.name for spec in joined}
    assert "PsExec Network Connection" in names  # [network where host.os.type == "windows"]
    # The root is the stage with selective needles (the GenAI parents' names), not the
    # network stage whose best needles are a field name and `"connection_attempted"`.
    genai = [s for s in joined if compiled[s.rule].rule.name.startswith("GenAI Process")]
    assert [s.root for s in genai] == [0]
    # The seed rule's second stage has its own needle (`cmd.exe`): read in the first pass.
    seed = [c for c in compiled if c.rule.rule_id == "89f9a4b0-9f8f-4ee0-8823-c4751a6d6696"]
    assert seed and seed[0].rule.name not in names


def _ecs(event_id: int, ms: int, **fields: Any) -> bytes:
    base = {
        "@timestamp": f"2025-11-23T12:00:{ms // 1000:02d}.{ms % 1000:03d}Z",
        "event.id": str(event_id),
        "host.id": "h1",
        "host.os.type": "windows",
    }
    return json.dumps({**base, **fields}).encode() + b"\n"


def _psexec_lines(entity: str, first_id: int, ms: int) -> list[bytes]:
    start = {
        "event.category": ["process"],
        "event.type": ["start"],
        "process.name": "PsExec.exe",
        "process.args": ["PsExec.exe", "-accepteula", "\\\\host", "cmd"],
        "process.executable": "C:\\Tools\\PsExec.exe",
        "process.entity_id": entity,
    }
    connect = {
        "event.category": ["network"],
        "event.type": ["start"],
        "process.name": "PsExec.exe",
        "process.entity_id": entity,
        "destination.ip": "10.1.2.3",
    }
    return [_ecs(first_id, ms, **start), _ecs(first_id + 1, ms + 500, **connect)]


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_the_second_pass_reads_the_later_stage_of_a_root_match(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, order: str
) -> None:
    """PsExec Network Connection: `[process where ... PsExec ... -accepteula]` then
    `[network where host.os.type == "windows"]` by process.entity_id. The network line holds
    no needle of the first pass; the second pass takes it by its entity id, and only it among
    hundreds of other network lines; the alert is the one reading every line gives."""
    network = {"event.category": ["network"], "event.type": ["start"]}
    noise = [
        _ecs(1000 + i, 2000 + i * 10, **network, **{"process.entity_id": f"noise-{i}"})
        for i in range(400)
    ]
    lines = [*_psexec_lines("psexec-entity-1", 1, 100), *noise]
    if order == "reversed":
        lines.reverse()
    path = tmp_path / "events.ndjson"
    path.write_bytes(b"".join(lines))
    rules = tmp_path / "rules"
    rules.mkdir()
    source = CORPUS / "windows" / "execution_psexec_lateral_movement_command.toml"
    (rules / source.name).write_bytes(source.read_bytes())
    config = Config.model_validate({"rules": {"builtin": False, "paths": [str(rules)]}})
    with caplog.at_level(logging.INFO, logger="connector.runner.replay"):
        found = _alerts(config, path, "ecs")
    assert found == [("55d551c6-333b-4665-ab7e-5d14a59715ce", ("1", "2"))]
    assert "1 more line(s) read" in caplog.text
