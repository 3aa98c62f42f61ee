"""The worker pool as the server sees it: streams pinned to worker processes, newest frame wins.

Each stream lives on one worker (its segmenter and smoothing keep state). The server keeps at most
one frame of a stream in flight; a frame arriving meanwhile waits in a single slot, and a newer one
replaces it (the replaced frame is counted as dropped). Pixels go through one shared-memory segment
per stream; only small messages travel through the pipes. A worker that dies is restarted and its
streams reopened; their in-flight frames are lost and counted, nobody else notices.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import multiprocessing
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing import shared_memory

import numpy as np

from ..imaging.scene_layout import Box
from .messages import (
    CloseStream, CutOutResult, FrameJob, FrameResult, OpenStream, Ready, SetBackground, SetProbe, SetSceneSeat,
    SetStatistic, Stop, StreamFailed,
)
from .worker import worker_main

logger = logging.getLogger(__name__)

ResultCallback = Callable[[FrameResult | CutOutResult | StreamFailed], None]
_CLOSE = object()


@dataclass
class PoolStats:
    """Counters for metrics and tests."""

    frames_submitted: int = 0
    frames_dropped: int = 0
    frames_done: int = 0
    frames_failed: int = 0
    restarts: int = 0


@dataclass(frozen=True)
class _Pending:
    """A frame waiting for its stream's worker: pixels and the job still to be numbered."""

    i420: np.ndarray
    job: FrameJob


@dataclass
class _Stream:
    open_message: OpenStream
    worker: int
    callback: ResultCallback
    memory: shared_memory.SharedMemory | None = None
    in_flight: bool = False
    pending: _Pending | None = None
    sequence: int = 0
    dropped: int = 0
    want_keyframe: bool = False
    arrived_bytes: int = 0
    """Encoded bytes of the frames submitted since the last dispatch (dropped ones included)."""
    scene_seat: SetSceneSeat | None = None
    """The stream's seat in a shared scene, if it has one (resent after a worker restart)."""
    retired: list[shared_memory.SharedMemory] = field(default_factory=list)


# Workers are the parallelism: their numeric libraries run one thread each. Idle OpenBLAS threads
# spin-wait after every small matrix product, which cost a whole core per worker when left on.
_THREAD_LIMITS = {name: "1" for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}


@contextlib.contextmanager
def _single_threaded_libraries() -> Iterator[None]:
    """Set the thread limits while a worker is spawned (it inherits the environment), then restore."""
    saved = {name: os.environ.get(name) for name in _THREAD_LIMITS}
    os.environ.update(_THREAD_LIMITS)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _WorkerHandle:
    """A worker process, its pipe, and a writer thread so a large message never blocks the event loop."""

    def __init__(self, context: multiprocessing.context.SpawnContext, index: int) -> None:
        self.index = index
        self.connection, child = context.Pipe(duplex=True)
        self.process = context.Process(target=worker_main, args=(child,), name=f"backdrop-worker-{index}", daemon=True)
        with _single_threaded_libraries():
            self.process.start()
        child.close()
        self.ready = False
        self._outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name=f"backdrop-worker-{index}-writer", daemon=True)
        self._writer.start()

    def send(self, message: object) -> None:
        """Queue a message for the worker."""
        self._outbox.put(message)

    def close_outbox(self) -> None:
        """Let the writer thread finish after what is queued."""
        self._outbox.put(_CLOSE)

    def _write(self) -> None:
        while True:
            message = self._outbox.get()
            if message is _CLOSE:
                return
            try:
                self.connection.send(message)
            except (OSError, ValueError):
                return  # the worker is gone; the reader side notices and restarts it


