"""Who is speaking: a participant's voice level, frame by frame, turned into a steady on/off.

Each 20 ms audio frame's RMS level (dBFS) is compared with ``SPEAKING_DBFS``. Speaking starts once
``ONSET_FRAMES`` of the last ``ONSET_WINDOW`` frames were above it (a click or a cough alone does
not light a tile) and ends after ``RELEASE_SECONDS`` without one (the pauses between words do not
switch it off). A muted participant's audio reaches this as silence, so a muted speaker is never
shown speaking.
"""

from __future__ import annotations

from collections import deque

import numpy as np

SPEAKING_DBFS = -45.0
"""Speech into a typical microphone measures -35 to -15 dBFS; a quiet room's noise below -55."""
ONSET_WINDOW = 5
ONSET_FRAMES = 3
RELEASE_SECONDS = 0.8


def level_dbfs(samples: np.ndarray) -> float:
    """The RMS level of int16 (or float, full scale 1.0) samples in dB relative to full scale."""
    values = samples.astype(np.float64)
    if samples.dtype == np.int16:
        values /= 32768.0
    rms = float(np.sqrt(np.mean(values * values))) if values.size else 0.0
    return 20.0 * np.log10(max(rms, 1e-10))


class VoiceActivity:
    """Follows one voice; ``update`` says when speaking starts or stops."""

    def __init__(self) -> None:
        self.speaking = False
        self._recent: deque[bool] = deque(maxlen=ONSET_WINDOW)
        self._last_loud: float | None = None

    def update(self, samples: np.ndarray, now: float) -> bool | None:
        """Take one frame's samples at time ``now`` (seconds); returns the new state when it changed,
        else None."""
        loud = level_dbfs(samples) > SPEAKING_DBFS
        self._recent.append(loud)
        if loud:
            self._last_loud = now
        if not self.speaking and sum(self._recent) >= ONSET_FRAMES:
            self.speaking = True
            return True
        if self.speaking and (self._last_loud is None or now - self._last_loud > RELEASE_SECONDS):
            self.speaking = False
            self._recent.clear()
            return False
        return None
