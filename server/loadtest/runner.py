"""``backdrop loadtest``: synthetic participants in rooms, glass-to-glass latency from the frame code.

Each participant is a real aiortc peer joining through the signaling WebSocket as a latency probe,
sending footage of a person stamped with the frame code (``framecode.py``) as a pre-encoded VP8 loop,
and receiving its own composite and the others'. Every received frame is decoded and its code read:
the sender's send time of that frame gives the glass-to-glass latency, missing sends give the loss.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from urllib.parse import urlsplit

import aiohttp
import av
import numpy as np
from prometheus_client.parser import text_string_to_metric_families

from ..rtc import aiortc_patches
from .framecode import read_code
from .participant import RefusedJoin, SyntheticParticipant
from .stamped_source import StampedLoopTrack, moved_footage, stamped_loop

logger = logging.getLogger(__name__)

LOOP_SECONDS = 6
"""Length of each sender's pre-encoded loop (frame numbers repeat after it; latencies are far shorter)."""


@dataclass(frozen=True)
class LoadtestConfig:
    """What to run."""

    url: str
    rooms: int = 1
    participants: int = 2
    """In total, spread over the rooms in turn."""
    duration: float = 30.0
    width: int = 640
    height: int = 480
    fps: int = 30
    bitrate: int = 300_000
    footage: str | None = None
    room_prefix: str = "loadtest"
    probe: bool = True
    """Join as latency probes (the server passes the frame-code corner through)."""
    token_for: Callable[[str, str], str] | None = None
    """Makes a join token for (room, identity) when the server needs one."""
    relay_only: bool = False
    """Connect only through the TURN servers the server hands out (to load a TURN deployment)."""
    more_urls: tuple[str, ...] = ()
    """Further nodes of a cluster: participants enter through ``url`` and these in turn (each is sent on
    to its room's node)."""

    @property
    def entry_urls(self) -> tuple[str, ...]:
        """The nodes participants enter through, in turn (without trailing slashes)."""
        return tuple(url.rstrip("/") for url in (self.url, *self.more_urls))

    def __post_init__(self) -> None:
        for url in self.entry_urls:
            if urlsplit(url).scheme not in ("http", "https"):
                raise ValueError(f"--url must be an http(s) URL, got {url!r}")
        if not 1 <= self.participants <= 250 or not 1 <= self.rooms <= self.participants:
            raise ValueError("need 1-250 participants and 1 <= rooms <= participants")
        if self.width < 640 or self.height < 480:
            raise ValueError("the frame code needs at least 640x480")
        if self.duration <= 0 or not 1 <= self.fps <= 60 or self.bitrate < 50_000:
            raise ValueError("duration > 0, fps 1-60 and bitrate >= 50k are needed")


@dataclass
class StreamRecord:
    """What one receiver saw of one sender's composite."""

    sender: str
    receiver: str
    frames: int = 0
    unreadable: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    sequences: set[int] = field(default_factory=set)
    first_at: float | None = None
    last_at: float | None = None
    per_second: dict[int, int] = field(default_factory=lambda: defaultdict(int))


@dataclass
class Sample:
    """One second of the run: elapsed time, server and generator CPU (% of one core)."""

    t: float
    server_cpu: float | None
    generator_cpu: float