class WorkerPool:
    """Spawned worker processes with stream affinity; use from one asyncio event loop."""

    def __init__(self, workers: int = 2) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}")
        self._size = workers
        self._context = multiprocessing.get_context("spawn")
        self._workers: list[_WorkerHandle] = []
        self._streams: dict[str, _Stream] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready: asyncio.Event | None = None
        self._stopping = False
        self.stats = PoolStats()

    @property
    def ready(self) -> bool:
        """True once every worker has started and loaded its libraries."""
        return bool(self._workers) and all(w.ready for w in self._workers)

    def occupancy(self) -> dict[int, int]:
        """Streams per worker index."""
        counts = {w.index: 0 for w in self._workers}
        for stream in self._streams.values():
            counts[stream.worker] = counts.get(stream.worker, 0) + 1
        return counts

    def worker_pids(self) -> dict[int, int]:
        """Process id of each worker, by worker index."""
        return {w.index: w.process.pid for w in self._workers if w.process.pid is not None}

    async def start(self, timeout: float = 60.0) -> None:
        """Spawn the workers and wait until each is ready."""
        self._loop = asyncio.get_running_loop()
        self._ready = asyncio.Event()
        for index in range(self._size):
            self._spawn(index)
        await asyncio.wait_for(self._ready.wait(), timeout)

    async def stop(self, timeout: float = 5.0) -> None:
        """Close every stream, stop the workers (gracefully, then forcibly)."""
        self._stopping = True
        for stream_id in list(self._streams):
            self.close_stream(stream_id)
        for worker in self._workers:
            self._unwatch(worker)
            worker.send(Stop())
            worker.close_outbox()
        deadline = asyncio.get_running_loop().time() + timeout
        for worker in self._workers:
            while worker.process.is_alive() and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.05)
            if worker.process.is_alive():
                worker.process.kill()
            worker.process.join(1.0)
            worker.connection.close()
        self._workers.clear()

    def open_stream(self, message: OpenStream, callback: ResultCallback) -> None:
        """Start a stream on the least busy worker; results arrive through ``callback``."""
        if message.stream_id in self._streams:
            raise ValueError(f"stream {message.stream_id} is already open")
        counts = self.occupancy()
        worker = min(counts, key=lambda index: (counts[index], index))
        self._streams[message.stream_id] = _Stream(message, worker, callback)
        self._send(worker, message)

    def set_background(self, stream_id: str, key: str, background: np.ndarray) -> None:
        """Switch a stream's background (also kept for a restart)."""
        stream = self._streams[stream_id]
        stream.open_message = replace(stream.open_message, background_key=key, background=background)
        self._send(stream.worker, SetBackground(stream_id, key, background))

    def set_codec(self, stream_id: str, codec: str) -> None:
        """The stream turned out to be ``codec``: reopen its processor for it (state restarts)."""
        stream = self._streams[stream_id]
        stream.open_message = replace(stream.open_message, codec=codec)
        self._send(stream.worker, stream.open_message)
        if stream.scene_seat is not None:
            self._send(stream.worker, stream.scene_seat)

    def set_scene_seat(self, stream_id: str, seat: Box | None, extra_loss: float = 0.0) -> None:
        """Seat a camera stream in a shared scene (its results become ``CutOutResult``), update its
        seat or the extra loss added to its cut-outs, or (``seat`` None) make it an individual
        composite again."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        message = SetSceneSeat(stream_id, seat, float(extra_loss))
        stream.scene_seat = message if seat is not None else None
        self._send(stream.worker, message)

    def set_probe(self, stream_id: str, probe: bool) -> None:
        """Pass the frame-code corner through unmodified (or stop), also after a restart."""
        stream = self._streams[stream_id]
        stream.open_message = replace(stream.open_message, probe=probe)
        self._send(stream.worker, SetProbe(stream_id, probe))

    def set_statistic(self, stream_id: str, statistic: str) -> None:
        """Change a stream's statistic (also kept for a restart)."""
        stream = self._streams[stream_id]
        settings = replace(stream.open_message.settings, statistic=statistic)
        stream.open_message = replace(stream.open_message, settings=settings)
        self._send(stream.worker, SetStatistic(stream_id, statistic))

    def dropped(self, stream_id: str) -> int:
        """Frames of a stream replaced by a newer one before a worker took them."""
        stream = self._streams.get(stream_id)
        return stream.dropped if stream else 0

    def request_keyframe(self, stream_id: str) -> None:
        """Make the stream's next encoded composite a keyframe."""
        stream = self._streams.get(stream_id)
        if stream:
            stream.want_keyframe = True

    def submit(self, stream_id: str, i420: np.ndarray, encoded_size: int, keyframe: bool, timestamp_ms: int,
               pts: int, received_at: float | None = None, quantizer: float | None = None) -> None:
        """Offer a decoded frame (I420 array of shape (h*3/2, w)); the newest one wins. ``quantizer``:
        the frame's, read from its bitstream (``imaging.quantizer``), when the receiver has it."""
        stream = self._streams.get(stream_id)
        if stream is None:
            return
        self.stats.frames_submitted += 1
        stream.arrived_bytes += int(encoded_size)
        height, width = i420.shape[0] * 2 // 3, i420.shape[1]
        job = FrameJob(stream_id, 0, "", width, height, encoded_size, keyframe, timestamp_ms, pts, False,
                       time.monotonic() if received_at is None else received_at, quantizer=quantizer)
        if stream.in_flight:
            if stream.pending is not None:
                self._count_dropped(stream)
            stream.pending = _Pending(i420, job)
            return
        self._dispatch(stream_id, stream, _Pending(i420, job))

    def close_stream(self, stream_id: str) -> None:
        """Release the stream everywhere (worker state, shared memory)."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return
        self._send(stream.worker, CloseStream(stream_id))
        for memory in [stream.memory, *stream.retired]:
            if memory is not None:
                memory.close()
                memory.unlink()

    def _dispatch(self, stream_id: str, stream: _Stream, frame: _Pending) -> None:
        needed = frame.i420.nbytes
        if stream.memory is None or stream.memory.size < needed:
            if stream.memory is not None:
                stream.retired.append(stream.memory)
            stream.memory = shared_memory.SharedMemory(create=True, size=needed, name=f"bd-{uuid.uuid4().hex[:16]}")
        np.ndarray(frame.i420.shape, np.uint8, buffer=stream.memory.buf)[:] = frame.i420
        stream.sequence += 1
        job = replace(frame.job, sequence=stream.sequence, shm_name=stream.memory.name,
                      force_keyframe=stream.want_keyframe, arrived_bytes=stream.arrived_bytes)
        stream.want_keyframe, stream.arrived_bytes = False, 0
        stream.in_flight = True
        self._send(stream.worker, job)

    def _on_reply(self, reply: object) -> None:
        stream_id = getattr(reply, "stream_id", None)
        stream = self._streams.get(stream_id) if stream_id else None
        if stream is None:
            return
        if isinstance(reply, (FrameResult, CutOutResult)):
            self.stats.frames_done += 1
        elif isinstance(reply, StreamFailed):
            self.stats.frames_failed += 1
        if getattr(reply, "sequence", -1) == stream.sequence:
            stream.in_flight = False
            for memory in stream.retired:
                memory.close()
                memory.unlink()
            stream.retired.clear()
        try:
            stream.callback(reply)  # type: ignore[arg-type]
        except Exception:
            logger.exception("result callback of stream %s failed", stream_id)
        if not stream.in_flight and stream.pending is not None and stream_id in self._streams:
            pending, stream.pending = stream.pending, None
            self._dispatch(stream_id, stream, pending)

    def _spawn(self, index: int) -> None:
        worker = _WorkerHandle(self._context, index)
        if index < len(self._workers):
            self._workers[index] = worker
        else:
            self._workers.append(worker)
        assert self._loop is not None
        self._loop.add_reader(worker.connection.fileno(), self._on_readable, worker)

    def _unwatch(self, worker: _WorkerHandle) -> None:
        if self._loop is not None:
            try:
                self._loop.remove_reader(worker.connection.fileno())
            except (OSError, ValueError):
                pass

    def _on_readable(self, worker: _WorkerHandle) -> None:
        try:
            while worker.connection.poll():
                message = worker.connection.recv()
                if isinstance(message, Ready):
                    worker.ready = True
                    if self.ready and self._ready is not None:
                        self._ready.set()
                else:
                    self._on_reply(message)
        except (EOFError, OSError):
            self._on_worker_died(worker)

    def _on_worker_died(self, worker: _WorkerHandle) -> None:
        self._unwatch(worker)
        worker.close_outbox()
        worker.connection.close()
        worker.process.join(1.0)
        if self._stopping:
            return
        logger.error("worker %d (pid %s) died; restarting it", worker.index, worker.process.pid)
        self.stats.restarts += 1
        self._spawn(worker.index)
        for stream_id, stream in self._streams.items():
            if stream.worker == worker.index:
                for _ in range(int(stream.in_flight) + int(stream.pending is not None)):
                    self._count_dropped(stream)
                stream.in_flight, stream.pending, stream.want_keyframe = False, None, True
                self._send(worker.index, stream.open_message)
                if stream.scene_seat is not None:
                    self._send(worker.index, stream.scene_seat)

    def _count_dropped(self, stream: _Stream) -> None:
        self.stats.frames_dropped += 1
        stream.dropped += 1

    def _send(self, index: int, message: object) -> None:
        self._workers[index].send(message)
