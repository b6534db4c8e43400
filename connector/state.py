"""The SQLite state store: checkpoints, matcher state, seen event ids, outbox, deliveries, runs.

One file, WAL mode, `synchronous=FULL`, mode 0600, schema versioned in `meta`. Every update
of one poll window happens in one `BEGIN IMMEDIATE` transaction (`store.transaction()`), so a
crash leaves either the whole window recorded or none of it. A corrupt file, a file that is
not ours, or one written by a newer version is a `StateError` (exit 78) — never silently
recreated, because restarting from `initial_lookback` would lose or repeat alerts.

The lock is separate: `RunLock` takes `flock(LOCK_EX | LOCK_NB)` on `<path>.lock` (a file that
is never replaced), so a second run fails at once with `LockHeld` (exit 75) and the kernel
frees the lock even after `kill -9`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from connector.errors import LockHeld, StateError
from connector.timeutil import EPOCH, format_utc

__all__ = ["SCHEMA_VERSION", "OutboxRow", "RunLock", "StateStore"]

SCHEMA_VERSION = 2
DELIVERED_KEEP_S = 30 * 86400
RUNS_KEEP = 50

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE checkpoints (source TEXT PRIMARY KEY, checkpoint_ms INTEGER NOT NULL,
                              updated_at REAL NOT NULL);
    CREATE TABLE engine_state (name TEXT PRIMARY KEY, state TEXT NOT NULL,
                               updated_at REAL NOT NULL);
    CREATE TABLE seen_events (event_id TEXT PRIMARY KEY, event_ms INTEGER NOT NULL);
    CREATE INDEX seen_events_ms ON seen_events (event_ms);
    CREATE TABLE outbox (alert_id TEXT NOT NULL, output TEXT NOT NULL, body BLOB NOT NULL,
                         created_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
                         next_attempt_at REAL NOT NULL DEFAULT 0,
                         last_error TEXT NOT NULL DEFAULT '',
                         rejected INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (alert_id, output));
    CREATE TABLE delivered (alert_id TEXT NOT NULL, output TEXT NOT NULL,
                            delivered_at REAL NOT NULL, PRIMARY KEY (alert_id, output));
    CREATE INDEX delivered_at ON delivered (delivered_at);
    CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, command TEXT NOT NULL,
                       started_at REAL NOT NULL, finished_at REAL NOT NULL,
                       exit_code INTEGER NOT NULL, summary TEXT NOT NULL);
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    """,
    2: """
    CREATE TABLE objects (source TEXT NOT NULL, key TEXT NOT NULL, size INTEGER NOT NULL,
                          etag TEXT NOT NULL, processed_at REAL NOT NULL,
                          PRIMARY KEY (source, key));
    """,
}


