"""The worker process: holds its streams' processors and encoders and answers frame jobs.

Runs in a spawned process; talks to the server through one duplex connection. A failure in one
stream's job is reported as ``StreamFailed`` and the worker keeps serving its other streams.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from multiprocessing import shared_memory
from multiprocessing.connection import Connection

import cv2
import numpy as np

from ..imaging.yuv import planes
from .frame_processor import StreamProcessor
from .messages import (
    CloseStream, CutOutResult, FrameJob, FrameResult, OpenStream, Ready, SetBackground, SetProbe, SetSceneSeat,
    SetStatistic, Stop, StreamFailed,
)
from .output_encoder import CompositeEncoder, OutputBitrate
from .variant_maker import VariantMaker

logger = logging.getLogger(__name__)

PROBE_WIDTH, PROBE_HEIGHT = 256, 64
LATE_FRAME_MS = 12.0
"""A frame that reaches its worker this long after it arrived means the stream is falling behind: it is
composited with the previous frame's mask and quality estimate (segmentation and estimation skipped),
never two frames in a row."""
BUSY_FRAME_MS = 12.0
"""Likewise when the stream's previous frame took this long in the worker (the CPU is contended)."""


class _Stream:
    def __init__(self, message: OpenStream, variants: VariantMaker) -> None:
        self.processor = StreamProcessor(message.background_key, message.background, message.codec,
                                         message.settings, variants)
        self.encoder = CompositeEncoder(message.output_bitrate)
        self.output_bitrate = OutputBitrate(cap=message.output_bitrate)
        self.probe = message.probe
        self.scene_seat: SetSceneSeat | None = None
        self.last_timestamp = -1
        self.reused_last_mask = False
        self.reused_last_estimate = False
        self.last_total_ms = 0.0
        self.memory: shared_memory.SharedMemory | None = None

    def read(self, job: FrameJob) -> np.ndarray:
        """Copy the job's I420 frame out of shared memory (attached once per segment)."""
        if self.memory is None or self.memory.name.lstrip("/") != job.shm_name.lstrip("/"):
            self._detach()
            # Workers share the server's resource tracker (spawn), so attaching registers nothing new;
            # the server owns the segment and unlinks it.
            self.memory = shared_memory.SharedMemory(name=job.shm_name)
        rows = job.height * 3 // 2
        if rows * job.width > self.memory.size:
            raise ValueError(f"frame {job.width}x{job.height} does not fit its shared memory slot")
        return np.ndarray((rows, job.width), np.uint8, buffer=self.memory.buf).copy()

    def close(self) -> None:
        self.processor.close()
        self._detach()

    def _detach(self) -> None:
        if self.memory is not None:
            self.memory.close()
            self.memory = None


