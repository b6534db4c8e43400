"""Replay raises the cyclic collector's thresholds while it reads (the run frees its data by
reference counting; at the default thresholds the collector rescanned the growing candidate
buffer again and again), and leaves the collector as it found it."""

from __future__ import annotations

import gc
import importlib
import io
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from connector.config import Config
from tests.conftest import FIXTURES

replay_module = importlib.import_module("connector.runner.replay")


def _collections_while_reading(config: Config, path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    """How many collections ran inside replay's bulk window during one replay of `path`."""
    inside = [False]
    seen: list[int] = []
    bulk = replay_module._bulk_collection

    @contextmanager
    def watched() -> Iterator[None]:
        with bulk():
            inside[0] = True
            try:
                yield
            finally:
                inside[0] = False

    def spy(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and inside[0]:
            seen.append(info["generation"])

    monkeypatch.setattr(replay_module, "_bulk_collection", watched)
    gc.callbacks.append(spy)
    try:
        replay_module.replay(config, [path], "ecs", "alerts", io.StringIO())
    finally:
        gc.callbacks.remove(spy)
        monkeypatch.setattr(replay_module, "_bulk_collection", bulk)
    return len(seen)


def test_replay_collects_rarely_and_restores_the_collector(
    workload: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with workload["ecs"].open("rb") as handle:
        path = tmp_path / "events.ndjson"
        path.write_bytes(b"".join(islice(handle, 8000)))
    # The 408 Elastic rules: many candidates held until the end, as in a real back-fill.
    corpus = FIXTURES / "detection-rules-s1" / "rules"
    config = Config.model_validate({"rules": {"builtin": False, "paths": [str(corpus)]}})
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    bulk = _collections_while_reading(config, path, monkeypatch)
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)
    monkeypatch.setattr(replay_module, "_BULK_THRESHOLDS", thresholds)
    default = _collections_while_reading(config, path, monkeypatch)
    assert default >= 10, default  # the workload does make the default collector run
    assert bulk * 5 <= default, (bulk, default)


def test_replay_loads_its_rules_and_builds_its_filter_without_collecting(
    workload: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Set-up (rules from the cache, the replay filter) keeps millions of new objects and
    makes no cyclic garbage: the collector is off there, and what set-up made is frozen
    before the collector is on again (no collection scans it between set-up and the run);
    the collector is as before after."""
    with workload["ecs"].open("rb") as handle:
        path = tmp_path / "one.ndjson"
        path.write_bytes(next(handle))
    corpus = FIXTURES / "detection-rules-s1" / "rules"
    config = Config.model_validate({"rules": {"builtin": False, "paths": [str(corpus)]}})
    seen: list[bool] = []
    stage = ["set-up"]
    between: list[int] = []  # collections after set-up, before the run
    load, plan, bulk = (
        replay_module.load_configured_rules,
        replay_module._plan,
        replay_module._bulk_collection,
    )

    def load_spy(config: Config) -> Any:
        seen.append(gc.isenabled())
        return load(config)

    def plan_spy(detector: Any, shape: Any) -> Any:
        seen.append(gc.isenabled())
        built = plan(detector, shape)
        stage[0] = "between"
        return built

    @contextmanager
    def bulk_spy() -> Iterator[None]:
        stage[0] = "run"
        with bulk():
            yield

    def spy(phase: str, info: dict[str, Any]) -> None:
        if phase == "start" and stage[0] == "between":
            between.append(info["generation"])

    monkeypatch.setattr(replay_module, "load_configured_rules", load_spy)
    monkeypatch.setattr(replay_module, "_plan", plan_spy)
    monkeypatch.setattr(replay_module, "_bulk_collection", bulk_spy)
    thresholds, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert gc.isenabled()
    gc.callbacks.append(spy)
    try:
        replay_module.replay(config, [path], "ecs", "alerts", io.StringIO())
    finally:
        gc.callbacks.remove(spy)
    assert seen == [False, False]
    assert stage == ["run"] and between == []
    assert gc.isenabled()
    assert (gc.get_threshold(), gc.get_freeze_count()) == (thresholds, frozen)
