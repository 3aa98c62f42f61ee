"""The background store, image intake, admin token and join tokens, without a server."""

from __future__ import annotations

import io
import os
import stat
import time

import jwt
import numpy as np
import pytest
from PIL import Image

from server.cli import main as cli_main
from server.settings import Settings
from server.storage.background_store import BackgroundStore
from server.storage.database import Database
from server.storage.image_intake import ImageRejected, IntakeLimits, normalise
from server.storage.room_settings import RoomSettings, RoomSettingsStore
from server.web.admin_auth import TOKEN_FILE_NAME, resolve_admin_token
from server.web.join_tokens import JoinRefused, issue_join_token, parse_duration, verify_join_token
from tests import media_files

SECRET = "a-join-secret-of-at-least-32-bytes-long"


def open_store(data_dir) -> BackgroundStore:
    return BackgroundStore(data_dir, Database(data_dir / "db.sqlite3"))


def stored_files(store: BackgroundStore) -> set[str]:
    return {p.name for p in store.directory.iterdir()}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_accepted_formats_are_normalised_to_jpeg(fmt: str) -> None:
    image = normalise(media_files.encode(media_files.photo(200, 100), fmt))
    assert (image.width, image.height, image.source_format) == (200, 100, fmt)
    stored = Image.open(io.BytesIO(image.jpeg))
    assert stored.format == "JPEG" and stored.mode == "RGB" and not stored.getexif()
    difference = np.abs(np.asarray(stored, float) - np.asarray(media_files.photo(200, 100), float)).mean()
    assert difference < 6, difference


def test_exif_orientation_is_applied() -> None:
    image = normalise(media_files.jpeg_with_orientation(64, 48, 6))
    assert (image.width, image.height) == (48, 64)


def test_transparency_is_flattened() -> None:
    rgba = Image.new("RGBA", (64, 64), (255, 0, 0, 0))
    rgba.paste((0, 0, 255, 255), (0, 0, 32, 64))
    stored = np.asarray(Image.open(io.BytesIO(normalise(media_files.encode(rgba, "PNG")).jpeg)))
    assert stored[32, 10, 2] > 200 and stored[32, 10, 0] < 40  # opaque blue kept
    assert stored[32, 50].max() < 60  # transparent red became the dark flat colour


def test_huge_images_are_scaled_down_to_the_stored_limit() -> None:
    image = normalise(media_files.encode(media_files.photo(1000, 500), "PNG"), IntakeLimits(max_stored_side=400))
    assert (image.width, image.height) == (400, 200)


