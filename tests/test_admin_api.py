"""The admin API against the running server: every route and status, hostile uploads, tokens, live rooms."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
import time

import aiohttp
import numpy as np
import pytest
import requests
from PIL import Image

from server.loadtest.participant import FrameSourceTrack, SyntheticParticipant
from server.web.join_tokens import issue_join_token
from tests import media_files
from tests.server_harness import ServerThread

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "admin-token-for-tests"
JOIN_SECRET = "join-secret-for-tests-0123456789abcdef"
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerThread:
    thread = ServerThread(tmp_path_factory.mktemp("data"), admin_token=ADMIN_TOKEN, join_secret=JOIN_SECRET).start()
    yield thread
    thread.stop()


def api(server: ServerThread, path: str) -> str:
    return f"{server.url}/api{path}"


def rows(server: ServerThread) -> set[str]:
    with sqlite3.connect(server.settings.data_dir / "backdrop.sqlite3") as db:
        return {row[0] for row in db.execute("SELECT id FROM backgrounds")}


def files(server: ServerThread) -> set[str]:
    return {p.name for p in (server.settings.data_dir / "backgrounds").iterdir()}


def upload(server: ServerThread, data: bytes, filename: str = "photo.jpg", headers=ADMIN, **fields) -> requests.Response:
    return requests.post(api(server, "/backgrounds"), files={"file": (filename, data)}, data=fields, headers=headers,
                         timeout=60)


def assert_store_is(server: ServerThread, ids: set[str]) -> None:
    assert rows(server) == ids
    assert files(server) == {f"{i}.jpg" for i in ids}


def test_upload_list_describe_image_thumbnail_delete(server: ServerThread) -> None:
    before = rows(server)
    response = upload(server, media_files.encode(media_files.photo(400, 300), "PNG"), "beach.png", name="Beach")
    assert response.status_code == 201, response.text
    record = response.json()
    assert set(record) == {"id", "name", "width", "height", "bytes", "created"}
    assert (record["name"], record["width"], record["height"]) == ("Beach", 400, 300)
    assert response.headers["Location"] == f"/api/backgrounds/{record['id']}"
    assert_store_is(server, before | {record["id"]})

    assert record in requests.get(api(server, "/backgrounds"), timeout=10).json()
    assert requests.get(api(server, f"/backgrounds/{record['id']}"), timeout=10).json() == record
    image = requests.get(api(server, f"/backgrounds/{record['id']}/image"), timeout=10)
    assert image.headers["Content-Type"] == "image/jpeg" and len(image.content) == record["bytes"]
    assert Image.open(io.BytesIO(image.content)).size == (400, 300)
    thumbnail = requests.get(api(server, f"/backgrounds/{record['id']}/image"), params={"width": 100}, timeout=10)
    assert Image.open(io.BytesIO(thumbnail.content)).size == (100, 75)
    for width in ("0", "abc", "-5", "99999"):
        bad = requests.get(api(server, f"/backgrounds/{record['id']}/image"), params={"width": width}, timeout=10)
        assert bad.status_code == 400 and bad.json()["error"] == "bad_width"

    assert requests.delete(api(server, f"/backgrounds/{record['id']}"), headers=ADMIN, timeout=10).status_code == 204
    assert_store_is(server, before)
    for method, path in (("GET", ""), ("GET", "/image"), ("DELETE", "")):
        gone = requests.request(method, api(server, f"/backgrounds/{record['id']}{path}"), headers=ADMIN, timeout=10)
        assert gone.status_code == 404 and gone.json()["error"] == "not_found"


def test_exif_orientation_is_applied_on_upload(server: ServerThread) -> None:
    response = upload(server, media_files.jpeg_with_orientation(320, 240, 6))
    assert response.status_code == 201
    assert (response.json()["width"], response.json()["height"]) == (240, 320)
    requests.delete(api(server, f"/backgrounds/{response.json()['id']}"), headers=ADMIN, timeout=10)


@pytest.mark.parametrize("data, filename, status, code", [
    (media_files.encode(media_files.photo(), "JPEG")[:3000], "truncated.jpg", 400, "corrupt_image"),
    (media_files.png_bomb(), "bomb.png", 413, "too_many_pixels"),
    (b"Dear admin, this is not a picture.\n", "notes.jpg", 400, "not_an_image"),
    (media_files.SVG, "vector.svg", 415, "unsupported_type"),
    (media_files.zip_file(), "photos.zip", 400, "not_an_image"),
    (b"", "empty.jpg", 400, "empty_file"),
])
def test_bad_uploads_are_refused_and_leave_nothing(server: ServerThread, data: bytes, filename: str, status: int,
                                                   code: str) -> None:
    before = rows(server)
    response = upload(server, data, filename)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert response.json()["detail"]
    assert_store_is(server, before)


def test_malformed_requests_get_400(server: ServerThread) -> None:
    before = rows(server)
    empty = requests.post(api(server, "/backgrounds"), headers=ADMIN, timeout=10)
    assert empty.status_code == 400
    not_multipart = requests.post(api(server, "/backgrounds"), data=b"\xff\xd8\xff", timeout=10,
                                  headers={**ADMIN, "Content-Type": "image/jpeg"})
    assert not_multipart.status_code == 400
    no_file = requests.post(api(server, "/backgrounds"), files={"name": (None, "x")}, headers=ADMIN, timeout=10)
    assert (no_file.status_code, no_file.json()["error"]) == (400, "missing_file")
    broken = requests.post(api(server, "/backgrounds"), data=b"--nope\r\ngarbage", timeout=10,
                           headers={**ADMIN, "Content-Type": "multipart/form-data; boundary=zzz"})
    assert broken.status_code == 400
    long_name = upload(server, media_files.encode(media_files.photo(), "JPEG"), name="x" * 500)
    assert (long_name.status_code, long_name.json()["error"]) == (400, "bad_name")
    assert_store_is(server, before)


def test_a_hostile_filename_is_never_a_path(server: ServerThread) -> None:
    before = rows(server)
    response = upload(server, media_files.encode(media_files.photo(), "JPEG"), "../../etc/passwd")
    assert response.status_code == 201
    record = response.json()
    assert record["name"] == "passwd"
    assert_store_is(server, before | {record["id"]})
    assert not (server.settings.data_dir / "etc").exists()
    requests.delete(api(server, f"/backgrounds/{record['id']}"), headers=ADMIN, timeout=10)


def test_a_50_mb_body_gets_413_and_the_server_keeps_serving(server: ServerThread) -> None:
    before = rows(server)
    body = b"--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.jpg\"\r\n\r\n" \
           + b"\xff\xd8\xff" + bytes(50 * 1024 * 1024) + b"\r\n--b--\r\n"
    response = requests.post(api(server, "/backgrounds"), data=body, timeout=60,
                             headers={**ADMIN, "Content-Type": "multipart/form-data; boundary=b"})
    assert (response.status_code, response.json()["error"]) == (413, "too_large")

    def chunks():  # no Content-Length: the limit is found while streaming
        yield body[:100]
        for start in range(100, len(body), 1 << 20):
            yield body[start:start + (1 << 20)]
    streamed = requests.post(api(server, "/backgrounds"), data=chunks(), timeout=60,
                             headers={**ADMIN, "Content-Type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413
    assert_store_is(server, before)
    assert requests.get(api(server, "/backgrounds"), timeout=10).status_code == 200


def test_concurrent_uploads_all_land(server: ServerThread) -> None:
    before = rows(server)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def send(seed: int) -> None:
        response = upload(server, media_files.encode(media_files.photo(640, 480, seed), "PNG"), f"p{seed}.png")
        with lock:
            results.append(response)

    threads = [threading.Thread(target=send, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status_code for r in results) == [201] * 8
    ids = {r.json()["id"] for r in results}
    assert len(ids) == 8
    assert_store_is(server, before | ids)
    for background_id in ids:
        requests.delete(api(server, f"/backgrounds/{background_id}"), headers=ADMIN, timeout=10)
    assert_store_is(server, before)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN},
                                     {"Authorization": f"Basic {ADMIN_TOKEN}"}])
def test_admin_routes_need_the_token_and_change_nothing_without_it(server: ServerThread, headers: dict) -> None:
    kept = upload(server, media_files.encode(media_files.photo(), "JPEG")).json()["id"]
    before = rows(server)
    attempts = [
        upload(server, media_files.encode(media_files.photo(), "JPEG"), headers=headers),
        requests.delete(api(server, f"/backgrounds/{kept}"), headers=headers, timeout=10),
        requests.put(api(server, "/rooms/locked"), json={"statistic": "max"}, headers=headers, timeout=10),
        requests.get(api(server, "/rooms"), headers=headers, timeout=10),
        requests.patch(api(server, "/rooms/locked/participants/nobody"), json={"microphone": False}, headers=headers,
                       timeout=10),
        requests.delete(api(server, "/rooms/locked/participants/nobody"), headers=headers, timeout=10),
    ]
    for response in attempts:
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert_store_is(server, before)
    assert server.conference.room_settings.get("locked").statistic is None
    requests.delete(api(server, f"/backgrounds/{kept}"), headers=ADMIN, timeout=10)


def test_room_settings_are_validated(server: ServerThread) -> None:
    url = api(server, "/rooms/valid-room")
    cases = [
        (requests.put(url, data=b"{not json", headers=ADMIN, timeout=10), "bad_json"),
        (requests.put(url, json=[1, 2], headers=ADMIN, timeout=10), "bad_json"),
        (requests.put(url, json={"colour": "red"}, headers=ADMIN, timeout=10), "unknown_field"),
        (requests.put(url, json={"background_id": "0123456789abcdef"}, headers=ADMIN, timeout=10), "unknown_background"),
        (requests.put(url, json={"background_id": 7}, headers=ADMIN, timeout=10), "unknown_background"),
        (requests.put(url, json={"statistic": "loudest"}, headers=ADMIN, timeout=10), "bad_statistic"),
        (requests.put(api(server, "/rooms/bad room!"), json={}, headers=ADMIN, timeout=10), "bad_room"),
    ]
    for response, code in cases:
        assert (response.status_code, response.json()["error"]) == (400, code), response.text
    ok = requests.put(url, json={"background_id": "builtin:lights", "statistic": "p90"}, headers=ADMIN, timeout=10)
    assert ok.status_code == 200
    assert ok.json() == {"room": "valid-room", "background_id": "builtin:lights", "statistic": "p90",
                         "latency_probe": False, "mode": "individual", "layout": "grid", "seats": None,
                         "scene_statistic": "min", "participants_set_mode": True,
                         "participants_set_background": True, "participants": 0}
    scene_cases = [
        ({"mode": "collage"}, "bad_mode"),
        ({"layout": "circle"}, "bad_layout"),
        ({"layout": "seats"}, "seats_required"),
        ({"seats": [{"x": 0.9, "y": 0.1, "width": 0.5, "height": 0.5}]}, "bad_seats"),  # sticks out
        ({"seats": [{"x": 0.1, "y": 0.1, "width": 0.2}]}, "bad_seats"),
        ({"seats": [{"x": 0.1, "y": 0.1, "width": 0.1, "height": 0.1}] * 10}, "bad_seats"),
        ({"scene_statistic": "max"}, "bad_scene_statistic"),
        ({"participants_set_mode": "yes"}, "bad_participants_set_mode"),
        ({"participants_set_background": 0}, "bad_participants_set_background"),
    ]
    for body, code in scene_cases:
        response = requests.put(url, json=body, headers=ADMIN, timeout=10)
        assert (response.status_code, response.json()["error"]) == (400, code), (body, response.text)
    seats = [{"x": 0.1, "y": 0.4, "width": 0.3, "height": 0.5}, {"x": 0.6, "y": 0.4, "width": 0.3, "height": 0.5}]
    scene = requests.put(url, json={"mode": "scene", "layout": "seats", "seats": seats, "scene_statistic": "median",
                                    "participants_set_mode": False}, headers=ADMIN, timeout=10).json()
    assert (scene["mode"], scene["layout"], scene["seats"], scene["scene_statistic"], scene["participants_set_mode"]) \
        == ("scene", "seats", seats, "median", False)
    partial = requests.put(url, json={"statistic": None}, headers=ADMIN, timeout=10).json()
    assert (partial["background_id"], partial["statistic"]) == ("builtin:lights", None)


def test_unknown_api_routes_and_methods_answer_json(server: ServerThread) -> None:
    missing = requests.get(api(server, "/nothing-here"), timeout=10)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")
    wrong_method = requests.patch(api(server, "/backgrounds"), headers=ADMIN, timeout=10)
    assert wrong_method.status_code in (404, 405) and "error" in wrong_method.json()


def test_openapi_describes_every_route(server: ServerThread) -> None:
    document = requests.get(api(server, "/openapi.json"), timeout=10).json()
    assert document["openapi"].startswith("3.")
    paths = document["paths"]
    assert set(paths["/api/backgrounds"]) == {"get", "post"}
    assert set(paths["/api/backgrounds/{id}"]) == {"get", "delete"}
    assert "get" in paths["/api/backgrounds/{id}/image"] and "put" in paths["/api/rooms/{room}"]
    assert "get" in paths["/api/rooms"]
    assert set(paths["/api/rooms/{room}/participants/{participant}"]) == {"parameters", "patch", "delete"}


def picture(color_bgr: tuple[int, int, int]) -> bytes:
    """A nearly flat background of one colour (RGB file), so a composite's corners can be recognised."""
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[:] = color_bgr[::-1]
    rgb[::8] = np.clip(rgb[::8].astype(int) + 20, 0, 255)
    return media_files.encode(Image.fromarray(rgb), "PNG")


