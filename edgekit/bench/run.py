"""``edgekit bench``: model-only and end-to-end latency per backend, in one run."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import __version__
from ..bundle import Bundle, Manifest
from ..errors import UsageError
from ..hostinfo import cpu_info, gpu_list, jetson_info
from ..runtimes import (
    RunnerSettings,
    get_runtime,
    installed_versions,
    plugins,
)
from .e2e import EndToEnd, postprocess  # noqa: F401 - postprocess: re-exported
from .stats import CV_WARN, summarize
from .target import (
    Target,
    artifact_precision,
    default_backends,
    feed_for,
    resolve_target,
    sample_image,
)
from .timer import measure

SCHEMA = "edgekit.bench/1"


@dataclass
class BenchConfig:
    backends: list[str] | None = None
    warmup: int = 10
    iters: int | None = 100
    duration_s: float | None = None
    batch: int = 1
    threads: int | None = None
    hint: str | None = None  # OpenVINO's performance hint; None: the profile's (else latency)
    budget_ms: float | None = None
    percentile: float = 99.0
    e2e: bool = True
    conf: float = 0.25
    trust_checkpoint: bool = False  # the torch backend reopens the bundle's source checkpoint
    imgsz: int | None = None  # the size a bare model file with dynamic sizes runs at


def runner_settings(target: Target, cfg: BenchConfig, **overrides: Any) -> RunnerSettings:
    """The settings bench runs a backend with: the bundle's recorded profile (its
    ``runtime:`` section and precision, as parity uses them), the CLI's flags winning; a bare
    model file has no profile, so the defaults and the flags."""
    profile = target.bundle.manifest.profile if target.bundle is not None else None
    over: dict[str, Any] = {"threads": cfg.threads, "openvino_hint": cfg.hint,
                            "batch": cfg.batch if cfg.batch > 1 else None}
    return RunnerSettings.from_profile(profile, **{**over, **overrides})


def make_runner(backend: str, target: Target, cfg: BenchConfig,
                 settings: RunnerSettings | None = None) -> Any:
    settings = settings or runner_settings(target, cfg)
    plugin = get_runtime(backend)
    art = target.artifacts.get(backend)
    if art is None and not plugin.runs_source:
        raise plugin.no_artifact(target.path, list(target.artifacts))
    if target.bundle is not None and art is not None:
        plugin.check_artifact(target.bundle)
    return plugin.runner(art, settings=settings, bundle=target.bundle,
                         trust_checkpoint=cfg.trust_checkpoint)


def bench_backend(backend: str, target: Target, cfg: BenchConfig, *, progress: Any = None,
                  settings: RunnerSettings | None = None) -> dict[str, Any]:
    """Time one backend; ``settings`` replaces those of :func:`runner_settings` (tune times
    its candidates under the profile it tunes for)."""
    m = target.bundle.manifest if target.bundle else None
    runner = make_runner(backend, target, cfg, settings)
    art = target.artifacts.get(backend)
    if art is None:  # torch: rebuilt from the bundle's recorded source
        shown = f"pytorch: {m.source.spec}" if m else None
    elif target.bundle is not None and art.is_relative_to(target.bundle.path):
        shown = art.relative_to(target.bundle.path).as_posix()
    else:  # a bare file, or a candidate beside a bundle (tune)
        shown = str(art)
    precision = artifact_precision(backend, target)
    out: dict[str, Any] = {"backend": backend, "artifact": shown, "precision": precision}
    with runner:
        feed = feed_for(runner, target, cfg.batch, cfg.imgsz)
        t = measure(lambda: runner.infer(feed), warmup=cfg.warmup, iters=cfg.iters,
                    duration_s=cfg.duration_s, sync=runner.synchronize,
                    progress=(lambda i: progress(backend, "model", i)) if progress else None)
        out["model_only"] = {**summarize(t.samples_ns, cfg.batch),
                             "warmup_iters": len(t.warmup_ns),
                             "warmup_settled": t.warmup_settled}
        out["samples_ms"] = {"model_only": [s / 1e6 for s in t.samples_ns]}
        from ..models.preprocess import has_image_backend

        e2e_off = None
        if m is not None and cfg.e2e and not has_image_backend():
            e2e_off = ("end-to-end skipped: decoding and resizing images needs OpenCV "
                       "(pip install 'edgekit[e2e]') or Pillow")
        if m is not None and cfg.e2e and cfg.batch == 1 and e2e_off is None:
            sut = EndToEnd(runner, m.input.imgsz, m.output.format, m.input.resize.mode,
                           cfg.conf, image=sample_image(target))
            te = measure(sut, warmup=cfg.warmup, iters=cfg.iters, duration_s=cfg.duration_s,
                         progress=(lambda i: progress(backend, "e2e", i)) if progress else None)
            n = len(te.samples_ns)
            out["end_to_end"] = {**summarize(te.samples_ns), "warmup_settled": te.warmup_settled,
                                 "stages": {k: summarize(v[-n:]) for k, v in sut.stages.items()},
                                 "detections": sut.detections()}
            out["samples_ms"]["end_to_end"] = [s / 1e6 for s in te.samples_ns]
        out["settings"] = runner.describe()
        out["versions"] = runner.versions()
    warnings = [e2e_off] if e2e_off else []
    for mode in ("model_only", "end_to_end"):
        st = out.get(mode)
        if st and st["cv"] > CV_WARN:
            warnings.append(f"{backend} {mode}: CV {st['cv']:.0%} > {CV_WARN:.0%}: the machine "
                            "is noisy; quote medians, and rerun with more iterations")
        if st and not st.get("warmup_settled", True):
            warnings.append(f"{backend} {mode}: warm-up did not settle")
    out["warnings"] = warnings
    return out


def bench_interleaved(models: dict[str, tuple[str, Path]], bundle: Bundle, *, iters: int,
                      rounds: int = 5, warmup: int = 5, threads: int | None = None,
                      settings: dict[str, RunnerSettings] | None = None
                      ) -> dict[str, dict[str, Any]]:
    """Model-only latency of several models side by side: every model is loaded and warmed
    up, then timed in ``rounds`` interleaved rounds of ``iters // rounds`` calls, so drift on
    a shared machine hits them all alike. ``models``: label -> (backend, artifact);
    ``settings``: label -> the settings to run it with (else :func:`runner_settings`)."""
    from contextlib import ExitStack

    cfg = BenchConfig(warmup=warmup, iters=iters, threads=threads, e2e=False)
    steps = {}
    samples: dict[str, list[int]] = {k: [] for k in models}
    with ExitStack() as stack:
        for label, (backend, art) in models.items():
            target = Target(art, bundle, {backend: art})
            r = stack.enter_context(make_runner(backend, target, cfg,
                                                 (settings or {}).get(label)))
            feed = feed_for(r, target, 1)
            steps[label] = (lambda r=r, f=feed: r.infer(f)), r.synchronize
            measure(steps[label][0], warmup=warmup, iters=1, sync=r.synchronize)
        per_round = max(1, iters // rounds)
        for _ in range(rounds):
            for label, (step, sync) in steps.items():
                samples[label] += measure(step, warmup=0, iters=per_round, sync=sync).samples_ns
    return {k: summarize(v) for k, v in samples.items()}


def bench_throughput(target: Target, cfg: BenchConfig) -> dict[str, Any]:
    """Async infer requests with streams (hint=throughput), on the first runtime of the
    target that has a throughput mode (OpenVINO)."""
    able = [p for p in plugins() if p.throughput]
    plugin = next((p for p in able if p.name in target.artifacts), None)
    if plugin is None:
        raise UsageError(f"throughput mode runs on {', '.join(p.name for p in able)}: the "
                         "target has no artifact for it")
    settings = runner_settings(target, cfg, openvino_hint="throughput")
    runner: Any = plugin.runner(target.artifacts[plugin.name], settings=settings)
    with runner:
        feed = feed_for(runner, target, cfg.batch, cfg.imgsz)
        runner.run_async(feed, max(cfg.warmup, 4))
        total = cfg.iters or 100
        elapsed, lat, jobs = runner.run_async(feed, total)
        desc = runner.describe()
    return {"backend": plugin.name, "mode": "throughput", "requests": jobs, "batch": cfg.batch,
            "images": total * cfg.batch, "elapsed_s": elapsed / 1e9,
            "fps": total * cfg.batch / (elapsed / 1e9), "request_latency": summarize(lat),
            "settings": desc}


def conditions(cfg: BenchConfig) -> dict[str, Any]:
    cpu = cpu_info()
    return {"cpu": cpu, "threads_requested": cfg.threads, "gpus": gpu_list(),
            "jetson": jetson_info(), "runtimes": installed_versions(),
            "governor": cpu.get("governor"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}


def check_batch(manifest: Manifest, batch: int, backends: list[str]) -> None:
    """Refuse (exit 2) a batch the bundle cannot run, with a re-export command that works:
    a static bundle runs its own batch only (torch, eager, runs any), a dynamic one its
    profile's range."""
    b = manifest.profile.batch
    src, prof = manifest.source.spec, manifest.profile.name
    again = (f"re-export with a dynamic batch: `edgekit export {src} --profile {prof} "
             f"--imgsz {manifest.input.imgsz} --batch-range 1:{batch}`")
    if not manifest.input.dynamic_batch:
        static = manifest.input.shape[0]
        if batch != static and set(backends) - {"torch"}:
            raise UsageError(f"the bundle has a static batch of {static}; --batch {batch} "
                             f"needs a dynamic-batch bundle: {again}")
    elif not b.min <= batch <= b.max:
        raise UsageError(f"--batch {batch} is outside the bundle's dynamic batch range "
                         f"{b.min}..{b.max}; {again}")