@pytest.mark.parametrize("data, status, code", [
    (b"", 400, "empty_file"),
    (b"just some text, named photo.jpg", 400, "not_an_image"),
    (media_files.zip_file(), 400, "not_an_image"),
    (media_files.SVG, 415, "unsupported_type"),
    (b"GIF89a" + b"\x00" * 40, 415, "unsupported_type"),
    (media_files.png_bomb(), 413, "too_many_pixels"),
    (media_files.png_bomb(8000, 6000), 413, "too_many_pixels"),
    (media_files.encode(media_files.photo(16, 16), "PNG"), 400, "too_small"),
])
def test_bad_images_are_refused_with_a_reason(data: bytes, status: int, code: str) -> None:
    with pytest.raises(ImageRejected) as refused:
        normalise(data)
    assert (refused.value.status, refused.value.code) == (status, code)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_truncated_images_are_corrupt(fmt: str) -> None:
    data = media_files.encode(media_files.photo(), fmt)
    with pytest.raises(ImageRejected) as refused:
        normalise(data[: len(data) // 2])
    assert (refused.value.status, refused.value.code) == (400, "corrupt_image")


def test_store_round_trip_survives_reopening(tmp_path) -> None:
    store = open_store(tmp_path)
    record = store.add(media_files.encode(media_files.photo(), "PNG"), filename="../../etc/passwd")
    assert record.name == "passwd" and len(record.id) == 16
    assert stored_files(store) == {f"{record.id}.jpg"}
    assert record.bytes == store.image_path(record.id).stat().st_size
    reopened = open_store(tmp_path)
    assert reopened.list() == [record] and reopened.get(record.id) == record
    thumbnail = Image.open(io.BytesIO(reopened.thumbnail(record.id, 80)))
    assert thumbnail.size == (80, 60)
    assert reopened.delete(record.id) and not reopened.delete(record.id)
    assert reopened.list() == [] and stored_files(reopened) == set()


def test_a_refused_upload_leaves_nothing(tmp_path) -> None:
    store = open_store(tmp_path)
    with pytest.raises(ImageRejected):
        store.add(media_files.png_bomb())
    with pytest.raises(ImageRejected):
        store.add(media_files.encode(media_files.photo(), "PNG"), name="   ")
    assert store.list() == [] and stored_files(store) == set()


def test_opening_the_store_sweeps_what_a_crash_left(tmp_path) -> None:
    store = open_store(tmp_path)
    kept = store.add(media_files.encode(media_files.photo(), "JPEG"), name="kept")
    lost = store.add(media_files.encode(media_files.photo(seed=1), "JPEG"), name="lost file")
    store.image_path(lost.id).unlink()  # a row whose file vanished
    (store.directory / ".tmp-0123456789abcdef.jpg").write_bytes(b"half a file")  # crash mid-write
    (store.directory / "fedcba9876543210.jpg").write_bytes(b"renamed, row never written")
    reopened = open_store(tmp_path)
    assert reopened.list() == [kept]
    assert stored_files(reopened) == {f"{kept.id}.jpg"}


def test_room_settings_persist_and_forget_deleted_backgrounds(tmp_path) -> None:
    database = Database(tmp_path / "db.sqlite3")
    rooms = RoomSettingsStore(database)
    rooms.put("a", RoomSettings("0123456789abcdef", "median"))
    rooms.put("b", RoomSettings("builtin:lights", None))
    assert rooms.forget_background("0123456789abcdef") == ["a"]
    reopened = RoomSettingsStore(database)
    assert reopened.get("a") == RoomSettings(None, "median")
    assert reopened.get("b") == RoomSettings("builtin:lights", None)
    assert reopened.get("never-set") == RoomSettings()
    rooms.put("locked", RoomSettings(participants_set_background=False))
    assert RoomSettingsStore(database).get("locked").participants_set_background is False
    assert RoomSettingsStore(database).get("a").participants_set_background is True


def test_admin_token_is_generated_once_private_and_printed_once(tmp_path, capsys) -> None:
    settings = Settings(data_dir=tmp_path, admin_token=None)
    token = resolve_admin_token(settings)
    assert token in capsys.readouterr().out
    path = tmp_path / TOKEN_FILE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert resolve_admin_token(settings) == token
    assert token not in capsys.readouterr().out
    assert resolve_admin_token(Settings(data_dir=tmp_path, admin_token="configured")) == "configured"


def test_admin_token_comes_from_the_environment(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("BACKDROP_ADMIN_TOKEN", "from-env")
    assert resolve_admin_token(Settings(data_dir=tmp_path)) == "from-env"
    assert not (tmp_path / TOKEN_FILE_NAME).exists()


def test_join_tokens_admit_to_their_room_only() -> None:
    token = issue_join_token(SECRET, "room-a", "ada", 60)
    grant = verify_join_token(SECRET, token, "room-a")
    assert (grant.room, grant.identity) == ("room-a", "ada")
    with pytest.raises(JoinRefused) as refused:
        verify_join_token(SECRET, token, "room-b")
    assert refused.value.code == "wrong_room"
    expired = issue_join_token(SECRET, "room-a", "ada", 60, now=time.time() - 3600)
    for bad in (expired, issue_join_token(SECRET + "x", "room-a", "ada", 60), None, "", "not.a.jwt",
                jwt.encode({"room": "room-a", "exp": time.time() + 60}, SECRET),  # no identity
                jwt.encode({"room": "room-a", "sub": "ada"}, SECRET),  # no expiry
                jwt.encode({"sub": "ada", "exp": time.time() + 60, "video": {"room": "room-a", "roomJoin": False}},
                           SECRET)):
        with pytest.raises(JoinRefused) as refused:
            verify_join_token(SECRET, bad, "room-a")
        assert refused.value.code == "unauthorized"
    # LiveKit-style tokens (identity in sub, room in the video grant, any issuer) are understood too.
    livekit = jwt.encode({"iss": "APIkey", "sub": "ada", "exp": time.time() + 60, "nbf": time.time() - 1,
                          "video": {"room": "room-a", "roomJoin": True}}, SECRET)
    assert verify_join_token(SECRET, livekit, "room-a").identity == "ada"
    assert jwt.decode(token, SECRET, algorithms=["HS256"])["video"] == {"room": "room-a", "roomJoin": True}
    unsigned = jwt.encode({"iss": "backdrop", "room": "room-a", "sub": "ada", "exp": time.time() + 60},
                          key=None, algorithm="none")
    with pytest.raises(JoinRefused):
        verify_join_token(SECRET, unsigned, "room-a")


def test_durations() -> None:
    assert [parse_duration(t) for t in ("90", "90s", "15m", "1h", "2d", "1.5h")] == [90, 90, 900, 3600, 172800, 5400]
    for bad in ("", "h", "-1h", "0", "1w"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_token_command_prints_a_token_the_server_accepts(monkeypatch, capsys) -> None:
    monkeypatch.setenv("BACKDROP_JOIN_SECRET", SECRET)
    assert cli_main(["token", "--room", "studio-1", "--identity", "Ada", "--ttl", "10m"]) == 0
    token = capsys.readouterr().out.strip()
    grant = verify_join_token(SECRET, token, "studio-1")
    assert grant.identity == "Ada" and 590 <= grant.expires_at - time.time() <= 610
    monkeypatch.delenv("BACKDROP_JOIN_SECRET")
    assert cli_main(["token", "--room", "studio-1", "--identity", "Ada"]) == 2
    assert "BACKDROP_JOIN_SECRET" in capsys.readouterr().err
    assert os.environ.get("BACKDROP_JOIN_SECRET") is None


def test_a_database_from_before_latency_probes_is_migrated(tmp_path) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "db.sqlite3") as old:
        old.execute("CREATE TABLE room_settings (room TEXT PRIMARY KEY, background_id TEXT, statistic TEXT)")
        old.execute("INSERT INTO room_settings VALUES ('kept', 'builtin:lights', 'max')")
    rooms = RoomSettingsStore(Database(tmp_path / "db.sqlite3"))
    assert rooms.get("kept") == RoomSettings("builtin:lights", "max", False)
    rooms.put("kept", RoomSettings("builtin:lights", "max", True))
    assert RoomSettingsStore(Database(tmp_path / "db.sqlite3")).get("kept").latency_probe is True
    assert rooms.get("kept").participants_set_background is True  # the newest column, added with its default
