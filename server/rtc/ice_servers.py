"""STUN and TURN servers handed to clients, with short-lived TURN credentials.

The server's own connections gather host candidates only: it is the party with a reachable address.
Clients behind firewalls that block UDP, or NATs that defeat direct checks, reach it through a TURN
relay. Credentials follow the TURN REST API scheme that coturn implements as ``use-auth-secret``:
the username is ``EXPIRY:IDENTITY`` (EXPIRY in Unix seconds) and the password is the base64 of the
HMAC-SHA1 of the username under the secret the TURN server shares with us, so no per-user state is
kept anywhere and a leaked credential expires by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

ICE_URL_SCHEMES = ("stun:", "turn:", "turns:")
TURN_CREDENTIAL_SECONDS = 24 * 3600
"""How long a participant's TURN credentials stay valid (a call longer than this keeps its relay:
TURN checks them when allocating and refreshing, coturn only at allocation)."""


@dataclass(frozen=True)
class IceServer:
    """One entry of a client's ``RTCConfiguration.iceServers``."""

    url: str
    username: str | None = None
    credential: str | None = None

    def as_json(self) -> dict:
        """The browser's ``RTCIceServer`` dictionary."""
        entry: dict = {"urls": [self.url]}
        if self.username is not None:
            entry.update(username=self.username, credential=self.credential)
        return entry

    def as_link(self) -> str:
        """The WHIP/WHEP ``Link`` header value (RFC 9725, section 4.6)."""
        link = f'<{self.url}>; rel="ice-server"'
        if self.username is not None:
            link += f'; username="{self.username}"; credential="{self.credential}"; credential-type="password"'
        return link


def check_ice_urls(urls: tuple[str, ...], turn_secret: str | None) -> None:
    """ValueError unless every URL is stun:, turn: or turns:, and TURN comes with its secret."""
    for url in urls:
        if not url.startswith(ICE_URL_SCHEMES) or len(url.split(":", 1)[1].strip()) == 0:
            raise ValueError(f"ICE server URLs start with stun:, turn: or turns: and name a host, got {url!r}")
        if url.startswith(("turn:", "turns:")) and not turn_secret:
            raise ValueError(f"{url} needs the TURN server's shared secret (--turn-secret or BACKDROP_TURN_SECRET)")


def turn_credentials(secret: str, identity: str, now: float,
                     seconds: int = TURN_CREDENTIAL_SECONDS) -> tuple[str, str]:
    """(username, password) valid for ``seconds`` from ``now`` under ``secret``, for ``identity``."""
    username = f"{int(now) + seconds}:{identity}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers_for(urls: tuple[str, ...], turn_secret: str | None, identity: str, now: float) -> list[IceServer]:
    """The ICE servers to give one client: STUN as they are, TURN with that client's credentials."""
    servers = []
    for url in urls:
        if url.startswith("stun:"):
            servers.append(IceServer(url))
        else:
            assert turn_secret is not None  # check_ice_urls at start-up
            servers.append(IceServer(url, *turn_credentials(turn_secret, identity, now)))
    return servers
