"""A one-line progress bar for terminals (silent when the stream is not a terminal)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class ProgressBar:
    """Prints ``label [#####.....] n/total  fps`` in place, at most 10 times a second."""

    def __init__(self, label: str, total: int | None, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.stream = label, total, stream
        self.enabled = stream.isatty()
        self._started = time.monotonic()
        self._last_draw = 0.0

    def update(self, done: int) -> None:
        """Redraw for ``done`` items finished."""
        now = time.monotonic()
        if not self.enabled or now - self._last_draw < 0.1:
            return
        self._last_draw = now
        rate = done / max(now - self._started, 1e-6)
        if self.total:
            filled = int(30 * min(done, self.total) / self.total)
            bar = "#" * filled + "." * (30 - filled)
            text = f"\r{self.label} [{bar}] {done}/{self.total}  {rate:.1f} fps"
        else:
            text = f"\r{self.label} {done} frames  {rate:.1f} fps"
        self.stream.write(text)
        self.stream.flush()

    def finish(self) -> None:
        """End the line."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
