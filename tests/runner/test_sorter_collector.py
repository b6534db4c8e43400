"""`CandidateSorter` reads its spilled runs with the cyclic collector paused while a frame
is unpickled, and hands back the collector as it found it: the same candidates, in order."""

from __future__ import annotations

import gc
import io
import pickle
from collections.abc import Iterator
from typing import Any

import pytest

from connector.detection.engine import Candidate
from connector.runner.ordering import CandidateSorter


def _candidates(count: int) -> list[Candidate]:
    # Each event holds lists, so every pickle frame makes well over 700 fresh containers.
    return [
        ((float((n * 7919) % count), 0, 0, f"id-{n:05d}"),
         {"n": n, "event.category": ["process"], "event.type": ["start"], "args": [str(n)]},
         [(n % 5, 0)])
        for n in range(count)
    ]  # fmt: skip


@pytest.fixture
def collections_in_load(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Collections that ran inside `pickle.load` (by generation), at the default threshold."""
    inside: list[bool] = [False]
    seen: list[int] = []
    real_load = pickle.load

    def load(*args: Any, **kwargs: Any) -> Any:
        inside[0] = True
        try:
            return real_load(*args, **kwargs)
        finally:
            inside[0] = False

    def note(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and inside[0]:
            seen.append(info["generation"])

    threshold = gc.get_threshold()
    monkeypatch.setattr(pickle, "load", load)
    gc.set_threshold(700, 10, 10)
    gc.callbacks.append(note)
    try:
        yield seen
    finally:
        gc.callbacks.remove(note)
        gc.set_threshold(*threshold)


@pytest.mark.parametrize("enabled", [True, False])
def test_runs_are_read_with_the_collector_paused_and_restored(
    collections_in_load: list[int], enabled: bool
) -> None:
    items = _candidates(3000)
    was = gc.isenabled()
    (gc.enable if enabled else gc.disable)()
    try:
        with CandidateSorter(1000) as sorter:
            sorter.extend(items)
            assert len(sorter.runs) == 3
            out = []
            for candidate in sorter.sorted():
                assert gc.isenabled() is enabled, "the caller runs with its own setting"
                out.append(candidate)
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
    assert out == sorted(items, key=lambda item: item[0])
    assert collections_in_load == [], "no collection while a frame is unpickled"


def test_the_check_sees_collections_in_an_unpaused_load(collections_in_load: list[int]) -> None:
    """The fixture's own check: a plain load of the same frames does collect."""
    items = _candidates(3000)
    frames = [pickle.dumps(items[start : start + 256]) for start in range(0, 3000, 256)]
    loaded = [pickle.load(io.BytesIO(frame)) for frame in frames]
    assert sum(len(frame) for frame in loaded) == 3000
    assert collections_in_load, "unpickling this many containers triggers collections"
