"""The admin API's bearer token: where it comes from, and the constant-time check of each request."""

from __future__ import annotations

import hmac
import logging
import os
import secrets
from pathlib import Path

from aiohttp import web

from ..settings import Settings
from .api_errors import ApiError
from .keys import ADMIN_TOKEN

logger = logging.getLogger(__name__)

TOKEN_FILE_NAME = "admin_token"


def resolve_admin_token(settings: Settings) -> str:
    """The configured token (``--admin-token`` or ``BACKDROP_ADMIN_TOKEN``); else the one kept in the
    data directory; else a new one, saved there with mode 0600 and printed once."""
    if settings.admin_token:
        return settings.admin_token
    path = Path(settings.data_dir) / TOKEN_FILE_NAME
    if path.exists():
        token = path.read_text(encoding="utf-8").strip()
        if token:
            return token
        path.unlink()
    token = secrets.token_urlsafe(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(token + "\n")
    print(f"Backdrop admin token (saved in {path}, shown only now): {token}", flush=True)
    logger.info("generated an admin token in %s", path)
    return token


def require_admin(request: web.Request) -> None:
    """Raise a 401 ``ApiError`` unless the request carries the admin bearer token."""
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    expected = request.config_dict[ADMIN_TOKEN]
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.strip().encode(), expected.encode()):
        raise ApiError(401, "unauthorized", "this route needs 'Authorization: Bearer <admin token>'",
                       {"WWW-Authenticate": 'Bearer realm="backdrop-admin"'})