def run_bench(target_path: str | Path, cfg: BenchConfig, *, throughput: bool = False,
              progress: Any = None) -> dict[str, Any]:
    target = resolve_target(target_path)
    backends = cfg.backends or default_backends(target)
    if cfg.hint is None:
        cfg.hint = runner_settings(target, cfg).openvino_hint
    if target.bundle is not None:
        recorded = target.bundle.manifest.input.imgsz
        if cfg.imgsz is not None and cfg.imgsz != recorded:
            raise UsageError(f"--imgsz {cfg.imgsz}: the bundle was exported at {recorded} px "
                             "and runs at that size only")
        check_batch(target.bundle.manifest, cfg.batch,
                    [p.name for p in plugins() if p.throughput] if throughput else backends)
        b = target.bundle.manifest.profile.budget
        if cfg.budget_ms is None and b.latency_ms:
            cfg.budget_ms = float(b.latency_ms)
            cfg.percentile = float(b.percentile)
    from .jetson import TegraStats

    with TegraStats() as tegra:
        results = [] if throughput else [bench_backend(be, target, cfg, progress=progress)
                                         for be in backends]
    report: dict[str, Any] = {
        "schema": SCHEMA, "edgekit": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "target": str(target.path), "model_only_target": target.bundle is None,
        "model": _model_info(target),
        "config": {k: v for k, v in cfg.__dict__.items()},
        "backends": {r["backend"]: r for r in results},
    }
    if throughput:
        report["throughput"] = bench_throughput(target, cfg)
    report["conditions"] = conditions(cfg)
    report["conditions"]["tegrastats"] = tegra.summary()
    report["verdict"] = verdict(report, cfg)
    return report


