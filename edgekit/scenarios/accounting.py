"""What a run's timestamps say: frames offered, processed, dropped and late; achieved FPS;
latency from arrival to result; the real-time verdict. Pure: no clock, no runtime."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..bench.stats import summarize
from .engine import Run


def _ms(ns: list[int]) -> list[float]:
    return [x / 1e6 for x in ns]


def account(run: Run, *, period_ns: int | None, deadline_ns: int | None,
            max_drop_pct: float) -> dict[str, Any]:
    """Counts and latencies of a run. ``period_ns``: the nominal gap between arrivals (a
    stream's period, a server's mean gap; None for a closed loop and offline), which closes
    the window achieved FPS is counted over. ``deadline_ns``: a result later than this
    after its arrival is a miss. Real-time (open-loop runs only) when dropped and late
    frames together stay within ``max_drop_pct`` of those offered."""
    frames = run.frames
    done = [f for f in frames if f.end is not None]
    dropped = [f for f in frames if f.dropped_at is not None]
    latency = [f.end - f.arrival for f in done]  # type: ignore[operator]
    service = [f.end - f.start for f in done]  # type: ignore[operator]
    wait = [f.start - f.arrival for f in done]  # type: ignore[operator]
    late = [f for f, lat in zip(done, latency, strict=True)
            if deadline_ns is not None and lat > deadline_ns]
    lateness = [f.woke - f.arrival for f in frames if f.woke is not None]
    first = frames[0].arrival if frames else 0
    last_end = max((f.end or 0 for f in done), default=first)
    closes = frames[-1].arrival + period_ns if frames and period_ns else last_end
    span_ns = max(last_end, closes) - first
    offered = len(frames)
    lost = len(dropped) + len(late)
    lost_pct = 100.0 * lost / offered if offered else 100.0
    out: dict[str, Any] = {
        "offered": offered, "processed": len(done), "dropped": len(dropped),
        "unfinished": offered - len(done) - len(dropped), "deadline_misses": len(late),
        "lost_pct": lost_pct, "span_s": span_ns / 1e9,
        "achieved_fps": len(done) / (span_ns / 1e9) if span_ns > 0 else 0.0,
        "latency": summarize(latency), "service": summarize(service),
        "queue_wait": summarize(wait), "arrival_lateness": summarize(lateness),
    }
    if period_ns is not None and not run.closed_loop:
        out["realtime"] = lost_pct <= max_drop_pct + 1e-9
    return out


def samples(run: Run) -> dict[str, list[Any]]:
    """Every frame's timestamps (ms from the start; None where it has none), for the JSON
    and the plot."""
    fr = run.frames
    return {"arrival_ms": [f.arrival / 1e6 for f in fr],
            "start_ms": [f.start / 1e6 if f.start is not None else None for f in fr],
            "end_ms": [f.end / 1e6 if f.end is not None else None for f in fr],
            "dropped_ms": [f.dropped_at / 1e6 if f.dropped_at is not None else None
                           for f in fr]}


def latencies_ms(run: Run) -> np.ndarray:
    return np.asarray(_ms([f.end - f.arrival for f in run.frames if f.end is not None]))
