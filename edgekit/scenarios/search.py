"""``--find-max-fps``: the highest stream rate that holds real-time here, by bisection
between a rate that held and one that did not."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .config import ScenarioConfig
from .core import measure
from .engine import drive

MAX_PROBES = 24


def service_rate(sut: Callable[[int], Any], clock: Any, n: int = 20) -> float:
    """Frames per second back to back, over ``n`` frames: where the search starts."""
    run = drive(sut, clock, arrivals=None, more=lambda i, t: i < n, queue=None)
    done = [f.end - f.start for f in run.frames if f.end is not None]  # type: ignore[operator]
    if run.interrupted:
        raise KeyboardInterrupt
    return 1e9 * len(done) / sum(done) if sum(done) > 0 else 1000.0


def find_max_fps(sut: Callable[[int], Any], clock: Any, cfg: ScenarioConfig,
                 sampler: Any = None) -> dict[str, Any]:
    """Probe stream runs (each a full run with its validity) from the back-to-back rate:
    double while they hold, halve while they do not, then bisect until the bracket is
    within ``cfg.search_tolerance_pct``. The max is the highest rate that held, VALID."""
    cfg = replace(cfg, name="stream")
    probes: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None

    def probe(fps: float) -> bool:
        nonlocal best
        res = measure(sut, clock, cfg, rate=fps, sampler=sampler)
        ok = bool(res["verdict"]["passed"])
        probes.append({"fps": fps, "passed": ok, "lost_pct": res["lost_pct"],
                       "result": res["validity"]["result"]})
        if res["validity"]["interrupted"]:
            raise _Stop(res)
        if ok and (best is None or fps > best["rate"]):
            best = res
        return ok

    lo, hi = 0.0, None
    f = service_rate(sut, clock)
    interrupted = None
    try:
        if probe(f):
            lo = f
            while len(probes) < MAX_PROBES // 2 and probe(f * 2):
                f *= 2
                lo = f
            hi = f * 2
        else:
            hi = f
            while len(probes) < MAX_PROBES // 2 and f > 0.1:
                f /= 2
                if probe(f):
                    lo = f
                    break
                hi = f
        while lo > 0 and hi - lo > cfg.search_tolerance_pct / 100 * lo \
                and len(probes) < MAX_PROBES:
            mid = (lo + hi) / 2
            if probe(mid):
                lo = mid
            else:
                hi = mid
    except _Stop as stop:
        interrupted = stop.result
    return {"max_fps": lo if best is not None else 0.0, "first_failing_fps": hi,
            "probes": probes, "at_max": best, "interrupted": interrupted}


class _Stop(Exception):
    def __init__(self, result: dict[str, Any]) -> None:
        super().__init__("interrupted")
        self.result = result
