"""The timing loop: closed-loop single stream, perf_counter_ns, every sample kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .stats import settled


@dataclass
class Timing:
    samples_ns: list[int]
    warmup_ns: list[int]
    warmup_settled: bool


def measure(step: Callable[[], Any], *, warmup: int = 10, iters: int | None = 100,
            duration_s: float | None = None, sync: Callable[[], None] | None = None,
            max_warmup: int = 200, progress: Callable[[int], None] | None = None) -> Timing:
    """Run ``step`` closed-loop. Warm-up runs ``warmup`` times, then in windows until the
    last two windows' medians agree (at most ``max_warmup``). Then ``iters`` timed calls, or
    as many as fit in ``duration_s``."""
    clock = time.perf_counter_ns
    warm: list[int] = []

    def once() -> int:
        t0 = clock()
        step()
        if sync is not None:
            sync()
        return clock() - t0

    for _ in range(warmup):
        warm.append(once())
    while warmup and len(warm) < max_warmup and not settled(warm):
        warm.append(once())
    samples: list[int] = []
    deadline = clock() + int(duration_s * 1e9) if duration_s else None
    while True:
        if deadline is None and len(samples) >= (iters or 0):
            break
        if deadline is not None and clock() >= deadline and samples:
            break
        samples.append(once())
        if progress is not None:
            progress(len(samples))
    return Timing(samples, warm, settled(warm) if warmup else False)