class Loadtest:
    """One load test run; ``run()`` returns the JSON summary."""

    def __init__(self, config: LoadtestConfig, progress: Callable[[str], None] | None = None) -> None:
        self.config = config
        self.progress = progress
        self.participants: list[SyntheticParticipant] = []
        self.tracks: dict[int, StampedLoopTrack] = {}
        self.names: dict[int, str] = {}
        self.streams: dict[tuple[str, str], StreamRecord] = {}
        self.samples: list[Sample] = []
        self.join_ms: dict[str, float] = {}
        self.refused: dict[str, str] = {}  # participant name -> the error code of its refused join
        self.first_frame_ms: dict[str, float | None] = {}
        self.started = 0.0
        self._watchers: list[asyncio.Task] = []  # referenced so they are not collected mid-flight

    async def run(self) -> dict:
        """Join everyone, run for the duration, leave, and summarise."""
        config = self.config
        # Receive like a browser: release each frame on its RTP marker bit (see aiortc_patches).
        aiortc_patches.install()
        footage = await asyncio.to_thread(_load_footage, config.footage)
        loops = await asyncio.gather(*(asyncio.to_thread(self._encode_loop, footage, index)
                                       for index in range(config.participants)))
        self.started = time.monotonic()
        sampler = asyncio.ensure_future(self._sample())
        try:
            for index, packets in enumerate(loops):
                await self._join(index, packets)
            deadline = self.started + config.duration
            while time.monotonic() < deadline:
                await asyncio.sleep(min(1.0, deadline - time.monotonic()))
                self._report_progress()
            received_bytes = await asyncio.gather(*(p.bytes_received() for p in self.participants),
                                                  return_exceptions=True)
        finally:
            sampler.cancel()
            for watcher in self._watchers:
                watcher.cancel()
            await asyncio.gather(*(p.leave() for p in self.participants), return_exceptions=True)
        return self._summary(received_bytes)

    def _encode_loop(self, footage: list[np.ndarray], index: int) -> list:
        config = self.config
        frames = moved_footage(footage, LOOP_SECONDS * config.fps, config.width, config.height, seed=index)
        return stamped_loop(frames, index + 1, config.bitrate, config.fps)

    async def _join(self, index: int, packets: list) -> None:
        config = self.config
        sender_id, room = index + 1, f"{config.room_prefix}-{index % config.rooms}"
        name = f"p{index:03d}"
        track = StampedLoopTrack(packets, config.fps)
        self.tracks[sender_id], self.names[sender_id] = track, name
        token = config.token_for(room, name) if config.token_for else None
        entries = config.entry_urls
        participant = SyntheticParticipant(entries[index % len(entries)], room, name, track, probe=config.probe, keep_images=False,
                                           token=token, relay_only=config.relay_only, on_frame=lambda label, frame, now: self._on_frame(
                                               name, label, frame, now))
        self.participants.append(participant)
        started = time.monotonic()
        try:
            await participant.join()
        except RefusedJoin as refusal:  # e.g. a node at its participant limit: counted, the run goes on
            self.refused[name] = refusal.code
            self.participants.remove(participant)
            await participant.leave()
            return
        self.join_ms[name] = (time.monotonic() - started) * 1000.0
        self._watchers.append(asyncio.ensure_future(self._first_frame(participant, started)))

    async def _first_frame(self, participant: SyntheticParticipant, started: float) -> None:
        try:
            stream = await participant.wait_for_frames("self", 1, timeout=self.config.duration)
            self.first_frame_ms[participant.name] = (stream.first_at - started) * 1000.0
        except TimeoutError:
            self.first_frame_ms[participant.name] = None

    def _on_frame(self, receiver: str, label: str, frame: av.VideoFrame, now: float) -> None:
        sender = receiver if label == "self" else label
        record = self.streams.setdefault((sender, receiver), StreamRecord(sender, receiver))
        record.frames += 1
        record.first_at = record.first_at or now
        record.last_at = now
        record.per_second[int(now - self.started)] += 1
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:48, :224]
        code = read_code(luma)
        track = self.tracks.get(code.sender_id) if code else None
        sent = track.sent(code.frame_number) if track and code else None
        if sent is None or self.names.get(code.sender_id) != sender:
            record.unreadable += 1
            return
        sequence, sent_at = sent
        record.latencies_ms.append((now - sent_at) * 1000.0)
        record.sequences.add(sequence)

    async def _sample(self) -> None:
        last_server, last_generator, last_time = None, _own_cpu(), time.monotonic()
        async with aiohttp.ClientSession() as http:
            while True:
                await asyncio.sleep(1.0)
                server = await _cluster_cpu(http, self._nodes())
                generator, now = _own_cpu(), time.monotonic()
                elapsed = now - last_time
                server_pct = (None if server is None or last_server is None
                              else 100.0 * (server - last_server) / elapsed)
                self.samples.append(Sample(round(now - self.started, 2), server_pct,
                                           100.0 * (generator - last_generator) / elapsed))
                last_server, last_generator, last_time = server, generator, now

    def _nodes(self) -> list[str]:
        """The nodes asked and the nodes the participants ended on (one without a cluster)."""
        ended_on = {p.node_url for p in self.participants if p.node_url}
        return sorted({*self.config.entry_urls, *ended_on})

    def _report_progress(self) -> None:
        if self.progress is None:
            return
        elapsed = time.monotonic() - self.started
        recent = [r.per_second.get(int(elapsed) - 1, 0) for r in self.streams.values()]
        latencies = [v for r in self.streams.values() for v in r.latencies_ms[-30:]]
        cpu = self.samples[-1].server_cpu if self.samples else None
        self.progress(f"t={elapsed:5.1f}s  participants {len(self.participants)}/{self.config.participants}  "
                      f"streams {len(self.streams)}  fps min {min(recent, default=0):2d}  "
                      f"latency p50 {_percentile(latencies, 50):5.1f} ms  "
                      f"server CPU {'-' if cpu is None else f'{cpu:.0f}%'}")

    def _summary(self, received_bytes: list) -> dict:
        streams = []
        for record in sorted(self.streams.values(), key=lambda r: (r.receiver, r.sender)):
            span = (record.last_at - record.first_at) if record.first_at and record.last_at else 0.0
            seen = record.sequences
            lost = (max(seen) - min(seen) + 1 - len(seen)) if seen else 0
            streams.append({
                "sender": record.sender, "receiver": record.receiver,
                "fps": round((record.frames - 1) / span, 2) if span > 0 else 0.0,
                "latency_ms": {f"p{q}": round(_percentile(record.latencies_ms, q), 2) for q in (50, 95, 99)},
                "frames_lost": lost, "frames_received": record.frames, "frames_unreadable": record.unreadable,
            })
        received = sum(sum(b.values()) for b in received_bytes if isinstance(b, dict))
        latencies = [v for r in self.streams.values() for v in r.latencies_ms]
        server_cpu = [s.server_cpu for s in self.samples if s.server_cpu is not None]
        totals = {
            "participants": len(self.participants), "rooms": self.config.rooms, "streams": len(streams),
            "duration_s": self.config.duration,
            "fps_min": min((s["fps"] for s in streams), default=0.0),
            "latency_ms": {f"p{q}": round(_percentile(latencies, q), 2) for q in (50, 95, 99)},
            "frames_lost": sum(s["frames_lost"] for s in streams),
            "frames_received": sum(s["frames_received"] for s in streams),
            "bytes_sent": sum(t.bytes_sent for t in self.tracks.values()), "bytes_received": received,
            "join_ms": _stats(list(self.join_ms.values())),
            "first_frame_ms": _stats([v for v in self.first_frame_ms.values() if v is not None]),
            "server_cpu_pct_mean": round(float(np.mean(server_cpu)), 1) if server_cpu else None,
            "participants_per_node": dict(Counter(p.node_url for p in self.participants if p.node_url)),
            "joins_redirected": sum(p.node_url != p.url for p in self.participants if p.node_url),
            "joins_refused": dict(Counter(self.refused.values())),
            "generator_cpu_pct_mean": round(float(np.mean([s.generator_cpu for s in self.samples])), 1)
            if self.samples else None,
        }
        config = {k: v for k, v in asdict(self.config).items() if k != "token_for"}
        node_of = {p.name: p.node_url for p in self.participants}
        moves_of = {p.name: p.moves for p in self.participants}
        return {"config": config, "streams": streams, "totals": totals,
                "participants": [{"name": n, "join_ms": round(self.join_ms.get(n, 0.0), 1),
                                  "first_frame_ms": None if self.first_frame_ms.get(n) is None
                                  else round(self.first_frame_ms[n], 1), "node": node_of.get(n),
                                  "moves": moves_of.get(n, 0), "refused": self.refused.get(n)}
                                 for n in self.names.values()],
                "timeline": {"samples": [asdict(s) for s in self.samples],
                             "fps": {f"{r.sender}->{r.receiver}": dict(sorted(r.per_second.items()))
                                     for r in self.streams.values()}},
                "latencies_ms": {f"{r.sender}->{r.receiver}": [round(v, 2) for v in r.latencies_ms]
                                 for r in self.streams.values()}}


