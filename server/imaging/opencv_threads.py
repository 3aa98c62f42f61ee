"""Run a stretch of OpenCV calls on the calling thread.

The quality estimate makes about a hundred OpenCV calls on planes no larger than a frame. With
OpenCV's thread pool on (its default: one thread per core), each call may wake the pool, and on the
2-core VM the wake-ups cost more than the split saves: ``estimate_quality`` at 640x480 took 2.17 ms
with the pool and 2.04-2.07 ms on the calling thread (distinct decoded frames, 600 calls). The
server's workers already run OpenCV on one thread (``pipeline.worker``); this gives any other caller
the same, and puts the caller's setting back afterwards.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import cv2

_P = ParamSpec("_P")
_R = TypeVar("_R")


@contextlib.contextmanager
def one_opencv_thread() -> Iterator[None]:
    """OpenCV on the calling thread inside the block; the caller's thread count restored after.

    OpenCV's thread count is process-wide: another thread using OpenCV meanwhile also runs on its
    own thread for that long (slower, never wrong)."""
    threads = cv2.getNumThreads()
    if threads <= 1:
        yield
        return
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def on_one_opencv_thread(function: Callable[_P, _R]) -> Callable[_P, _R]:
    """``function`` run inside ``one_opencv_thread``."""
    @functools.wraps(function)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        with one_opencv_thread():
            return function(*args, **kwargs)
    return run