class Worker:
    """Message loop of one worker process."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.streams: dict[str, _Stream] = {}
        self.variants = VariantMaker()  # shared by the worker's streams; missing levels made off the frame path

    def run(self) -> None:
        """Serve until ``Stop`` or the server goes away."""
        while True:
            try:
                message = self.connection.recv()
            except (EOFError, OSError):
                break
            if isinstance(message, Stop):
                break
            reply = self.handle(message)
            if reply is not None:
                self.connection.send(reply)
        for stream in self.streams.values():
            stream.close()
        self.variants.close()

    def handle(self, message: object) -> FrameResult | CutOutResult | StreamFailed | None:
        """Apply one message; frame jobs return their result."""
        stream_id = getattr(message, "stream_id", "")
        try:
            if isinstance(message, OpenStream):
                old = self.streams.pop(message.stream_id, None)
                if old:
                    old.close()
                self.streams[message.stream_id] = _Stream(message, self.variants)
            elif isinstance(message, SetSceneSeat):
                self._stream(message.stream_id).scene_seat = message if message.seat is not None else None
            elif isinstance(message, CloseStream):
                stream = self.streams.pop(message.stream_id, None)
                if stream:
                    stream.close()
            elif isinstance(message, SetBackground):
                self._stream(message.stream_id).processor.set_background(message.background_key, message.background)
            elif isinstance(message, SetProbe):
                self._stream(message.stream_id).probe = message.probe
            elif isinstance(message, SetStatistic):
                self._stream(message.stream_id).processor.set_statistic(message.statistic)
            elif isinstance(message, FrameJob):
                return self._process(message)
        except Exception as error:  # one stream's failure must not end the worker
            logger.warning("stream %s: %s", stream_id, error)
            return StreamFailed(stream_id, getattr(message, "sequence", -1), f"{type(error).__name__}: {error}")
        return None

    def _stream(self, stream_id: str) -> _Stream:
        stream = self.streams.get(stream_id)
        if stream is None:
            raise ValueError(f"unknown stream {stream_id}")
        return stream

    def _process(self, job: FrameJob) -> FrameResult | CutOutResult:
        stream = self._stream(job.stream_id)
        started = time.perf_counter()
        i420 = stream.read(job)
        timestamp = max(stream.last_timestamp + 1, job.timestamp_ms)
        stream.last_timestamp = timestamp
        late = ((time.monotonic() - job.received_at) * 1000.0 > LATE_FRAME_MS  # one clock: CLOCK_MONOTONIC
                or stream.last_total_ms > BUSY_FRAME_MS)
        shed = late and not stream.reused_last_mask
        # Quality is scored every other frame (keyframes always): it steers a background level with
        # hysteresis or a slowly moving scene target, and the time goes to segmentation and encoding.
        reuse_estimate = not stream.reused_last_estimate
        if stream.scene_seat is not None:
            seated = stream.processor.cut_out_i420(i420, job.width, job.height, job.encoded_size, job.keyframe,
                                                   timestamp, stream.scene_seat.seat, stream.scene_seat.extra_loss,
                                                   reuse_mask=shed, reuse_estimate=reuse_estimate,
                                                   quantizer=job.quantizer)
            stream.reused_last_mask, stream.reused_last_estimate = seated.mask_reused, seated.estimate_reused
            timings = dict(seated.timings_ms)
            timings["total"] = stream.last_total_ms = (time.perf_counter() - started) * 1000.0
            return CutOutResult(job.stream_id, job.sequence, seated.cutout, seated.quality.value, seated.level,
                                seated.added_loss, job.received_at, timings, seated.mask_reused)
        result = stream.processor.process_i420(i420, job.width, job.height, job.encoded_size, job.keyframe, timestamp,
                                               reuse_mask=shed, reuse_estimate=reuse_estimate,
                                               quantizer=job.quantizer)
        stream.reused_last_mask, stream.reused_last_estimate = result.mask_reused, result.estimate_reused
        out_i420 = result.image
        if stream.probe:  # FRAMECODE.md: the probe corner passes through unmodified
            for plane_out, plane_in, scale in zip(planes(out_i420, job.width, job.height),
                                                  planes(i420, job.width, job.height), (1, 2, 2)):
                plane_out[: PROBE_HEIGHT // scale, : PROBE_WIDTH // scale] = plane_in[: PROBE_HEIGHT // scale,
                                                                                      : PROBE_WIDTH // scale]
        encode_started = time.perf_counter()
        stream.encoder.set_bitrate(stream.output_bitrate.update(
            job.received_at, job.arrived_bytes or job.encoded_size))
        packets = stream.encoder.encode(out_i420, job.width, job.height, job.pts, job.force_keyframe)
        timings = dict(result.timings_ms)
        timings["encode"] = (time.perf_counter() - encode_started) * 1000.0
        timings["total"] = stream.last_total_ms = (time.perf_counter() - started) * 1000.0
        return FrameResult(job.stream_id, job.sequence, packets, result.quality.value, result.level,
                           result.params.as_dict(), result.background_loss, job.received_at, timings,
                           result.mask_reused)

def worker_main(connection: Connection, threads: int = 1) -> None:
    """Entry point of a worker process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    cv2.setNumThreads(threads)
    connection.send(Ready(os.getpid()))
    Worker(connection).run()
