"""Suppression updates in the outbox: a new version of an alert goes out under the alert's id
without disturbing the dedup of the alert itself."""

from __future__ import annotations

from pathlib import Path

from connector.state import StateStore


def queued(store: StateStore, output: str = "hook") -> list[str]:
    return [row.alert_id for row in store.due(output, now=1e12)]


def test_updates_are_their_own_rows_and_the_newest_supersedes(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.db") as store:
        with store.transaction():
            assert store.enqueue("a1", {"hook": b"v0"}, 1.0)
            assert not store.enqueue("a1", {"hook": b"v0"}, 1.0)  # the alert's dedup is intact
            assert store.enqueue_update("a1", 1, {"hook": b"v1"}, 2.0)
            assert not store.enqueue_update("a1", 1, {"hook": b"v1"}, 2.0)  # a re-done window
        assert queued(store) == ["a1", "a1/u1"]
        with store.transaction():
            assert store.enqueue_update("a1", 3, {"hook": b"v3"}, 3.0)
        assert queued(store) == ["a1", "a1/u3"]  # the older update, still queued, is dropped
        [row] = [r for r in store.due("hook", 1e12) if r.alert_id == "a1/u3"]
        assert row.body == b"v3"
        store.ack("a1/u3", "hook", 4.0)
        with store.transaction():
            assert not store.enqueue_update("a1", 3, {"hook": b"v3"}, 5.0)  # already delivered
            assert store.enqueue_update("a1", 4, {"hook": b"v4"}, 5.0)
        assert queued(store) == ["a1", "a1/u4"]


def test_superseding_never_touches_another_alerts_rows(tmp_path: Path) -> None:
    with StateStore.open(tmp_path / "s.db") as store, store.transaction():
        store.enqueue("a1", {"hook": b"x"}, 1.0)
        store.enqueue_update("ab", 1, {"hook": b"y"}, 1.0)
        store.enqueue_update("a1", 1, {"hook": b"z"}, 2.0)
        store.enqueue_update("a1", 2, {"hook": b"z"}, 3.0)
        store.enqueue_update("a_", 1, {"hook": b"w"}, 4.0)  # `_` is no LIKE wildcard here
    with StateStore.open(tmp_path / "s.db") as store:
        assert queued(store) == ["a1", "ab/u1", "a1/u2", "a_/u1"]
