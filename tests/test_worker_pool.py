"""The worker pool with real spawned worker processes (MediaPipe, VP8) and real shared memory."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import av
import cv2
import numpy as np
import pytest

from server.imaging.default_background import studio_background
from server.pipeline.frame_processor import ProcessorSettings
from server.pipeline.messages import FrameResult, OpenStream, StreamFailed
from server.pipeline.pool import WorkerPool

pytestmark = pytest.mark.slow


def open_message(stream_id: str, probe: bool = False) -> OpenStream:
    return OpenStream(stream_id, "vp8", "studio", studio_background(640, 360), ProcessorSettings(method="jpeg"),
                      800_000, probe)


class Collector:
    def __init__(self) -> None:
        self.results: list[FrameResult | StreamFailed] = []
        self.arrived = asyncio.Event()

    def __call__(self, result: FrameResult | StreamFailed) -> None:
        self.results.append(result)
        self.arrived.set()

    async def wait_for(self, count: int, timeout: float = 30.0) -> None:
        async def enough() -> None:
            while len(self.results) < count:
                self.arrived.clear()
                await self.arrived.wait()
        await asyncio.wait_for(enough(), timeout)


@contextlib.asynccontextmanager
async def running_pool(workers: int):
    pool = WorkerPool(workers=workers)
    await pool.start()
    try:
        yield pool
    finally:
        await pool.stop()


def i420(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)


def probe_corner_error(frame: np.ndarray, source: np.ndarray) -> float:
    """Mean difference of the 256x64 probe corner between a composite and its source frame."""
    return float(np.abs(frame[:64, :256].astype(float) - source[:64, :256]).mean())


def decode(results: list) -> list[np.ndarray]:
    decoder = av.CodecContext.create("vp8", "r")
    frames = []
    for result in results:
        for packet in result.packets:
            frames.extend(f.to_ndarray(format="bgr24") for f in decoder.decode(av.Packet(packet.data)))
    return frames


def test_streams_are_composited_encoded_and_isolated(astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        async with running_pool(2) as pool:
            good, bad = Collector(), Collector()
            pool.open_stream(open_message("good"), good)
            pool.open_stream(open_message("bad"), bad)
            assert sorted(pool.occupancy().values()) == [1, 1]  # one stream per worker: both cores
            for index in range(5):
                pool.submit("good", i420(astronaut), 20_000, index == 0, index * 33, index * 3000)
                await good.wait_for(index + 1)
            # A frame whose declared size does not fit its data fails that stream only.
            pool.submit("bad", i420(astronaut)[:10], 100, True, 0, 0)
            await bad.wait_for(1)
            assert isinstance(bad.results[0], StreamFailed)
            pool.submit("good", i420(astronaut), 20_000, False, 200, 18_000)
            await good.wait_for(6)
            assert all(isinstance(r, FrameResult) for r in good.results)
            frames = decode(good.results)
            assert len(frames) == 6 and frames[0].shape == astronaut.shape
            # The top-left corner is background (the studio backdrop), not the astronaut's flag.
            corner = frames[-1][:40, :40].astype(float)
            assert np.abs(corner - astronaut[:40, :40]).mean() > 20
            assert {"segment", "estimate", "match", "composite", "encode"} <= set(good.results[0].timings_ms)

    asyncio.run(scenario())


def test_newest_frame_wins(astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        async with running_pool(1) as pool:
            results = Collector()
            pool.open_stream(open_message("s"), results)
            for index in range(12):  # far faster than the worker: most frames are replaced while waiting
                pool.submit("s", i420(astronaut), 20_000, index == 0, index * 33, index * 3000)
            await results.wait_for(2)
            await asyncio.sleep(1.0)
            assert pool.stats.frames_dropped >= 8
            assert len(results.results) == 12 - pool.stats.frames_dropped
            assert results.results[-1].sequence == max(r.sequence for r in results.results)

    asyncio.run(scenario())


def test_probe_corner_passes_through(astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        async with running_pool(1) as pool:
            results = Collector()
            pool.open_stream(open_message("probe", probe=True), results)
            pool.submit("probe", i420(astronaut), 20_000, True, 0, 0)
            await results.wait_for(1)
            corner = probe_corner_error(decode(results.results)[0], astronaut)
            assert corner < 6, corner

    asyncio.run(scenario())


def test_probe_and_codec_change_live(astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        async with running_pool(1) as pool:
            results = Collector()
            pool.open_stream(open_message("live"), results)

            async def one_frame(index: int) -> np.ndarray:
                pool.submit("live", i420(astronaut), 20_000, index == 0, index * 33, index * 3000)
                await results.wait_for(index + 1)
                assert isinstance(results.results[-1], FrameResult), results.results[-1]
                return decode(results.results)[-1]

            replaced = probe_corner_error(await one_frame(0), astronaut)
            pool.set_probe("live", True)  # a room made a latency probe while streaming
            assert probe_corner_error(await one_frame(1), astronaut) < replaced / 3
            pool.set_codec("live", "h264")  # the stream turned out to be H.264: reopened, still composited
            # The reopened stream keeps the probe setting.
            assert probe_corner_error(await one_frame(2), astronaut) < replaced / 3
            assert pool.occupancy() == {0: 1}

    asyncio.run(scenario())


def test_a_dead_worker_is_restarted_and_its_stream_continues(astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        async with running_pool(1) as pool:
            results = Collector()
            pool.open_stream(open_message("s"), results)
            pool.submit("s", i420(astronaut), 20_000, True, 0, 0)
            await results.wait_for(1)
            os.kill(pool._workers[0].process.pid, signal.SIGKILL)
            for _ in range(100):
                if pool.stats.restarts:
                    break
                await asyncio.sleep(0.05)
            assert pool.stats.restarts == 1
            for attempt in range(200):  # the new worker needs a moment to load
                pool.submit("s", i420(astronaut), 20_000, False, 100 + attempt * 33, 9000 + attempt * 3000)
                await asyncio.sleep(0.1)
                if any(isinstance(r, FrameResult) for r in results.results[1:]):
                    break
            assert any(isinstance(r, FrameResult) for r in results.results[1:])

    asyncio.run(scenario())


def test_the_frames_quantizer_reaches_the_workers_estimate(astronaut: np.ndarray) -> None:
    async def scenario() -> None:
        async with running_pool(1) as pool:
            collectors = {name: Collector() for name in ("plain", "fine", "coarse")}
            for name, collector in collectors.items():
                pool.open_stream(open_message(name), collector)
            for name, quantizer in (("plain", None), ("fine", 4.0), ("coarse", 120.0)):
                pool.submit(name, i420(astronaut), 20_000, True, 0, 0, quantizer=quantizer)
                await collectors[name].wait_for(1)
            quality = {name: collector.results[0].quality for name, collector in collectors.items()}
            assert quality["coarse"] > quality["fine"]
            assert quality["plain"] not in (quality["fine"], quality["coarse"])

    asyncio.run(scenario())
