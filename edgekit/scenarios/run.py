"""Scenarios on a bundle's runtimes: the system under test is one frame end to end (decode
the bundle's sample image, preprocess, infer, postprocess), the clock is perf_counter_ns."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from .. import __version__
from ..bench.e2e import EndToEnd
from ..bench.run import BenchConfig, conditions, make_runner
from ..bench.stats import summarize
from ..bench.target import SAMPLE_IMAGE, artifact_precision, default_backends, resolve_target, sample_image
from ..errors import UsageError
from .clock import RealClock
from .config import ScenarioConfig, check
from .core import measure
from .search import find_max_fps
from .timeline import Sampler

SCHEMA = "edgekit.bench/1"


def frame_sut(runner: Any, target: Any, conf: float) -> EndToEnd:
    """One frame end to end: the bundle's sample image decoded on every call (older bundles
    without one: the stored image, not decoded)."""
    m = target.bundle.manifest
    args = (runner, m.input.imgsz, m.output.format, m.input.resize.mode, conf)
    f = target.bundle.file(SAMPLE_IMAGE)
    if Path(f).is_file():
        return EndToEnd(*args, encoded=Path(f).read_bytes())
    return EndToEnd(*args, image=sample_image(target))


def run_backend(backend: str, target: Any, cfg: ScenarioConfig, bcfg: BenchConfig,
                clock: Any) -> dict[str, Any]:
    runner = make_runner(backend, target, bcfg)
    out: dict[str, Any] = {"backend": backend, "precision": artifact_precision(backend, target)}
    with runner:
        sut = frame_sut(runner, target, bcfg.conf)
        for _ in range(cfg.warmup):
            sut()
        for v in sut.stages.values():
            v.clear()
        sampler = Sampler()
        try:
            if cfg.find_max_fps:
                search = find_max_fps(sut, clock, cfg, sampler)
                res = search["interrupted"] or search["at_max"]
                out["max_sustained_fps"] = search["max_fps"]
                out["search"] = {k: v for k, v in search.items()
                                 if k not in ("at_max", "interrupted")}
            else:
                res = measure(sut, clock, cfg, sampler=sampler)
        finally:
            sampler.close()
        out["settings"] = runner.describe()
        out["versions"] = runner.versions()
    if res is None:  # no rate held, not even the slowest probe
        res = {"verdict": {"passed": False, "failed": ["no stream rate held real-time"],
                           "headline": "no sustained rate", "result": "INVALID"},
               "validity": {"valid": False, "result": "INVALID", "interrupted": False,
                            "reasons": ["no probe held"]}}
    out["scenario"] = res
    if "latency" in res:
        lat = res["latency"]
        # FPS: results per second of the run, not 1000/mean latency (queueing included)
        out["end_to_end"] = {**lat, "fps": res["achieved_fps"],
                             "stages": {k: summarize(v) for k, v in sut.stages.items()},
                             "detections": sut.detections()}
        s = res["samples"]
        out["samples_ms"] = {"end_to_end": [e - a for a, e in zip(s["arrival_ms"], s["end_ms"],
                                                                  strict=True) if e is not None]}
    return out


def run_scenario(target_path: str | Path, cfg: ScenarioConfig, bcfg: BenchConfig | None = None,
                 *, clock: Any = None) -> dict[str, Any]:
    """Run ``cfg`` on each backend of a bundle; a report of bench's schema whose
    ``scenario`` says what ran, and whose backends carry the scenario's results. Ctrl-C
    stops it with what was measured, marked ``interrupted``."""
    check(cfg)
    bcfg = bcfg or BenchConfig()
    target = resolve_target(target_path)
    if target.bundle is None:
        raise UsageError(f"{target_path}: scenarios time frames end to end, which needs a "
                         "bundle (its sample image and decoding); a bare model file has none")
    backends = bcfg.backends or default_backends(target)
    clock = clock or RealClock()
    from ..bench.jetson import TegraStats

    results: dict[str, Any] = {}
    interrupted = False
    with TegraStats() as tegra:
        for be in backends:
            r = run_backend(be, target, cfg, bcfg, clock)
            results[be] = r
            if r["scenario"]["validity"].get("interrupted"):
                interrupted = True
                break
    m = target.bundle.manifest
    report: dict[str, Any] = {
        "schema": SCHEMA, "edgekit": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": str(target.path), "model_only_target": False,
        "model": {"source": m.source.spec, "profile": m.profile.name, "imgsz": m.input.imgsz,
                  "precision": m.profile.precision.value},
        "scenario": {"name": cfg.name, "params": cfg.to_json()},
        "config": {k: v for k, v in bcfg.__dict__.items()},
        "backends": results, "interrupted": interrupted,
    }
    report["conditions"] = conditions(bcfg)
    report["conditions"]["tegrastats"] = tegra.summary()
    report["verdict"] = {"passed": bool(results) and not interrupted and all(
        r["scenario"]["verdict"]["passed"] for r in results.values()),
        "budget_ms": cfg.budget_ms, "percentile": cfg.percentile, "backends": {}}
    return report