def _model_info(target: Target) -> dict[str, Any] | None:
    """What was timed, for titles and summaries: the bundle's source, profile and size."""
    if target.bundle is None:
        return None
    m = target.bundle.manifest
    return {"source": m.source.spec, "profile": m.profile.name,
            "imgsz": m.input.imgsz, "precision": m.profile.precision.value}


def verdict(report: dict[str, Any], cfg: BenchConfig) -> dict[str, Any]:
    """Real-time when the chosen percentile of the end-to-end (else model-only) latency is
    within the budget."""
    if cfg.budget_ms is None:
        return {"budget_ms": None, "passed": True, "backends": {}}
    key = f"p{cfg.percentile:g}"
    per: dict[str, Any] = {}
    for name, r in report["backends"].items():
        mode = "end_to_end" if "end_to_end" in r else "model_only"
        samples = r["samples_ms"][mode]
        value = float(np.percentile(samples, cfg.percentile))
        per[name] = {"mode": mode, key: value, "realtime": value <= cfg.budget_ms}
    return {"budget_ms": cfg.budget_ms, "percentile": cfg.percentile,
            "passed": all(v["realtime"] for v in per.values()), "backends": per}


def regression(report: dict[str, Any], baseline: dict[str, Any], max_pct: float) -> dict[str, Any]:
    """Compare medians with a baseline report; a slowdown above ``max_pct`` fails."""
    rows, unmatched = [], []
    for name, r in report["backends"].items():
        base = baseline.get("backends", {}).get(name) or {}
        for mode in ("model_only", "end_to_end"):
            if mode not in r:
                continue
            if "p50" not in (base.get(mode) or {}):
                unmatched.append(f"{name} {mode.replace('_', '-')}")
                continue
            new, old = r[mode]["p50"], base[mode]["p50"]
            pct = (new - old) / old * 100 if old > 0 else 0.0
            rows.append({"backend": name, "mode": mode, "baseline_p50": old, "p50": new,
                         "change_pct": pct, "passed": pct <= max_pct})
    # nothing compared is not a pass
    return {"max_regression_pct": max_pct, "rows": rows, "not_compared": unmatched,
            "passed": bool(rows) and all(x["passed"] for x in rows)}
