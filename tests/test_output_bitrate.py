"""The composite's bitrate follows the incoming stream's, with hysteresis."""

from __future__ import annotations

import av
import numpy as np
import pytest

from server.pipeline.output_encoder import CompositeEncoder, OutputBitrate


def feed(policy: OutputBitrate, start: float, seconds: float, bits_per_second: float, fps: int = 30) -> int:
    """Frames of a constant-rate stream from ``start`` for ``seconds``; the last chosen bitrate."""
    chosen = policy.current
    for index in range(int(seconds * fps)):
        chosen = policy.update(start + index / fps, int(bits_per_second / 8 / fps))
    return chosen


def test_follows_twice_the_incoming_rate_within_floor_and_cap() -> None:
    policy = OutputBitrate(cap=1_200_000)
    assert policy.update(0.0, 5000) == 1_200_000  # nothing measured yet: the cap
    assert feed(policy, 0.0, 3.0, 300_000) == pytest.approx(600_000, rel=0.05)
    assert feed(policy, 3.0, 6.0, 2_000_000) == 1_200_000  # capped
    assert feed(policy, 9.0, 6.0, 50_000) == 300_000  # floored


def test_small_changes_and_quick_swings_do_not_restart_the_encoder() -> None:
    policy = OutputBitrate(cap=1_200_000)
    settled = feed(policy, 0.0, 3.0, 300_000)
    assert feed(policy, 3.0, 6.0, 360_000) == settled  # +20%: within the hysteresis
    moved_at = 9.0
    feed(policy, moved_at, 2.5, 150_000)
    changes = []
    for index in range(int(20 * 30)):  # rates swinging every 3 s: at most one change per 4 s
        rate = 150_000 if (index // 90) % 2 else 600_000
        before = policy.current
        policy.update(moved_at + 2.5 + index / 30, int(rate / 8 / 30))
        if policy.current != before:
            changes.append(index / 30)
    assert len(changes) >= 2 and all(b - a >= 4.0 for a, b in zip(changes, changes[1:]))


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError):
        OutputBitrate(cap=0)
    with pytest.raises(ValueError):
        OutputBitrate(cap=1_000_000, hysteresis=0.5)


def test_a_new_bitrate_restarts_the_encoder_with_a_keyframe() -> None:
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 255, (720, 640), np.uint8) for _ in range(6)]
    encoder = CompositeEncoder(1_200_000)
    decoder = av.CodecContext.create("vp8", "r")
    keyframes = []
    for index, frame in enumerate(frames):
        if index == 3:
            encoder.set_bitrate(400_000)
        for packet in encoder.encode(frame, 640, 480, index * 3000, False):
            keyframes.append(packet.keyframe)
            assert decoder.decode(av.Packet(packet.data))  # the stream stays decodable across the restart
    assert keyframes == [True, False, False, True, False, False]
    assert encoder.bitrate == 400_000
