"""Signed join tokens (HS256 JWT), in the spirit of LiveKit's access tokens.

A token names one room and one identity and expires; the server admits its bearer to that room only.
Claims: ``iss`` "backdrop", ``sub`` the identity, ``room``, ``iat``, ``nbf``, ``exp``, and LiveKit's
``video`` grant (``{"room": ..., "roomJoin": true}``) so LiveKit-style tooling reads them too; a token
naming its room either way is accepted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import jwt

ISSUER = "backdrop"
ALGORITHM = "HS256"
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class JoinRefused(ValueError):
    """A join token that does not admit to the requested room; ``code`` is sent to the client."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass(frozen=True)
class JoinGrant:
    """What a valid token allows."""

    room: str
    identity: str
    expires_at: int


def parse_duration(text: str) -> int:
    """Seconds in ``30s``, ``15m``, ``1h``, ``2d`` or a plain number of seconds."""
    match = _DURATION.match(text)
    if not match or float(match.group(1)) <= 0:
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 1h, 2d)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def issue_join_token(secret: str, room: str, identity: str, ttl_seconds: int, now: float | None = None) -> str:
    """A token admitting ``identity`` to ``room`` for ``ttl_seconds``."""
    if not secret:
        raise ValueError("a join secret is needed to sign tokens")
    issued = int(time.time() if now is None else now)
    claims = {"iss": ISSUER, "sub": identity, "room": room, "video": {"room": room, "roomJoin": True},
              "iat": issued, "nbf": issued, "exp": issued + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_join_token(secret: str, token: object, room: str) -> JoinGrant:
    """The grant of a token for ``room``; raises ``JoinRefused`` for a missing, forged, expired or
    other-room token."""
    if not isinstance(token, str) or not token:
        raise JoinRefused("unauthorized", "this server needs a join token (token) to join a room")
    try:
        claims = jwt.decode(token, secret, algorithms=[ALGORITHM], leeway=5, options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise JoinRefused("unauthorized", "the join token has expired") from None
    except jwt.InvalidTokenError as error:
        raise JoinRefused("unauthorized", f"the join token is invalid: {error}") from None
    grant = claims.get("video") if isinstance(claims.get("video"), dict) else {}
    token_room = claims.get("room", grant.get("room"))
    if not isinstance(token_room, str) or not isinstance(claims.get("sub"), str):
        raise JoinRefused("unauthorized", "the join token must name a room (room or video.room) and an identity (sub)")
    if grant.get("roomJoin") is False:
        raise JoinRefused("unauthorized", "the join token does not grant joining")
    if token_room != room:
        raise JoinRefused("wrong_room", f"the join token is for another room, not {room!r}")
    return JoinGrant(token_room, claims["sub"], int(claims["exp"]))
