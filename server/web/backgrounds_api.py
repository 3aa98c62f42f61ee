"""``/api/backgrounds``: upload (admin), list, describe, serve images and thumbnails, delete (admin)."""

from __future__ import annotations

import asyncio

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from ..storage.background_store import THUMBNAIL_WIDTHS, BackgroundRecord, is_background_id
from ..storage.image_intake import ImageRejected
from .admin_auth import require_admin
from .api_errors import ApiError
from .keys import BACKGROUND_STORE, CONFERENCE, SETTINGS, UPLOAD_SLOTS

MULTIPART_OVERHEAD = 64 * 1024
"""Room for multipart headers and the name field on top of the file's byte limit."""
MAX_NAME_FIELD_BYTES = 4096
_CHUNK = 64 * 1024
_IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}


def add_routes(app: web.Application) -> None:
    """Register the background routes on the API sub-application."""
    app.router.add_post("/backgrounds", upload_background)
    app.router.add_get("/backgrounds", list_backgrounds)
    app.router.add_get("/backgrounds/{id}", get_background)
    app.router.add_get("/backgrounds/{id}/image", get_background_image)
    app.router.add_delete("/backgrounds/{id}", delete_background)


async def upload_background(request: web.Request) -> web.Response:
    """Store a new background from the multipart field ``file`` (and optional ``name``)."""
    require_admin(request)
    max_bytes = request.config_dict[SETTINGS].max_upload_bytes
    if request.content_length is not None and request.content_length > max_bytes + MULTIPART_OVERHEAD:
        raise ApiError(413, "too_large", f"uploads are limited to {max_bytes} bytes")
    data, name, filename = await _read_upload(request, max_bytes)
    store = request.config_dict[BACKGROUND_STORE]
    try:
        async with request.config_dict[UPLOAD_SLOTS]:
            record = await asyncio.to_thread(store.add, data, name, filename)
    except ImageRejected as rejection:
        raise ApiError(rejection.status, rejection.code, rejection.detail) from None
    await request.config_dict[CONFERENCE].backgrounds_changed()
    return web.json_response(record.as_dict(), status=201, headers={"Location": f"/api/backgrounds/{record.id}"})


async def list_backgrounds(request: web.Request) -> web.Response:
    """Every uploaded background, oldest first."""
    records = await asyncio.to_thread(request.config_dict[BACKGROUND_STORE].list)
    return web.json_response([r.as_dict() for r in records])


async def get_background(request: web.Request) -> web.Response:
    """One uploaded background's description."""
    return web.json_response((await _record(request)).as_dict())


async def get_background_image(request: web.Request) -> web.StreamResponse:
    """The stored image, or a thumbnail ``width`` pixels wide."""
    record = await _record(request)
    store = request.config_dict[BACKGROUND_STORE]
    width_text = request.query.get("width")
    if width_text is None:
        try:
            body = await asyncio.to_thread(lambda: store.image_path(record.id).read_bytes())
        except FileNotFoundError:
            raise _not_found(record.id) from None
        return web.Response(body=body, content_type="image/jpeg", headers=_IMMUTABLE)
    low, high = THUMBNAIL_WIDTHS
    if not width_text.isdigit() or not low <= int(width_text) <= high:
        raise ApiError(400, "bad_width", f"width must be an integer from {low} to {high}")
    thumbnail = await asyncio.to_thread(store.thumbnail, record.id, int(width_text))
    if thumbnail is None:
        raise _not_found(record.id)
    return web.Response(body=thumbnail, content_type="image/jpeg", headers=_IMMUTABLE)


async def delete_background(request: web.Request) -> web.Response:
    """Remove a background; whoever uses it falls back to the default without interruption."""
    require_admin(request)
    background_id = request.match_info["id"]
    if not await asyncio.to_thread(request.config_dict[BACKGROUND_STORE].delete, background_id):
        raise _not_found(background_id)
    await request.config_dict[CONFERENCE].backgrounds_changed(deleted=background_id)
    return web.Response(status=204)


async def _record(request: web.Request) -> BackgroundRecord:
    background_id = request.match_info["id"]
    record = request.config_dict[BACKGROUND_STORE].get(background_id) if is_background_id(background_id) else None
    if record is None:
        raise _not_found(background_id)
    return record


def _not_found(background_id: str) -> ApiError:
    return ApiError(404, "not_found", f"no background {background_id!r}")


async def _read_upload(request: web.Request, max_bytes: int) -> tuple[bytes, str | None, str | None]:
    """The file's bytes, the name field and the file's client-side name; the file's size is checked
    chunk by chunk as it arrives."""
    if request.content_type != "multipart/form-data":
        raise ApiError(400, "expected_multipart", "send multipart/form-data with the image in the field 'file'")
    data: bytearray | None = None
    name: str | None = None
    filename: str | None = None
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise ApiError(400, "bad_multipart", "nested multipart bodies are not accepted")
            if part.name == "file" and data is None:
                data, filename = await _read_limited(part, max_bytes, "the file", 413), part.filename
            elif part.name == "name" and name is None:
                raw = await _read_limited(part, MAX_NAME_FIELD_BYTES, "the name", 400)
                name = raw.decode("utf-8")
            else:
                raise ApiError(400, "bad_multipart", f"unexpected or repeated field {part.name!r}; "
                               "send one 'file' and optionally one 'name'")
    except ApiError:
        raise
    except UnicodeDecodeError:
        raise ApiError(400, "bad_name", "the name must be UTF-8 text") from None
    except (HttpProcessingError, ValueError, AssertionError, RuntimeError, LookupError) as error:
        raise ApiError(400, "bad_multipart", f"the multipart body is malformed: {error}") from None
    if data is None:
        raise ApiError(400, "missing_file", "the multipart field 'file' is missing")
    return bytes(data), name, filename


async def _read_limited(part: BodyPartReader, limit: int, what: str, status: int) -> bytearray:
    buffer = bytearray()
    while chunk := await part.read_chunk(_CHUNK):
        buffer += chunk
        if len(buffer) > limit:
            code = "too_large" if status == 413 else "field_too_large"
            raise ApiError(status, code, f"{what} exceeds {limit} bytes")
    return buffer
