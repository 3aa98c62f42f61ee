"""Who is speaking: the on/off rule on synthetic voices (a tone, room noise, a click, pauses)."""

from __future__ import annotations

import numpy as np

from server.rtc.voice_activity import RELEASE_SECONDS, VoiceActivity, level_dbfs

RATE, FRAME = 48_000, 960


def tone(amplitude: float, index: int) -> np.ndarray:
    t = (index * FRAME + np.arange(FRAME)) / RATE
    return (amplitude * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def noise(amplitude: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, amplitude, FRAME).astype(np.int16)


def feed(activity: VoiceActivity, frames: list[np.ndarray], start: int = 0) -> list[tuple[int, bool]]:
    """(frame index, new state) for each change."""
    changes = []
    for index, samples in enumerate(frames, start):
        changed = activity.update(samples, index * FRAME / RATE)
        if changed is not None:
            changes.append((index, changed))
    return changes


def test_levels_in_dbfs() -> None:
    assert abs(level_dbfs(tone(32767, 0)) - (-3.01)) < 0.1  # a full-scale sine
    assert abs(level_dbfs(tone(8000, 0)) - (-15.25)) < 0.1
    assert level_dbfs(np.zeros(FRAME, np.int16)) == -200.0


def test_speech_switches_on_quickly_and_off_after_a_pause_not_between_words() -> None:
    activity = VoiceActivity()
    quiet_room = [noise(30, i) for i in range(50)]  # about -61 dBFS
    assert feed(activity, quiet_room) == []
    # Speech: on at its third loud frame (60 ms); a 300 ms pause between words keeps it on.
    words = [tone(3000, i) for i in range(50, 75)] + [noise(30, i) for i in range(75, 90)] + \
            [tone(3000, i) for i in range(90, 110)]
    assert feed(activity, words, 50) == [(52, True)]
    # Then silence: off once RELEASE_SECONDS have passed without a loud frame.
    changes = feed(activity, [noise(30, i) for i in range(110, 200)], 110)
    assert len(changes) == 1 and changes[0][1] is False
    assert abs((changes[0][0] - 109) * FRAME / RATE - RELEASE_SECONDS) <= 2 * FRAME / RATE


def test_a_single_click_is_not_speech() -> None:
    activity = VoiceActivity()
    frames = [noise(30, i) for i in range(20)]
    frames[10] = noise(20000, 99)  # one loud frame
    frames[15] = noise(20000, 98)  # and another, apart
    assert feed(activity, frames) == []