def corner_bgr(image: np.ndarray) -> np.ndarray:
    return image[5:50, 5:50].reshape(-1, 3).mean(axis=0)


def test_room_background_applies_live_and_deleting_it_falls_back_without_interruption(
        server: ServerThread, astronaut: np.ndarray) -> None:
    green = upload(server, picture((40, 190, 40)), "green.png").json()["id"]

    async def scenario() -> None:
        token = issue_join_token(JOIN_SECRET, "live-room", "ada", 300)
        ada = SyntheticParticipant(server.url, "live-room", "Ada", FrameSourceTrack(lambda i: astronaut), token=token)
        try:
            await ada.join()
            await ada.wait_for_frames("self", 10)
            assert ada.background == "builtin:studio"
            put = await asyncio.to_thread(requests.put, api(server, "/rooms/live-room"),
                                          json={"background_id": green, "statistic": "median"}, headers=ADMIN,
                                          timeout=10)
            assert put.status_code == 200 and put.json()["participants"] == 1
            await wait_for(lambda: ada.background == green)
            await wait_for(lambda: np.abs(corner_bgr(ada.received["self"].last_image) - (40, 190, 40)).max() < 35)

            rooms = (await asyncio.to_thread(requests.get, api(server, "/rooms"), headers=ADMIN, timeout=10)).json()
            room = next(r for r in rooms if r["room"] == "live-room")
            (seen,) = room["participants"]
            assert seen["name"] == "Ada" and seen["statistic"] == "median" and seen["background_id"] == green
            assert 0.0 <= seen["quality"] < 1.0 and seen["stream"]["frames_out"] > 0

            # A statistic over the person only: the worker reduces the blocks the stream's mask covers.
            put = await asyncio.to_thread(requests.put, api(server, "/rooms/live-room"),
                                          json={"statistic": "person-p90"}, headers=ADMIN, timeout=10)
            assert put.status_code == 200 and put.json()["statistic"] == "person-p90"
            await ada.wait_for_frames("self", ada.received["self"].frames + 20, timeout=10)
            rooms = (await asyncio.to_thread(requests.get, api(server, "/rooms"), headers=ADMIN, timeout=10)).json()
            (seen,) = next(r for r in rooms if r["room"] == "live-room")["participants"]
            assert seen["statistic"] == "person-p90" and 0.0 <= seen["quality"] < 1.0

            before = ada.received["self"].frames
            deleted = await asyncio.to_thread(requests.delete, api(server, f"/backgrounds/{green}"), headers=ADMIN,
                                              timeout=10)
            assert deleted.status_code == 204
            await wait_for(lambda: ada.background == "builtin:studio")
            await ada.wait_for_frames("self", before + 30, timeout=10)
            assert np.abs(corner_bgr(ada.received["self"].last_image) - (40, 190, 40)).max() > 35
            assert server.conference.room_settings.get("live-room").background_id is None
            assert not ada.errors
        finally:
            await ada.leave()

    asyncio.run(scenario())


