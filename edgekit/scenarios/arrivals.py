"""When frames arrive, in ns from the start of the run (LoadGen's load generator): a fixed
clock (a camera), seeded Poisson (a service), all at once (offline). Back to back (single
stream) has no schedule: the next frame arrives when the last result is out."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def fixed(fps: float) -> Iterator[int]:
    """Frame i arrives at i/fps: each deadline absolute, so the clock never drifts by the
    work done between frames."""
    i = 0
    while True:
        yield round(i * 1e9 / fps)
        i += 1


def poisson(qps: float, seed: int) -> Iterator[int]:
    """Exponential gaps of mean 1/qps from a seeded generator: the same seed, the same
    schedule. The first query arrives at 0, as LoadGen issues its first at once."""
    rng = np.random.default_rng(seed)
    t = 0.0
    yield 0
    while True:
        for gap in rng.exponential(1e9 / qps, size=256):
            t += float(gap)
            yield round(t)


def all_at_once() -> Iterator[int]:
    while True:
        yield 0
