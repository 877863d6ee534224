"""Latency statistics over every sample (no clipping). Pure numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

CV_WARN = 0.10


def summarize(samples_ns: list[int] | np.ndarray, batch: int = 1) -> dict[str, Any]:
    ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
    if ms.size == 0:
        return {"n": 0}
    mean = float(ms.mean())
    std = float(ms.std(ddof=1)) if ms.size > 1 else 0.0
    pct = {f"p{p}": float(np.percentile(ms, p)) for p in (50, 90, 95, 99)}
    return {
        "n": int(ms.size), "min": float(ms.min()), "mean": mean, "std": std,
        "cv": std / mean if mean > 0 else 0.0, **pct, "max": float(ms.max()),
        "jitter_p99_p50": pct["p99"] - pct["p50"],
        "fps": batch * 1000.0 / mean if mean > 0 else 0.0,
        "unit": "ms",
    }


def settled(warmup_ns: list[int], window: int = 10, tol: float = 0.10) -> bool:
    """Warm-up has settled when the medians of its last two windows agree within tol."""
    if len(warmup_ns) < 2 * window:
        return len(warmup_ns) >= 2
    a = float(np.median(warmup_ns[-2 * window : -window]))
    b = float(np.median(warmup_ns[-window:]))
    return abs(a - b) <= tol * max(a, b)