def _like_prefix(text: str) -> str:
    """`text` with SQL LIKE wildcards escaped (backslash is the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class RunLock:
    """A non-blocking exclusive lock on `<state path>.lock`; released on close or process death."""

    def __init__(self, state_path: Path) -> None:
        self.path = state_path.with_name(state_path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise LockHeld(f"previous run still active (lock held on {self.path})") from exc
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


@dataclass(frozen=True)
class OutboxRow:
    """One queued alert for one output."""

    alert_id: str
    output: str
    body: bytes
    created_at: float
    attempts: int
    next_attempt_at: float
    last_error: str
    rejected: bool


class StateStore:
    """Typed access to the store. Open with `StateStore.open(path)`; close when done."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, path: Path, *, create: bool = True) -> StateStore:
        """Open (and create or migrate) the store; StateError if it is corrupt or too new."""
        if not path.exists() and not create:
            raise StateError(f"no state store at {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(path, isolation_level=None, timeout=10.0)
            os.chmod(path, 0o600)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=10000")
            store = cls(conn, path)
            store._migrate()
        except sqlite3.DatabaseError as exc:
            raise StateError(
                f"state store {path} is unreadable or corrupt ({exc}); move it aside to start "
                f"over (alerts in its outbox would be lost) or restore a backup"
            ) from exc
        return store

    def _migrate(self) -> None:
        tables = {
            r[0] for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if "meta" not in tables:
            if tables:
                raise StateError(f"{self.path} is not an s1-connector state store")
            # No table at all: nothing to lose. A new file, or one whose creation was
            # killed between `connect` (which already writes the WAL header) and the
            # first commit; refusing it would wedge every later run on exit 78.
            version = 0
        else:
            row = self._conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            version = int(row[0]) if row else 0
        if version > SCHEMA_VERSION:
            raise StateError(
                f"state store {self.path} has schema version {version}, newer than this "
                f"connector understands ({SCHEMA_VERSION}); upgrade the connector"
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            with self.transaction():
                for statement in _MIGRATIONS[target].split(";"):
                    if statement.strip():
                        self._conn.execute(statement)
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(target),)
                )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """`BEGIN IMMEDIATE … COMMIT`; rolls back on any exception."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- checkpoints, engine state, key/values ---------------------------------------------

    def checkpoint(self, source: str) -> int | None:
        """The source's checkpoint in epoch ms, or None before the first run."""
        row = self._conn.execute(
            "SELECT checkpoint_ms FROM checkpoints WHERE source=?", (source,)
        ).fetchone()
        return int(row[0]) if row else None

    def set_checkpoint(self, source: str, checkpoint_ms: int) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?)",
            (source, checkpoint_ms, time.time()),
        )

    def engine_state(self, name: str = "poll") -> dict[str, Any] | None:
        row = self._conn.execute("SELECT state FROM engine_state WHERE name=?", (name,)).fetchone()
        if row is None:
            return None
        try:
            state = json.loads(row[0])
        except json.JSONDecodeError as exc:
            raise StateError(f"matcher state in {self.path} is not valid JSON") from exc
        if not isinstance(state, dict):
            raise StateError(f"matcher state in {self.path} is not an object")
        return state

    def save_engine_state(self, state: Mapping[str, Any], name: str = "poll") -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO engine_state VALUES (?, ?, ?)",
            (name, json.dumps(state, separators=(",", ":")), time.time()),
        )

    def get(self, key: str) -> str | None:
        row = self._conn.execute("SELECT value FROM kv WHERE key=?", (key,)).fetchone()
        return str(row[0]) if row else None

    def put(self, key: str, value: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO kv VALUES (?, ?)", (key, value))

    # -- processed export objects (Cloud Funnel poll reads each object once) -----------------

    def objects(self, source: str, prefix: str) -> dict[str, tuple[int, str]]:
        """The processed objects of `source` whose key starts with `prefix`: key → (size, etag)."""
        rows = self._conn.execute(
            "SELECT key, size, etag FROM objects WHERE source=? AND key>=? AND key<?",
            (source, prefix, prefix + "\U0010ffff"),
        )
        return {str(r[0]): (int(r[1]), str(r[2])) for r in rows}

    def mark_objects(self, source: str, objects: Sequence[tuple[str, int, str]]) -> None:
        """Record objects as processed (key, size, etag); call inside the window's transaction."""
        now = time.time()
        self._conn.executemany(
            "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?)",
            [(source, key, size, etag, now) for key, size, etag in objects],
        )

    def forget_objects(self, source: str, keys: Sequence[str]) -> None:
        self._conn.executemany(
            "DELETE FROM objects WHERE source=? AND key=?", [(source, key) for key in keys]
        )

    def prune_objects(self, source: str, before_key: str) -> None:
        """Forget processed objects whose keys sort before `before_key` (folders no longer
        listed: Cloud Funnel keys start with the date)."""
        self._conn.execute("DELETE FROM objects WHERE source=? AND key<?", (source, before_key))

    # -- seen event ids (dedup of overlapping windows) --------------------------------------

    def unseen(self, event_ids: Sequence[str]) -> set[str]:
        """The ids among `event_ids` that are not recorded as seen."""
        seen: set[str] = set()
        for start in range(0, len(event_ids), 500):
            chunk = event_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            seen.update(
                r[0]
                for r in self._conn.execute(
                    f"SELECT event_id FROM seen_events WHERE event_id IN ({marks})", chunk
                )
            )
        return set(event_ids) - seen

    def mark_seen(self, events: Sequence[tuple[str, int]]) -> None:
        self._conn.executemany("INSERT OR IGNORE INTO seen_events VALUES (?, ?)", events)

    def prune_seen(self, before_ms: int) -> None:
        self._conn.execute("DELETE FROM seen_events WHERE event_ms < ?", (before_ms,))

    # -- outbox and deliveries ---------------------------------------------------------------

    def known_alert(self, alert_id: str) -> bool:
        """True when the alert is queued or was delivered to any output."""
        for table in ("outbox", "delivered"):
            if self._conn.execute(
                f"SELECT 1 FROM {table} WHERE alert_id=? LIMIT 1", (alert_id,)
            ).fetchone():
                return True
        return False

    def enqueue(self, alert_id: str, bodies: Mapping[str, bytes], now: float) -> bool:
        """Queue an alert's rendered bodies, one row per output; False if already known."""
        if self.known_alert(alert_id):
            return False
        if not bodies:
            # No output configured: remember the id so a re-detection is still a duplicate.
            self._conn.execute("INSERT INTO delivered VALUES (?, '-', ?)", (alert_id, now))
            return True
        self._conn.executemany(
            "INSERT INTO outbox (alert_id, output, body, created_at) VALUES (?, ?, ?, ?)",
            [(alert_id, output, body, now) for output, body in bodies.items()],
        )
        return True

    def enqueue_update(
        self, alert_id: str, revision: int, bodies: Mapping[str, bytes], now: float
    ) -> bool:
        """Queue a new version of an already queued or delivered alert (a suppression count).

        The row key is `<alert id>/u<revision>`: distinct from the alert's own row, so the
        dedup of `enqueue` (first delivery wins) is untouched and the update still goes out;
        deterministic, so a window re-done after a crash queues the same key (a duplicate,
        not a second update). The body keeps the alert's own `event.id`: receivers that
        dedupe on it keep the first, the others see the current count. Older updates of the
        same alert still queued are superseded (dropped): the newest carries everything.
        Returns False when this revision is already queued or delivered."""
        key = f"{alert_id}/u{revision}"
        if self.known_alert(key):
            return False
        self._conn.execute(
            "DELETE FROM outbox WHERE alert_id LIKE ? ESCAPE '\\' AND alert_id != ?",
            (_like_prefix(alert_id) + "/u%", key),
        )
        return self.enqueue(key, bodies, now)

    def due(self, output: str, now: float) -> list[OutboxRow]:
        """Rows for `output` that may be attempted now, oldest first (rejected rows excluded)."""
        rows = self._conn.execute(
            "SELECT alert_id, output, body, created_at, attempts, next_attempt_at, last_error, "
            "rejected FROM outbox WHERE output=? AND rejected=0 AND next_attempt_at<=? "
            "ORDER BY created_at, alert_id",
            (output, now),
        )
        return [
            OutboxRow(r[0], r[1], bytes(r[2]), r[3], r[4], r[5], r[6], bool(r[7])) for r in rows
        ]

    def ack(self, alert_id: str, output: str, now: float) -> None:
        """Record a delivery: the row leaves the outbox, the id enters `delivered` (atomically)."""
        with self.transaction():
            self._conn.execute(
                "DELETE FROM outbox WHERE alert_id=? AND output=?", (alert_id, output)
            )
            self._conn.execute(
                "INSERT OR REPLACE INTO delivered VALUES (?, ?, ?)", (alert_id, output, now)
            )

    def fail(
        self, alert_id: str, output: str, error: str, next_attempt_at: float, rejected: bool
    ) -> None:
        """Record a failed attempt; the row stays queued."""
        self._conn.execute(
            "UPDATE outbox SET attempts=attempts+1, last_error=?, next_attempt_at=?, rejected=? "
            "WHERE alert_id=? AND output=?",
            (error[:500], next_attempt_at, int(rejected), alert_id, output),
        )

    def orphaned_rows(self, outputs: Sequence[str]) -> dict[str, int]:
        """Queued rows of outputs not in `outputs` (removed or disabled in the config)."""
        marks = ",".join("?" * len(outputs))
        rows = self._conn.execute(
            f"SELECT output, COUNT(*) FROM outbox WHERE output NOT IN ({marks}) GROUP BY output",
            tuple(outputs),
        )
        return {str(r[0]): int(r[1]) for r in rows}

    def outbox_size(self, outputs: Sequence[str] | None = None) -> int:
        """Queued rows (rejected ones included), of `outputs` only when given."""
        if outputs is None:
            return int(self._conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])
        marks = ",".join("?" * len(outputs))
        row = self._conn.execute(
            f"SELECT COUNT(*) FROM outbox WHERE output IN ({marks})", tuple(outputs)
        ).fetchone()
        return int(row[0])

    def drop_output_rows(self, output: str) -> int:
        """Delete every queued row of one output; returns how many. Only on explicit request."""
        with self.transaction():
            cursor = self._conn.execute("DELETE FROM outbox WHERE output=?", (output,))
        return int(cursor.rowcount)

    def outbox_summary(self) -> dict[str, Any]:
        rows = self._conn.execute(
            "SELECT output, COUNT(*), MIN(created_at), SUM(rejected), MAX(attempts) "
            "FROM outbox GROUP BY output"
        ).fetchall()
        return {
            r[0]: {"queued": r[1], "oldest": r[2], "rejected": r[3], "max_attempts": r[4]}
            for r in rows
        }

    def delivered_ids(self, output: str | None = None) -> list[tuple[str, str]]:
        sql = "SELECT alert_id, output FROM delivered"
        rows = self._conn.execute(
            sql + (" WHERE output=?" if output else ""), (output,) if output else ()
        )
        return [(r[0], r[1]) for r in rows]

    def prune_delivered(self, now: float) -> None:
        self._conn.execute(
            "DELETE FROM delivered WHERE delivered_at < ?", (now - DELIVERED_KEEP_S,)
        )

    # -- runs ----------------------------------------------------------------------------------

    def record_run(
        self, command: str, started: float, exit_code: int, summary: Mapping[str, Any]
    ) -> None:
        with self.transaction():
            self._conn.execute(
                "INSERT INTO runs (command, started_at, finished_at, exit_code, summary) "
                "VALUES (?, ?, ?, ?, ?)",
                (command, started, time.time(), exit_code, json.dumps(summary)),
            )
            self._conn.execute(
                "DELETE FROM runs WHERE id <= (SELECT MAX(id) FROM runs) - ?", (RUNS_KEEP,)
            )

    def last_run(self) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT command, started_at, finished_at, exit_code, summary FROM runs "
            "ORDER BY id DESC LIMIT 1"
        ).fetchone()
        if row is None:
            return None
        return {
            "command": row[0],
            "started_at": row[1],
            "finished_at": row[2],
            "exit_code": row[3],
            "summary": json.loads(row[4]),
        }

    def overview(self) -> dict[str, Any]:
        """Everything `state show` prints."""
        checkpoints = dict(self._conn.execute("SELECT source, checkpoint_ms FROM checkpoints"))
        seen = int(self._conn.execute("SELECT COUNT(*) FROM seen_events").fetchone()[0])
        delivered = int(self._conn.execute("SELECT COUNT(*) FROM delivered").fetchone()[0])
        objects = dict(
            self._conn.execute("SELECT source, COUNT(*) FROM objects GROUP BY source").fetchall()
        )
        return {
            "path": str(self.path),
            "schema_version": SCHEMA_VERSION,
            "checkpoints": {
                source: format_utc(EPOCH + timedelta(milliseconds=ms))
                for source, ms in checkpoints.items()
            },
            "checkpoints_ms": checkpoints,
            "seen_event_ids": seen,
            "outbox": self.outbox_summary(),
            "outbox_size": self.outbox_size(),
            "delivered_recorded": delivered,
            "processed_objects": objects,
            "last_run": self.last_run(),
            "lateness": self._lateness(),
        }

    def _lateness(self) -> dict[str, Any]:
        """Late events, evicted agents and ingest lag of the last poll run (see RunSummary)."""
        row = self._conn.execute(
            "SELECT summary FROM runs WHERE command='poll' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        summary = json.loads(row[0]) if row else {}
        keys = ("late_events", "late_hosts", "lanes_evicted", "ingest_lag_s")
        return {key: summary.get(key) for key in keys if key in summary}