async def wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("token, code", [
    (None, "unauthorized"),
    ("not-a-token", "unauthorized"),
    ("expired", "unauthorized"),
    ("other-room", "wrong_room"),
])
def test_joins_need_a_valid_token_for_that_room(server: ServerThread, token: str | None, code: str) -> None:
    tokens = {"expired": issue_join_token(JOIN_SECRET, "door", "eve", 60, now=time.time() - 7200),
              "other-room": issue_join_token(JOIN_SECRET, "elsewhere", "eve", 600)}

    async def scenario() -> None:
        eve = SyntheticParticipant(server.url, "door", "Eve", None, token=tokens.get(token, token))
        try:
            with pytest.raises(RuntimeError):
                await eve.join(timeout=10)
            assert eve.errors[-1]["error"] == code
            assert not server.conference.members("door")
        finally:
            await eve.leave()

    asyncio.run(scenario())


def test_a_token_without_a_name_joins_under_its_identity(server: ServerThread) -> None:
    async def scenario() -> None:
        guest = SyntheticParticipant(server.url, "named-room", "", None,
                                     token=issue_join_token(JOIN_SECRET, "named-room", "Grace Hopper", 600))
        try:
            await guest.join(timeout=10)
            assert [p.name for p in server.conference.members("named-room")] == ["Grace Hopper"]
        finally:
            await guest.leave()

    asyncio.run(scenario())


