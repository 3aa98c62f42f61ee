"""The HTTP API as an aiohttp sub-application mounted at ``/api``, with JSON errors throughout."""

from __future__ import annotations

from aiohttp import web

from . import backgrounds_api, moderation_api, recordings_api, rooms_api
from .api_errors import json_errors
from .keys import SETTINGS
from .openapi import openapi_document


def create_api_app() -> web.Application:
    """The ``/api`` sub-application; its handlers reach shared state through ``request.config_dict``."""
    api = web.Application(middlewares=[json_errors])
    backgrounds_api.add_routes(api)
    rooms_api.add_routes(api)
    moderation_api.add_routes(api)
    recordings_api.add_routes(api)
    api.router.add_get("/openapi.json", _openapi)
    return api


async def _openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(request.config_dict[SETTINGS].max_upload_bytes))
