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
    statistic TEXT
);
"""


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