def test_backgrounds_and_room_settings_survive_a_restart(tmp_path) -> None:
    first = ServerThread(tmp_path, workers=1, admin_token=ADMIN_TOKEN).start()
    try:
        record = upload(first, media_files.encode(media_files.photo(), "WEBP"), "kept.webp").json()
        assert requests.put(api(first, "/rooms/kept-room"), json={"background_id": record["id"]}, headers=ADMIN,
                            timeout=10).status_code == 200
        image = requests.get(api(first, f"/backgrounds/{record['id']}/image"), timeout=10).content
    finally:
        first.stop()
    second = ServerThread(tmp_path, workers=1, admin_token=ADMIN_TOKEN).start()
    try:
        assert requests.get(api(second, "/backgrounds"), timeout=10).json() == [record]
        assert requests.get(api(second, f"/backgrounds/{record['id']}/image"), timeout=10).content == image
        assert second.conference.room_settings.get("kept-room").background_id == record["id"]
    finally:
        second.stop()


def test_a_join_token_may_come_in_the_websocket_url(server: ServerThread) -> None:
    async def scenario() -> None:
        token = issue_join_token(JOIN_SECRET, "url-room", "Ada", 600)
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{server.url}/ws?token={token}") as ws:
                await ws.send_json({"type": "join", "room": "url-room"})
                joined = await ws.receive_json(timeout=10)
                assert joined["type"] == "joined" and joined["name"] == "Ada"
                await ws.send_json({"type": "leave"})

    asyncio.run(scenario())


