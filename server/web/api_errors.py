"""JSON errors of the HTTP API: ``{"error": CODE, "detail": TEXT}`` for every failure, never a 5xx page."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiohttp import web
from redis import RedisError

from ..rtc.recordings import RecordingError
from ..rtc.signaling_error import SignalingError

logger = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 413: "too_large", 415: "unsupported_type", 500: "internal"}
SIGNALING_STATUS = {"room_full": 409, "unknown_participant": 404, "left": 409, "not_scene_mode": 409,
                    "placement_unavailable": 503, "server_full": 503}
"""The HTTP status of a ``SignalingError`` the conference raises under a route (by its code; others 400)."""


class ApiError(Exception):
    """A request the API refuses, with its status, machine-readable code and human detail."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.headers = status, code, detail, dict(headers or {})


RETRY_AFTER_SECONDS = 10
"""Sent as ``Retry-After`` with every 503 (a node full or draining, the cluster's Redis out of reach,
too many recordings at once): when to try again."""


def store_unavailable(error: Exception) -> str:
    """The detail of ``store_unavailable``: a cluster's shared stores (Redis) out of reach, nothing changed."""
    return f"the cluster's Redis cannot be reached: {error}"


def error_response(status: int, code: str, detail: str, headers: Mapping[str, str] | None = None) -> web.Response:
    """The JSON body every API error has (a 503 also says when to try again)."""
    headers = dict(headers or {})
    if status == 503:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return web.json_response({"error": code, "detail": detail}, status=status, headers=headers)


@web.middleware
async def json_errors(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Turn ``ApiError``, aiohttp's HTTP errors and unexpected failures into JSON error responses."""
    try:
        return await handler(request)
    except ApiError as error:
        return error_response(error.status, error.code, error.detail, error.headers)
    except RecordingError as error:  # a recording that cannot be started, stopped or deleted
        return error_response(error.status, error.code, error.detail)
    except SignalingError as error:  # what the conference refuses (a full room, Redis out of reach...)
        return error_response(SIGNALING_STATUS.get(error.code, 400), error.code, error.detail)
    except RedisError as error:  # a cluster's shared stores out of reach: nothing was changed
        return error_response(503, "store_unavailable", store_unavailable(error))
    except web.HTTPException as error:
        if error.status < 400:
            raise
        headers = {k: v for k, v in error.headers.items() if k.lower() in ("allow", "www-authenticate")}
        return error_response(error.status, _CODES.get(error.status, "error"), error.reason, headers)
    except asyncio.CancelledError:
        raise
    except Exception:
        logger.exception("%s %s failed", request.method, request.path)
        return error_response(500, "internal", "the server failed to handle this request; it has been logged")
