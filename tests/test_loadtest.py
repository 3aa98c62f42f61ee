"""The load generator: the frame code through real codecs, and a short real load test against a server."""

from __future__ import annotations

import asyncio
import json

import cv2
import numpy as np
import pytest
import requests

from server.cli import main as cli_main
from server.loadtest.framecode import FrameCode, code_bits, crc8, read_code, stamp_i420
from server.loadtest.runner import Loadtest, LoadtestConfig
from server.loadtest.stamped_source import moved_footage
from server.training.encoding import EncoderSetup, encode_decode
from tests.server_harness import ServerThread


def test_crc8_matches_the_specified_polynomial() -> None:
    assert crc8(b"123456789") == 0xF4  # CRC-8 (poly 0x07, init 0) check value
    bits = code_bits(3, 1000)
    assert bits[:2] == [1, 0] and len(bits) == 42


@pytest.mark.parametrize("codec, speed", [("vp8", "-6"), ("h264", "medium")])
def test_frame_code_survives_150_kbps(codec: str, speed: str, astronaut: np.ndarray) -> None:
    frames = moved_footage([astronaut], 60, 640, 480, seed=1)
    stamped = []
    for index, image in enumerate(frames):
        i420 = cv2.cvtColor(image, cv2.COLOR_BGR2YUV_I420)
        stamp_i420(i420, 640, 480, 7, 100_000 + index)
        stamped.append(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420))
    decoded = encode_decode(stamped, EncoderSetup(codec, 150_000, speed))
    codes = [read_code(cv2.cvtColor(d.image, cv2.COLOR_BGR2YUV_I420)[:480]) for d in decoded]
    assert codes == [FrameCode(7, 100_000 + i) for i in range(len(frames))]


def test_a_damaged_code_is_unreadable_not_guessed(astronaut: np.ndarray) -> None:
    i420 = cv2.cvtColor(cv2.resize(astronaut, (640, 480)), cv2.COLOR_BGR2YUV_I420)
    stamp_i420(i420, 640, 480, 9, 42)
    assert read_code(i420[:480]) == FrameCode(9, 42)
    block = np.s_[4:12, 2 * 16 + 4:2 * 16 + 12]  # the inner 8x8 of block 2: the first data bit
    i420[block] = 255 - i420[block]
    assert read_code(i420[:480]) is None
    assert read_code(np.full((480, 640), 128, np.uint8)) is None


@pytest.mark.slow
def test_a_short_loadtest_reports_every_stream(tmp_path) -> None:
    server = ServerThread(tmp_path / "data").start()
    try:
        summary_path, plots = tmp_path / "summary.json", tmp_path / "plots"
        status = cli_main(["loadtest", "--url", server.url, "--rooms", "1", "--participants", "2", "--duration", "6",
                           "--bitrate", "300k", "--json", str(summary_path), "--plots", str(plots)])
        assert status == 0
        summary = json.loads(summary_path.read_text())
        streams = summary["streams"]
        assert sorted((s["sender"], s["receiver"]) for s in streams) == [
            ("p000", "p000"), ("p000", "p001"), ("p001", "p000"), ("p001", "p001")]
        for stream in streams:
            assert set(stream) >= {"sender", "receiver", "fps", "latency_ms", "frames_lost"}
            assert 10 < stream["fps"] <= 32
            latency = stream["latency_ms"]
            assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] < 1000
            assert stream["frames_lost"] >= 0 and stream["frames_received"] > 60
        totals = summary["totals"]
        assert totals["participants"] == 2 and totals["streams"] == 4 and totals["bytes_received"] > 0
        assert {p.name for p in plots.iterdir()} == {"latency_cdf.png", "fps_over_time.png", "server_cpu.png"}
        assert any(s["server_cpu"] for s in summary["timeline"]["samples"])
        # Bounded: it left and cleaned up; the server is idle again.
        assert not server.conference.participants
    finally:
        server.stop()


@pytest.mark.slow
def test_metrics_and_room_wide_latency_probes(tmp_path, astronaut: np.ndarray) -> None:
    server = ServerThread(tmp_path / "data", admin_token="metrics-admin").start()
    try:
        admin = {"Authorization": "Bearer metrics-admin"}
        assert requests.put(f"{server.url}/api/rooms/probed-0", json={"latency_probe": True}, headers=admin,
                            timeout=10).json()["latency_probe"] is True

        async def run(room_prefix: str) -> dict:
            config = LoadtestConfig(server.url, 1, 1, 4.0, room_prefix=room_prefix, probe=False)
            return (await Loadtest(config).run())["streams"][0]

        probed, unprobed = asyncio.run(run("probed")), asyncio.run(run("plain"))
        # Joined without probe: the room made them a probe, so the corner (and the code) came back intact;
        # in an ordinary room the virtual background replaces it.
        assert probed["latency_ms"]["p50"] > 0 and probed["frames_unreadable"] < 0.1 * probed["frames_received"]
        assert unprobed["frames_unreadable"] == unprobed["frames_received"] > 30
        text = requests.get(f"{server.url}/metrics", timeout=10).text
        for name in ("backdrop_participants", "backdrop_rooms", 'backdrop_frames_total{stage="received"}',
                     'backdrop_frames_dropped_total{stage="pool"}', 'backdrop_stage_seconds_bucket{le="0.001",stage="decode"}',
                     'stage="segment"', 'stage="encode"', "backdrop_quality_loss_bucket", "backdrop_worker_streams",
                     "backdrop_worker_restarts_total", "backdrop_encoders", "backdrop_event_loop_lag_seconds_bucket",
                     "backdrop_server_latency_seconds_bucket", 'backdrop_process_cpu_seconds_total{process="worker-0"}'):
            assert name in text, name
        received = [line for line in text.splitlines() if line.startswith('backdrop_frames_total{stage="received"}')]
        assert float(received[0].split()[-1]) > 60
    finally:
        server.stop()
