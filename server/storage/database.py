"""The embedded metadata database: one SQLite file in the data directory, shared by the stores."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS backgrounds (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS room_settings (
    room TEXT PRIMARY KEY,
    background_id TEXT,
    statistic TEXT,
    latency_probe INTEGER NOT NULL DEFAULT 0
);
"""
_MIGRATIONS = (
    # Columns added after a table first shipped: (table, column, definition).
    ("room_settings", "latency_probe", "INTEGER NOT NULL DEFAULT 0"),
    ("room_settings", "mode", "TEXT NOT NULL DEFAULT 'individual'"),
    ("room_settings", "layout", "TEXT NOT NULL DEFAULT 'grid'"),
    ("room_settings", "seats", "TEXT"),
    ("room_settings", "scene_statistic", "TEXT NOT NULL DEFAULT 'min'"),
    ("room_settings", "participants_set_mode", "INTEGER NOT NULL DEFAULT 1"),
    ("room_settings", "participants_set_background", "INTEGER NOT NULL DEFAULT 1"),
)


class Database:
    """A serialised SQLite connection, usable from the event loop and from worker threads."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        with self._lock:
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=FULL")
            self._connection.executescript(_SCHEMA)
            for table, column, definition in _MIGRATIONS:
                columns = {row[1] for row in self._connection.execute(f"PRAGMA table_info({table})")}
                if column not in columns:
                    self._connection.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def query(self, sql: str, parameters: Iterable[object] = ()) -> list[sqlite3.Row]:
        """Rows of a SELECT."""
        with self._lock:
            return self._connection.execute(sql, tuple(parameters)).fetchall()

    def execute(self, sql: str, parameters: Iterable[object] = ()) -> int:
        """Run one statement in its own transaction; the number of rows it changed."""
        with self._lock:
            return self._connection.execute(sql, tuple(parameters)).rowcount

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._connection.close()