def format_table(summary: dict) -> str:
    """The end-of-run table: one line per received stream, then the totals."""
    lines = [f"{'sender':>8} -> {'receiver':<8} {'fps':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'lost':>6}"]
    for s in summary["streams"]:
        latency = s["latency_ms"]
        lines.append(f"{s['sender']:>8} -> {s['receiver']:<8} {s['fps']:6.1f} {latency['p50']:8.1f} "
                     f"{latency['p95']:8.1f} {latency['p99']:8.1f} {s['frames_lost']:6d}")
    t = summary["totals"]
    lines.append(f"{t['participants']} participants in {t['rooms']} rooms, {t['streams']} streams: fps min "
                 f"{t['fps_min']:.1f}; glass-to-glass p50 {t['latency_ms']['p50']:.1f} ms, p95 "
                 f"{t['latency_ms']['p95']:.1f} ms, p99 {t['latency_ms']['p99']:.1f} ms; lost {t['frames_lost']} "
                 f"of {t['frames_received'] + t['frames_lost']}")
    lines.append(f"join p50 {t['join_ms']['p50']:.0f} ms; first frame p50 {t['first_frame_ms']['p50']:.0f} ms; "
                 f"server CPU {t['server_cpu_pct_mean']}%, generator CPU {t['generator_cpu_pct_mean']}% "
                 f"(100% = one core); sent {t['bytes_sent'] / 1e6:.1f} MB, received {t['bytes_received'] / 1e6:.1f} MB")
    if t["joins_refused"]:
        reasons = ", ".join(f"{code}: {count}" for code, count in sorted(t["joins_refused"].items()))
        lines.append(f"{sum(t['joins_refused'].values())} joins refused ({reasons})")
    if len(t["participants_per_node"]) > 1 or t["joins_redirected"]:
        spread = ", ".join(f"{url}: {count}" for url, count in sorted(t["participants_per_node"].items()))
        lines.append(f"participants per node: {spread}; {t['joins_redirected']} joins redirected to their room's node")
    return "\n".join(lines)


