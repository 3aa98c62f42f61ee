"""``GET /metrics``: Prometheus text format, from a registry owned by the app (no global registry).

Histograms are observed as frames flow (the conference's ``StreamObserver``); gauges and counters of
rooms, participants, the worker pool and process CPU are read from live state at each scrape.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..pipeline.messages import FrameResult
from ..pipeline.pool import WorkerPool
from ..rtc.aiortc_patches import EncodedInfo
from ..rtc.conference import Conference
from ..rtc.recordings import Recordings

STAGES = ("decode", "segment", "estimate", "match", "composite", "encode")
_STAGE_BUCKETS = (0.0005, 0.001, 0.002, 0.004, 0.006, 0.008, 0.012, 0.016, 0.025, 0.05, 0.1, 0.25)
_LATENCY_BUCKETS = (0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08, 0.1, 0.15, 0.25, 0.5, 1.0)
_QUALITY_BUCKETS = (0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0)
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
LOOP_LAG_INTERVAL = 0.25


class ServerMetrics:
    """The server's metrics; also the conference's ``StreamObserver``."""

    def __init__(self, conference: Callable[[], Conference | None], pool: Callable[[], WorkerPool | None],
                 recordings: Callable[[], Recordings | None] = lambda: None) -> None:
        self.conference, self.pool, self.recordings = conference, pool, recordings
        self.registry = CollectorRegistry()
        self.stage_seconds = Histogram("backdrop_stage_seconds", "Time per frame in each pipeline stage",
                                       ["stage"], buckets=_STAGE_BUCKETS, registry=self.registry)
        self.latency_seconds = Histogram("backdrop_server_latency_seconds",
                                         "Frame received to composite packets sent (server-added latency)",
                                         buckets=_LATENCY_BUCKETS, registry=self.registry)
        self.quality = Histogram("backdrop_quality_loss", "Estimated frame quality (predicted 1 - SSIM)",
                                 buckets=_QUALITY_BUCKETS, registry=self.registry)
        self.loop_lag_seconds = Histogram("backdrop_event_loop_lag_seconds",
                                          "How late the event loop runs a timer", buckets=_LATENCY_BUCKETS,
                                          registry=self.registry)
        self.frames_received = 0
        self.frames_composited = 0
        self.masks_reused = 0
        self.last_loop_lag = 0.0
        self.registry.register(_LiveCollector(self))
        self._lag_task: asyncio.Task | None = None

    def frame_received(self, info: EncodedInfo | None) -> None:
        """A camera frame was decoded."""
        self.frames_received += 1
        if info is not None:
            self.stage_seconds.labels("decode").observe(info.decode_ms / 1000.0)

    def frame_composited(self, result: FrameResult, latency_s: float) -> None:
        """A composite was encoded and sent to its viewers."""
        self.frames_composited += 1
        self.masks_reused += result.mask_reused
        self.latency_seconds.observe(latency_s)
        self.quality.observe(result.quality)
        for stage in STAGES[1:]:
            if stage in result.timings_ms and not (stage == "segment" and result.mask_reused):
                self.stage_seconds.labels(stage).observe(result.timings_ms[stage] / 1000.0)

    def start(self) -> None:
        """Begin measuring event-loop lag."""
        self._lag_task = asyncio.ensure_future(self._measure_loop_lag())

    async def stop(self) -> None:
        """Stop measuring."""
        if self._lag_task is not None:
            self._lag_task.cancel()

    async def _measure_loop_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + LOOP_LAG_INTERVAL
            await asyncio.sleep(LOOP_LAG_INTERVAL)
            self.last_loop_lag = max(0.0, loop.time() - due)
            self.loop_lag_seconds.observe(self.last_loop_lag)


class _LiveCollector:
    """Reads rooms, participants, pool and CPU figures at scrape time."""

    def __init__(self, metrics: ServerMetrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        metrics = self.metrics
        conference, pool = metrics.conference(), metrics.pool()
        participants = list(conference.participants.values()) if conference else []
        yield _gauge("backdrop_participants", "Participants connected", len(participants))
        yield _gauge("backdrop_rooms", "Rooms with at least one participant",
                     len(conference.directory.rooms()) if conference else 0)
        scenes = list(conference.scenes.values()) if conference else []
        yield _gauge("backdrop_viewer_connections", "Composite and scene streams being sent (all viewers)",
                     sum(p.broadcast.viewers for p in participants) + sum(s.broadcast.viewers for s in scenes))
        yield _gauge("backdrop_scenes", "Rooms composing a shared scene", len(scenes))
        yield _gauge("backdrop_speaking_participants", "Participants speaking now (voice activity)",
                     sum(p.speaking for p in participants))
        if conference is not None:
            yield _gauge("backdrop_participant_limit", "Participants this node takes in all (0: no limit)",
                         conference.hosting.placement.capacity)
            yield _gauge("backdrop_node_draining", "Whether this node takes no new rooms (drained by an admin)",
                         float(conference.hosting.placement.draining))
            yield _counter("backdrop_joins_refused_full", "Joins refused because this node (in a cluster, every "
                           "node) took as many participants as it may", conference.hosting.joins_refused_full)
            yield _gauge("backdrop_cluster_redis_up", "Whether the cluster's Redis answered this node's last "
                         "report (1 without a cluster)", float(conference.hosting.placement.healthy))
            yield _counter("backdrop_joins_redirected", "Joins sent to the node hosting their room (a cluster)",
                           conference.hosting.joins_redirected)
            yield _counter("backdrop_rooms_moved", "Rooms whose members were sent to another node (handed over "
                           "when stopping, or taken while this node was cut off from Redis)", conference.hosting.rooms_moved)
        recordings = metrics.recordings()
        yield _gauge("backdrop_recordings_active", "Recordings being written",
                     recordings.active_count if recordings else 0)
        frames = CounterMetricFamily("backdrop_frames", "Frames through each stage", labels=["stage"])
        frames.add_metric(["received"], metrics.frames_received)
        if pool is not None:
            frames.add_metric(["submitted"], pool.stats.frames_submitted)
            frames.add_metric(["processed"], pool.stats.frames_done)
            frames.add_metric(["failed"], pool.stats.frames_failed)
        frames.add_metric(["composited"], metrics.frames_composited)
        yield frames
        dropped = CounterMetricFamily("backdrop_frames_dropped", "Frames skipped to keep latency low",
                                      labels=["stage"])
        if pool is not None:
            dropped.add_metric(["pool"], pool.stats.frames_dropped)
        yield dropped
        yield _counter("backdrop_masks_reused", "Composites made with the previous frame's mask (load shedding)",
                       metrics.masks_reused)
        yield _gauge("backdrop_event_loop_lag_last_seconds", "Latest event-loop lag sample", metrics.last_loop_lag)
        if pool is None:
            return
        streams_per_worker = pool.occupancy()
        occupancy = GaugeMetricFamily("backdrop_worker_streams", "Streams per pipeline worker", labels=["worker"])
        for index, count in streams_per_worker.items():
            occupancy.add_metric([str(index)], count)
        yield occupancy
        yield _gauge("backdrop_workers", "Pipeline worker processes", len(streams_per_worker))
        yield _counter("backdrop_worker_restarts", "Worker processes restarted after dying", pool.stats.restarts)
        yield _gauge("backdrop_encoders", "Composite encoders open (one per publishing stream)",
                     sum(streams_per_worker.values()))
        cpu = CounterMetricFamily("backdrop_process_cpu_seconds", "CPU time of the server's processes",
                                  labels=["process"])
        cpu.add_metric(["server"], _cpu_seconds(os.getpid()))
        for index, pid in pool.worker_pids().items():
            cpu.add_metric([f"worker-{index}"], _cpu_seconds(pid))
        yield cpu


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _counter(name: str, documentation: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, documentation, value=value)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (Linux /proc); 0 if it is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def metrics_response(metrics: ServerMetrics) -> web.Response:
    """Prometheus exposition of everything above."""
    return web.Response(body=generate_latest(metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
