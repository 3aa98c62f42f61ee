"""Uploaded backgrounds: metadata rows in SQLite, normalised JPEG files beside them.

Crash safety: a file is written to a temporary name, fsynced and renamed into place, and only then is
its row inserted; a delete removes the row first, then the file. Opening the store sweeps what a crash
can leave behind (temporary files, files without a row) so a row always has its file.
"""

from __future__ import annotations

import io
import logging
import os
import re
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image

from .database import Database
from .image_intake import ImageRejected, IntakeLimits, normalise
from .lru import LruCache

logger = logging.getLogger(__name__)

_ID = re.compile(r"^[0-9a-f]{16}$")
TEMP_PREFIX = ".tmp-"
"""Files being written start so: a start-up sweep removes what an interrupted write left."""
MAX_NAME_LENGTH = 100
THUMBNAIL_WIDTHS = (16, 2048)
"""Smallest and largest width a thumbnail may be asked for."""


@dataclass(frozen=True)
class BackgroundRecord:
    """One stored background as the API describes it."""

    id: str
    name: str
    width: int
    height: int
    bytes: int
    created: str

    def as_dict(self) -> dict:
        """JSON-friendly form."""
        return asdict(self)


def is_background_id(value: object) -> bool:
    """Whether ``value`` has the shape of a stored background's id."""
    return isinstance(value, str) and bool(_ID.match(value))


def clean_name(name: str | None, filename: str | None) -> str:
    """The display name: the given one, else the upload's file name without its extension."""
    if name is not None:
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME_LENGTH or not name.isprintable():
            raise ImageRejected(400, "bad_name", f"name must be 1-{MAX_NAME_LENGTH} printable characters")
        return name
    stem = re.split(r"[\\/]", filename or "")[-1].rsplit(".", 1)[0]
    stem = " ".join("".join(c for c in stem if c.isprintable()).split())[:MAX_NAME_LENGTH]
    return stem or "Untitled background"


class BackgroundStore:
    """The embedded background store; every method is synchronous (call it from a thread)."""

    def __init__(self, data_dir: Path, database: Database, limits: IntakeLimits = IntakeLimits()) -> None:
        self.limits = limits
        self.directory = data_dir / "backgrounds"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._db = database
        self._thumbnails: LruCache[bytes] = LruCache(64)
        self._recover()

    def add(self, data: bytes, name: str | None = None, filename: str | None = None) -> BackgroundRecord:
        """Validate, normalise and store an upload; raises ``ImageRejected`` and then stores nothing."""
        display_name = clean_name(name, filename)
        image = normalise(data, self.limits)
        background_id = secrets.token_hex(8)
        final = self.image_path(background_id)
        temporary = self.directory / f"{TEMP_PREFIX}{background_id}.jpg"
        try:
            with open(temporary, "wb") as handle:
                handle.write(image.jpeg)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, final)
            _fsync_directory(self.directory)
            record = BackgroundRecord(background_id, display_name, image.width, image.height, len(image.jpeg),
                                      datetime.now(timezone.utc).isoformat(timespec="seconds"))
            self._db.execute("INSERT INTO backgrounds (id, name, width, height, bytes, created) "
                             "VALUES (?, ?, ?, ?, ?, ?)", (record.id, record.name, record.width,
                                                           record.height, record.bytes, record.created))
        except BaseException:
            temporary.unlink(missing_ok=True)
            final.unlink(missing_ok=True)
            raise
        logger.info("background %s stored (%dx%d, %d bytes)", record.id, record.width, record.height, record.bytes)
        return record

    def list(self) -> list[BackgroundRecord]:
        """Every stored background, oldest first."""
        rows = self._db.query("SELECT * FROM backgrounds ORDER BY created, id")
        return [BackgroundRecord(**dict(row)) for row in rows]

    def get(self, background_id: str) -> BackgroundRecord | None:
        """One background, or None."""
        if not is_background_id(background_id):
            return None
        rows = self._db.query("SELECT * FROM backgrounds WHERE id = ?", (background_id,))
        return BackgroundRecord(**dict(rows[0])) if rows else None

    def delete(self, background_id: str) -> bool:
        """Remove a background (row first, then file); whether it existed."""
        if not is_background_id(background_id):
            return False
        if self._db.execute("DELETE FROM backgrounds WHERE id = ?", (background_id,)) == 0:
            return False
        self.image_path(background_id).unlink(missing_ok=True)
        self._thumbnails.discard(lambda key: key[0] == background_id)
        logger.info("background %s deleted", background_id)
        return True

    def image_path(self, background_id: str) -> Path:
        """Where a background's JPEG lives (whether or not it exists)."""
        if not is_background_id(background_id):
            raise ValueError(f"not a background id: {background_id!r}")
        return self.directory / f"{background_id}.jpg"

    def thumbnail(self, background_id: str, width: int) -> bytes | None:
        """The background scaled to ``width`` (never up), as JPEG; None if it does not exist."""
        cached = self._thumbnails.get((background_id, width))
        if cached is not None:
            return cached
        record = self.get(background_id)
        if record is None:
            return None
        try:
            source = self.image_path(background_id).read_bytes()
        except FileNotFoundError:
            return None  # deleted meanwhile
        if width >= record.width:
            return source
        with Image.open(io.BytesIO(source)) as image:
            height = max(1, round(record.height * width / record.width))
            image.draft("RGB", (width, height))
            small = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=85)
        data = out.getvalue()
        self._thumbnails.put((background_id, width), data)
        return data

    def _recover(self) -> None:
        """Remove what an interrupted write or delete left behind."""
        known = {row["id"] for row in self._db.query("SELECT id FROM backgrounds")}
        for path in self.directory.iterdir():
            stem = path.name.removesuffix(".jpg")
            if path.name.startswith(TEMP_PREFIX) or not (path.suffix == ".jpg" and stem in known):
                logger.warning("removing leftover file %s", path.name)
                if path.is_dir():
                    continue
                path.unlink(missing_ok=True)
        for background_id in known:
            if not self.image_path(background_id).exists():
                logger.warning("background %s lost its file; removing its row", background_id)
                self._db.execute("DELETE FROM backgrounds WHERE id = ?", (background_id,))


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