def parse_rate(text: str) -> int:
    """Bits per second from 300000, 300k or 1.2M; ValueError otherwise."""
    text = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


def terminal_progress(line: str) -> None:
    """One updating line on a terminal, plain lines otherwise."""
    if sys.stderr.isatty():
        sys.stderr.write("\r" + line[:150].ljust(150))
    else:
        sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _load_footage(path: str | None) -> list[np.ndarray]:
    from .whip_publisher import load_footage

    return load_footage(path, 640, 480, limit=LOOP_SECONDS * 30)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


def _stats(values: list[float]) -> dict:
    return {"p50": round(_percentile(values, 50), 1), "max": round(max(values), 1) if values else 0.0}


def _own_cpu() -> float:
    times = os.times()
    return times.user + times.system


async def _cluster_cpu(http: aiohttp.ClientSession, urls: list[str]) -> float | None:
    """Sum of the nodes' process CPU seconds (None if no node answered)."""
    seconds = [s for s in await asyncio.gather(*(_server_cpu(http, url) for url in urls)) if s is not None]
    return sum(seconds) if seconds else None


async def _server_cpu(http: aiohttp.ClientSession, url: str) -> float | None:
    """Sum of the server's process CPU seconds from its /metrics, or None if unavailable."""
    try:
        async with http.get(f"{url.rstrip('/')}/metrics", timeout=aiohttp.ClientTimeout(total=2)) as response:
            text = await response.text()
    except (aiohttp.ClientError, asyncio.TimeoutError):
        return None
    for family in text_string_to_metric_families(text):
        if family.name == "backdrop_process_cpu_seconds":
            return sum(sample.value for sample in family.samples if sample.name.endswith("_total"))
    return None
