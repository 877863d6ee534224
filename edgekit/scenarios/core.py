"""One scenario run on any system under test and any clock: the arrival process, the
engine, the accounting, validity, the bound, the timeline and the verdict, as data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import arrivals
from .accounting import account, latencies_ms, samples
from .config import OPEN_LOOP, ScenarioConfig
from .engine import drive
from .timeline import Sampler, throttling, timeline
from .validity import early_stopping, validity


def measure(sut: Callable[[int], Any], clock: Any, cfg: ScenarioConfig, *,
            rate: float | None = None, sampler: Sampler | None = None,
            keep_samples: bool = True) -> dict[str, Any]:
    """Run ``cfg``'s scenario (at ``rate`` instead of its own, for the max-FPS search)."""
    rate = rate if rate is not None else cfg.rate
    name = cfg.name
    if name == "stream":
        sched = arrivals.fixed(rate)  # type: ignore[arg-type]
    elif name == "server":
        sched = arrivals.poisson(rate, cfg.seed)  # type: ignore[arg-type]
    elif name == "offline":
        sched = arrivals.all_at_once()
    else:
        sched = None
    stop = round((cfg.duration_s if cfg.duration_s is not None else cfg.min_duration_s) * 1e9)
    count = cfg.iters if cfg.iters is not None else cfg.min_queries
    if cfg.iters is not None:  # exactly this many frames
        def more(i: int, t: int) -> bool:
            return i < count
    elif cfg.duration_s is not None:  # exactly this long
        def more(i: int, t: int) -> bool:
            return t < stop
    else:  # LoadGen's rule: until both minimums are met
        def more(i: int, t: int) -> bool:
            return i < count or t < stop
    period = cfg.period_ns(rate) if name in OPEN_LOOP else None
    if sampler is not None:
        sampler.samples = {}  # seconds count from this run's start (a search runs many)
    run = drive(sut, clock, arrivals=sched, more=more, queue=cfg.queue_size,
                lazy=name == "offline", on_frame=sampler)
    acc = account(run, period_ns=period, deadline_ns=cfg.deadline_ns(rate),
                  max_drop_pct=cfg.max_drop_pct)
    lat = latencies_ms(run)
    queries = acc["processed"] if run.closed_loop else acc["offered"]
    val = validity(duration_s=acc["span_s"], queries=queries,
                   min_duration_s=cfg.min_duration_s, min_queries=cfg.min_queries,
                   interrupted=run.interrupted)
    bounds = {f"p{p:g}": early_stopping(lat, p) for p in sorted({90.0, cfg.percentile})}
    rows = timeline(run, sampler.samples if sampler else None)
    dl = cfg.deadline_ns(rate)
    out: dict[str, Any] = {"scenario": name, "rate": rate, "queue": cfg.queue_size,
                           "deadline_ms": dl / 1e6 if dl is not None else None, **acc, "validity": val,
                           "early_stopping": bounds, "timeline": rows,
                           "throttling": throttling(run, rows)}
    out["verdict"] = verdict(out, cfg)
    if keep_samples:
        out["samples"] = samples(run)
    return out


def verdict(res: dict[str, Any], cfg: ScenarioConfig) -> dict[str, Any]:
    """Passed when the run is VALID, an open-loop run lost no more than --max-drop-pct of
    its frames (dropped or late), and with a budget, the percentile's early-stopping bound
    is within it (no bound, too few samples: not passed)."""
    failed = []
    val = res["validity"]
    if not val["valid"]:
        failed.append("INVALID: " + "; ".join(val["reasons"]))
    rate = res.get("rate")
    if "realtime" in res:
        what = f"{rate:g} FPS" if cfg.name == "stream" else f"{rate:g} QPS"
        if res["realtime"]:
            headline = f"real-time at {what}"
        else:
            headline = f"not real-time at {what}"
            failed.append(f"{res['lost_pct']:.2f}% of frames dropped or late > "
                          f"{cfg.max_drop_pct:g}%")
    else:
        headline = f"{res['achieved_fps']:.1f} FPS"
    key = f"p{cfg.percentile:g}"
    bound = res["early_stopping"][key]["bound_ms"]
    if cfg.budget_ms is not None:
        if bound is None:
            failed.append(f"{key} has no early-stopping bound from "
                          f"{res['early_stopping'][key]['n']} samples (needs "
                          f"{res['early_stopping'][key]['min_samples']})")
        elif bound > cfg.budget_ms:
            failed.append(f"{key} bound {bound:.2f} ms > budget {cfg.budget_ms:g} ms")
    return {"headline": headline, "passed": not failed, "failed": failed,
            "result": val["result"], "budget_ms": cfg.budget_ms, "percentile": cfg.percentile,
            "bound_ms": bound}