def test_a_moderator_mutes_and_removes_a_participant(server: ServerThread, astronaut: np.ndarray) -> None:
    def moderate(method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, api(server, f"/rooms/{path}"), headers=ADMIN, timeout=10, **kwargs)

    async def scenario() -> None:
        ada = SyntheticParticipant(server.url, "mod-room", "Ada", FrameSourceTrack(lambda i: astronaut),
                                   token=issue_join_token(JOIN_SECRET, "mod-room", "Ada", 300))
        bob = SyntheticParticipant(server.url, "mod-room", "Bob", None,
                                   token=issue_join_token(JOIN_SECRET, "mod-room", "Bob", 300))
        await ada.join()
        await bob.join()
        try:
            refusals = [await asyncio.to_thread(moderate, method, path, **kwargs) for method, path, kwargs in [
                ("PATCH", "mod-room/participants/nobody", {"json": {"microphone": False}}),
                ("DELETE", "mod-room/participants/nobody", {}),
                ("PATCH", "bad%20room/participants/Ada", {"json": {"microphone": False}}),
                ("PATCH", "mod-room/participants/Ada", {"json": {}}),
                ("PATCH", "mod-room/participants/Ada", {"json": {"volume": 0}}),
                ("PATCH", "mod-room/participants/Ada", {"json": {"microphone": "off"}}),
                ("PATCH", "mod-room/participants/Ada", {"data": "not json"}),
            ]]
            assert [(r.status_code, r.json()["error"]) for r in refusals] == [
                (404, "unknown_participant"), (404, "unknown_participant"), (400, "bad_room"),
                (400, "unknown_field"), (400, "unknown_field"), (400, "bad_media"), (400, "bad_json")]
            assert server.conference.participants[ada.id].microphone_on  # nothing changed

            muted = await asyncio.to_thread(moderate, "PATCH", f"mod-room/participants/{ada.id}",
                                            json={"microphone": False})
            assert muted.status_code == 200
            assert muted.json() == {"id": ada.id, "name": "Ada", "room": "mod-room", "microphone": False, "camera": True}
            await wait_for(lambda: ada.media.get(ada.id) == bob.media.get(ada.id) == {
                "microphone": False, "camera": True, "by": "moderator"})
            by_name = await asyncio.to_thread(moderate, "PATCH", "mod-room/participants/Ada", json={"camera": False})
            assert by_name.status_code == 200 and not by_name.json()["camera"]
            assert not server.conference.participants[ada.id].camera_on

            removed = await asyncio.to_thread(moderate, "DELETE", "mod-room/participants/Ada")
            assert removed.status_code == 204
            await wait_for(lambda: ada.removed == "removed" and ada.id not in bob.others)
            assert ada.id not in server.conference.participants
            again = await asyncio.to_thread(moderate, "DELETE", f"mod-room/participants/{ada.id}")
            assert (again.status_code, again.json()["error"]) == (404, "unknown_participant")
        finally:
            await ada.leave()
            await bob.leave()

    asyncio.run(scenario())
