"""The SQLite store: migrations, refusal of corrupt/foreign/newer stores, lock, outbox, seen ids."""

from __future__ import annotations

import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from connector.errors import LockHeld, StateError
from connector.state import SCHEMA_VERSION, RunLock, StateStore


@pytest.fixture
def store(tmp_path: Path):
    with StateStore.open(tmp_path / "s.db") as opened:
        yield opened


def test_new_store_is_private_wal_and_versioned(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore.open(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    version = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0]
    assert int(version) == SCHEMA_VERSION
    StateStore.open(path).close()  # reopening migrates nothing and keeps it usable


def test_garbage_file_is_a_clear_error_and_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StateError, match="unreadable or corrupt"):
        StateStore.open(path)
    assert path.read_bytes().startswith(b"this is not sqlite")


def test_foreign_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    sqlite3.connect(path).execute("CREATE TABLE other (x)")
    with pytest.raises(StateError, match="not an s1-connector state store"):
        StateStore.open(path)


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    StateStore.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match="schema version 99"):
        StateStore.open(path)


def test_corrupt_matcher_state_is_reported(store: StateStore) -> None:
    with store.transaction():
        store._conn.execute("INSERT INTO engine_state VALUES ('poll', '{broken', 0)")
    with pytest.raises(StateError, match="not valid JSON"):
        store.engine_state()


def test_lock_is_exclusive_and_released(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with RunLock(path), pytest.raises(LockHeld, match="previous run still active"):
        RunLock(path).acquire()
    RunLock(path).acquire().release()


def test_lock_freed_when_holder_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    code = (
        "import sys, time; from pathlib import Path; from connector.state import RunLock;"
        f"RunLock(Path({str(path)!r})).acquire(); print('locked', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld):
            RunLock(path).acquire()
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()
    RunLock(path).acquire().release()


def test_checkpoint_engine_state_and_kv(store: StateStore) -> None:
    assert store.checkpoint("dv") is None and store.engine_state() is None
    with store.transaction():
        store.set_checkpoint("dv", 123)
        store.save_engine_state({"version": 1, "x": [1, 2]})
        store.put("k", "v")
    assert store.checkpoint("dv") == 123
    assert store.engine_state() == {"version": 1, "x": [1, 2]}
    assert store.get("k") == "v"


def test_transaction_rolls_back_everything(store: StateStore) -> None:
    with pytest.raises(RuntimeError), store.transaction():
        store.set_checkpoint("dv", 5)
        store.enqueue("a1", {"hook": b"x"}, 1.0)
        raise RuntimeError("crash mid-window")
    assert store.checkpoint("dv") is None
    assert store.outbox_size() == 0


def test_seen_ids_dedup_and_prune(store: StateStore) -> None:
    with store.transaction():
        store.mark_seen([("e1", 100), ("e2", 200)])
    assert store.unseen(["e1", "e3", "e2", "e4"]) == {"e3", "e4"}
    with store.transaction():
        store.prune_seen(150)
    assert store.unseen(["e1", "e2"]) == {"e1"}
    many = [f"id{i}" for i in range(1200)]
    assert store.unseen(many) == set(many)


def test_outbox_lifecycle(store: StateStore) -> None:
    with store.transaction():
        assert store.enqueue("a1", {"hook": b"body-h", "sys": b"body-s"}, 10.0)
        assert not store.enqueue("a1", {"hook": b"other"}, 11.0)  # known: not re-queued
    assert [r.body for r in store.due("hook", 100.0)] == [b"body-h"]
    store.ack("a1", "hook", 20.0)
    assert store.due("hook", 100.0) == []
    assert store.known_alert("a1")
    with store.transaction():
        store.fail("a1", "sys", "connection refused", next_attempt_at=50.0, rejected=False)
    assert store.due("sys", 40.0) == []
    (row,) = store.due("sys", 60.0)
    assert (row.attempts, row.last_error, row.body) == (1, "connection refused", b"body-s")
    with store.transaction():
        store.fail("a1", "sys", "400 bad", next_attempt_at=0.0, rejected=True)
    assert store.due("sys", 1e12) == []
    assert store.outbox_summary()["sys"]["rejected"] == 1
    store.ack("a1", "sys", 70.0)
    assert sorted(store.delivered_ids()) == [("a1", "hook"), ("a1", "sys")]


def test_alert_without_outputs_is_remembered(store: StateStore) -> None:
    with store.transaction():
        assert store.enqueue("a2", {}, 1.0)
        assert not store.enqueue("a2", {}, 2.0)
    assert store.outbox_size() == 0


def test_runs_are_recorded(store: StateStore) -> None:
    store.record_run("poll", 1.0, 0, {"windows": 2})
    store.record_run("poll", 2.0, 3, {"windows": 1})
    last = store.last_run()
    assert last is not None and last["exit_code"] == 3 and last["summary"] == {"windows": 1}
    assert store.overview()["last_run"]["exit_code"] == 3
