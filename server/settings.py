"""Server settings: one frozen dataclass, filled from the command line and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _from_environment(name: str) -> str | None:
    return os.environ.get(name) or None


def _default_client_dir() -> Path:
    # A checkout (or an editable install) has client_web/ beside server/; a wheel does not carry it.
    configured = _from_environment("BACKDROP_CLIENT_DIR")
    return Path(configured) if configured else Path(__file__).resolve().parents[1] / "client_web"


def _default_workers() -> int:
    # Two per core: streams pinned to the same worker wait for each other in FIFO order, while more
    # processes than cores are time-sliced by the kernel. Measured with scripts/bench_server.py on 2
    # cores, 4 participants: 2 workers gave p95 42-47 ms server-added latency, 4 workers 18-20 ms.
    return max(2, min(2 * (os.cpu_count() or 1), 8))


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` needs; the defaults run without any external service."""

    host: str = "127.0.0.1"
    """Address to listen on."""
    port: int = 8080
    """TCP port for HTTP and the signaling WebSocket."""
    data_dir: Path = Path("./data")
    """Where uploaded backgrounds and the admin token live."""
    workers: int = field(default_factory=_default_workers)
    """Pipeline worker processes (about 240 MB each: each holds its own segmentation model)."""
    loopback_candidates: bool | None = None
    """Offer 127.0.0.1 ICE candidates; None means: when the host is a loopback address."""
    statistic: str = "mean"
    """Default statistic reducing each frame's quality matrix."""
    degradation: str = "codec"
    """How backgrounds are degraded: codec (the stream's own), jpeg, webp, vp8, h264, blur, downscale."""
    output_bitrate: int = 1_200_000
    """Bitrate of each encoded composite (VP8), pinned: rebuilding encoders on REMB costs keyframes."""
    scene_width: int = 960
    scene_height: int = 540
    """Size of a room's shared scene (16:9, the broadcast case)."""
    scene_max_fps: float = 90.0
    """Scene frames are composed as seats' new pictures come in (``rtc.scene.GATHER_SECONDS``), at most
    this often: well above the cameras' 30 fps, so a seat's picture rarely waits for the cap."""
    scene_matching: bool = True
    """Degrade a scene's better seats to its weakest (off: seats pass as they arrive, for comparison)."""
    max_participants_per_room: int = 9
    """Joins beyond this are refused."""
    max_participants: int = 0
    """Participants this node takes in all its rooms together (``BACKDROP_MAX_PARTICIPANTS``, read by
    the command line); 0: no limit. Beyond it a join is refused (``server_full``) so that the calls
    under way keep their frame rate, or, in a cluster, a room nobody holds yet is placed on a node
    with room to spare. ``scripts/capacity.py`` measures what a machine sustains."""
    admin_token: str | None = field(default_factory=lambda: _from_environment("BACKDROP_ADMIN_TOKEN"))
    """Bearer token of the admin API; None: generated on first start and kept in the data directory."""
    join_secret: str | None = field(default_factory=lambda: _from_environment("BACKDROP_JOIN_SECRET"))
    """HS256 secret of join tokens; None: joins are open (development default)."""
    ice_servers: tuple[str, ...] = field(default_factory=lambda: tuple(
        url for url in (_from_environment("BACKDROP_ICE_SERVERS") or "").split() if url))
    """STUN/TURN URLs handed to clients (``BACKDROP_ICE_SERVERS``, space-separated); none by default:
    clients connect straight to the server's own address."""
    turn_secret: str | None = field(default_factory=lambda: _from_environment("BACKDROP_TURN_SECRET"))
    """The TURN server's shared secret (coturn's static-auth-secret), from which each participant gets
    credentials of their own (``rtc.ice_servers``); required with turn: URLs."""
    public_addresses: tuple[str, ...] = field(default_factory=lambda: tuple(
        (_from_environment("BACKDROP_PUBLIC_ADDRESS") or "").split()))
    """The address(es) a one-to-one NAT maps to this machine, port for port (``BACKDROP_PUBLIC_ADDRESS``,
    space-separated; at most one IPv4 and one IPv6): announced in place of the interface's address in
    every host candidate of that family (``rtc.nat``). None by default: the interface's own address."""
    ice_ports: tuple[int, int] | None = None
    """Inclusive UDP port range the server's ICE sockets bind in (``BACKDROP_ICE_PORTS``, ``MIN-MAX``,
    read by the command line); None: the kernel's ephemeral ports."""
    redis_url: str | None = field(default_factory=lambda: _from_environment("BACKDROP_REDIS_URL"))
    """Redis shared by the nodes of a cluster (``BACKDROP_REDIS_URL``, e.g. redis://10.0.0.5:6379/0): rooms
    are placed on nodes through it (``rtc.redis_placement``). None: one node, no external service."""
    node_url: str | None = field(default_factory=lambda: _from_environment("BACKDROP_NODE_URL"))
    """This node's base URL as browsers and WHIP/WHEP clients reach it (``BACKDROP_NODE_URL``, e.g.
    https://node-a.example.com): where the other nodes send the clients of the rooms this node hosts.
    Required with ``redis_url``."""
    whip_media_timeout: float = 5.0
    """A WHIP publisher whose video stops for this long is gone (some never answer ICE consent)."""
    max_upload_bytes: int = 15 * 1024 * 1024
    """Largest background upload, checked while the body streams in."""
    max_upload_pixels: int = 40_000_000
    """Largest background pixel count, checked from the image header before decoding."""
    client_dir: Path = field(default_factory=_default_client_dir)
    """The browser client served at ``/``: ``BACKDROP_CLIENT_DIR``, else the checkout's ``client_web/``."""

    @property
    def offers_loopback(self) -> bool:
        """Whether peers should gather loopback candidates."""
        if self.loopback_candidates is not None:
            return self.loopback_candidates
        return self.host in ("127.0.0.1", "localhost", "::1")
