"""Background variants without stalling a stream: a missing level is made on a thread of its own.

Making a variant can take a few hundred milliseconds (a search over a compression ladder when the
model's one guess misses), and a worker holds several streams: made on the frame path, it froze
every stream of that worker at once (at joins, when each new stream's first levels are made). Here
the frame path asks for a level and gets it if it is made; if not, it is queued for the maker
thread and the nearest level already made is shown meanwhile (level 0, the pristine background, is
made at once). The background's level moves with hysteresis anyway, so showing the neighbour for a
few frames is not visible as a jump of its own. The maker thread runs at the lowest CPU priority
(Linux: niceness is per thread), so on a busy machine the frames come first.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..imaging.background_variants import Variant, VariantCache

logger = logging.getLogger(__name__)


class VariantMaker:
    """Non-blocking access to a ``VariantCache``; ``close`` when done."""

    def __init__(self, cache: VariantCache | None = None) -> None:
        self.cache = cache or VariantCache()
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="variant-maker", initializer=_lowest_priority)
        self._pending: set[tuple] = set()
        self._failed: set[tuple] = set()
        self._lock = threading.Lock()
        self._closed = False

    def variant(self, key: str, background_bgr: np.ndarray, method: str, level: int) -> Variant:
        """The variant for ``level`` if made; else the nearest level made so far (the level is made
        in the background for the next frames). The returned ``Variant.level`` says which one it is."""
        height, width = background_bgr.shape[:2]
        found = self.cache.peek(key, width, height, method, level)
        if found is not None:
            return found
        if level > 0:
            self._request(key, background_bgr, method, level)
            nearest = self.cache.nearest(key, width, height, method, level)
            if nearest is not None:
                return nearest
        return self.cache.variant(key, background_bgr, method, 0)  # the pristine background: immediate

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until every requested variant is made (for tests and benchmarks); False on timeout."""
        done = self._thread.submit(lambda: None)
        try:
            done.result(timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Stop making variants (one being made is finished, queued ones are dropped)."""
        self._closed = True
        self._thread.shutdown(wait=False, cancel_futures=True)

    def _request(self, key: str, background_bgr: np.ndarray, method: str, level: int) -> None:
        height, width = background_bgr.shape[:2]
        request = (key, width, height, method, level)
        with self._lock:
            if self._closed or request in self._pending or request in self._failed:
                return
            self._pending.add(request)
        try:
            self._thread.submit(self._make, request, background_bgr)
        except RuntimeError:  # shut down meanwhile
            with self._lock:
                self._pending.discard(request)

    def _make(self, request: tuple, background_bgr: np.ndarray) -> None:
        key, _, _, method, level = request
        try:
            self.cache.variant(key, background_bgr, method, level)
        except Exception as error:  # a background that cannot be matched keeps its nearest level
            logger.warning("background %s: level %d (%s) could not be made: %s", key, level, method, error)
            with self._lock:
                self._failed.add(request)
        finally:
            with self._lock:
                self._pending.discard(request)


MAKER_NICENESS = 19


def _lowest_priority() -> None:
    """Lower the calling thread's CPU priority (on Linux ``setpriority`` on a thread id is per thread)."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), MAKER_NICENESS)
    except (AttributeError, OSError):  # not Linux, or not permitted: the maker just runs at normal priority
        pass
