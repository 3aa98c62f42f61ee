"""Run a picklable piece of work over many specifications on spawned worker processes, with progress."""

from __future__ import annotations

import multiprocessing
import sys
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

Spec = TypeVar("Spec")
Result = TypeVar("Result")


def in_parallel(work: Callable[[Spec], list[Result]], specs: Iterable[Spec], workers: int, label: str) -> list[Result]:
    """``work`` over ``specs`` on ``workers`` processes, results flattened in spec order, with progress."""
    specs = list(specs)
    results: list[list[Result]] = [[] for _ in specs]
    started = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(max(1, workers)) as pool:
        for done, (index, part) in enumerate(pool.imap_unordered(_indexed, [(work, i, s) for i, s in enumerate(specs)]), 1):
            results[index] = part
            if done % 5 == 0 or done == len(specs):
                print(f"\r{label}: {done}/{len(specs)} ({time.perf_counter() - started:.0f} s)", end="",
                      file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return [item for part in results for item in part]


def _indexed(job):
    work, index, spec = job
    return index, work(spec)
