"""The public functions: ``edgekit.export``, ``parity``, ``bench``, ``eval``, ``tune`` and
``load_bundle``. The commands of :mod:`edgekit.cli` call these same functions and only parse,
render and exit around them.

Each returns a typed result (:mod:`edgekit.api.results`) whose ``to_json()`` is the document
the command's ``--json`` writes; bad input raises an :class:`~edgekit.errors.EdgekitError`
subclass. Nothing here prints or exits, and a gate that fails is ``result.passed == False``,
not an exception (the CLI turns it into exit 1).
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from .results import BenchResult, EvalResult, ExportResult, ParityResult, TuneResult

if TYPE_CHECKING:
    from ..bundle import Bundle
    from ..profiles.schema import Profile

__all__ = ["BenchResult", "EvalResult", "ExportResult", "ParityResult", "TuneResult", "bench",
           "eval", "export", "load_bundle", "parity", "tune"]

PathLike = str | os.PathLike[str]

#: the tolerance overrides :func:`parity` takes (each replaces the profile's for every site)
TOLERANCES = ("min_cosine", "max_rel_l2", "atol", "rtol", "max_violation_frac", "verdict",
              "min_median_sqnr_db", "max_median_stream_rel", "max_agreement_drop")
#: the scenarios :func:`bench` runs here (edgekit.scenarios adds more where it is installed)
#: the range ``dynamic=True`` gives a profile whose own batch is static
DEFAULT_DYNAMIC_MAX = 8


def load_bundle(path: PathLike, *, verify: bool = True) -> Bundle:
    """Open a bundle directory; ``verify`` checks the sha256 of every file it lists
    (:class:`~edgekit.errors.IntegrityError` when one differs)."""
    from ..bundle import load_bundle as _load

    return _load(Path(path), verify=verify)


def _profile(profile: str | Profile, overrides: dict[str, Any]) -> Profile:
    from ..profiles import apply_overrides, load_profile

    if isinstance(profile, str | os.PathLike):
        return load_profile(profile, overrides)
    given = {k: v for k, v in overrides.items() if v is not None}
    return apply_overrides(profile, given, source="arguments") if given else profile


def dynamic_batch(spec: Any, batch: int | None, batch_range: str | None) -> dict[str, object]:
    """Profile overrides for a dynamic batch: MIN:MAX from ``batch_range``, else the profile's
    own range when it has one, else 1..8; the traced batch (``size``, ``opt``) is ``batch``,
    else MIN."""
    if batch_range is not None:
        lo, sep, hi = batch_range.partition(":")
        try:
            bmin, bmax = int(lo), int(hi)
        except ValueError:
            bmin = bmax = 0
        if not sep or bmin < 1 or bmax < bmin:
            raise UsageError(f"--batch-range {batch_range}: give MIN:MAX with 1 <= MIN <= MAX, "
                             "e.g. 1:8")
    elif spec.dynamic:
        bmin, bmax = spec.min, spec.max
    else:
        bmin, bmax = 1, DEFAULT_DYNAMIC_MAX
    size = batch if batch is not None else bmin
    if not bmin <= size <= bmax:
        raise UsageError(f"--batch {size} is outside the dynamic range {bmin}:{bmax}")
    return {"batch.dynamic": True, "batch.min": bmin, "batch.max": bmax, "batch.size": size,
            "batch.opt": size}


def export(model: PathLike, profile: str | Profile = "intel-cpu-fp32", *,
           imgsz: int | None = None, out: PathLike = "bundles", data: PathLike | None = None,
           images: PathLike | None = None, batch: int | None = None, dynamic: bool = False,
           batch_range: str | None = None, opset: int | None = None, threads: int | None = None,
           simplify: bool | None = None, seed: int = 0, end2end: bool | None = None,
           parity: bool = True, force: bool = False, trust_checkpoint: bool = False,
           fraction: float | None = None, exporter: str | None = None,
           allow_known_issues: tuple[str, ...] | list[str] = ()) -> ExportResult:
    """Export ``model`` (a checkpoint, an Ultralytics YAML, or a bundle to build on this
    device) to a verified bundle under ``out``. ``result.passed``: parity held (the bundle
    is kept either way, with its ``parity.json``). ``exporter``: ``torchscript`` or
    ``dynamo`` (default: edgekit's choice); ``allow_known_issues``: ids of the known-bad
    table (:mod:`edgekit.known_issues`) to build despite."""
    from ..export.pipeline import export as run_export

    prof = _profile(profile, {"imgsz": imgsz, "batch.size": batch, "opset": opset,
                              "runtime.threads": threads, "simplify": simplify})
    if dynamic or batch_range:
        from ..profiles import apply_overrides

        prof = apply_overrides(prof, dynamic_batch(prof.batch, batch, batch_range),
                               source="--dynamic/--batch-range")
    res = run_export(str(model), prof, Path(out), seed=seed, end2end=end2end, parity=parity,
                     images=None if images is None else str(images), force=force,
                     trust_checkpoint=trust_checkpoint,
                     data=None if data is None else str(data), fraction=fraction,
                     exporter=exporter, allow_known_issues=tuple(allow_known_issues))
    doc = res.parity if res.parity is not None else {"passed": True, "bundle": str(res.bundle)}
    return ExportResult(doc, bundle=res.bundle, manifest=res.manifest, notes=tuple(res.notes),
                        parity=None if res.parity is None else ParityResult(res.parity))


def _check_tolerances(tolerances: dict[str, Any]) -> None:
    """Overrides by name (:data:`TOLERANCES`), each a value a profile's tolerance may hold."""
    from pydantic import ValidationError

    from ..profiles.schema import Tolerance

    unknown = sorted(set(tolerances) - set(TOLERANCES))
    if unknown:
        raise UsageError(f"unknown tolerance {', '.join(unknown)} (choose from "
                         f"{', '.join(TOLERANCES)})")
    if tolerances.get("verdict") not in (None, "per_image", "median"):
        raise UsageError(f"--verdict {tolerances['verdict']}: choose per_image or median")
    given = {k: v for k, v in tolerances.items() if v is not None}
    try:
        Tolerance.model_validate(given)
    except ValidationError as e:
        err = e.errors()[0]
        field = str(err["loc"][0]) if err.get("loc") else "tolerance"
        raise UsageError(f"--{field.replace('_', '-')} {given.get(field)}: "
                         f"{err['msg'].lower()}") from None


def parity(bundle: PathLike | Bundle, *, backends: list[str] | None = None,
           profile: str | Profile | None = None, reference: PathLike | None = None,
           trust_checkpoint: bool = False, allow_known_issues: tuple[str, ...] | list[str] = (),
           **tolerances: Any) -> ParityResult:
    """Each backend's outputs and attention sites against the bundle's PyTorch reference
    (``reference``: recompute it from this model instead). ``backends``: the profile's
    runtimes by default. ``tolerances``: overrides by name (:data:`TOLERANCES`).
    ``allow_known_issues``: ids of the known-bad table to run despite."""
    from ..bundle import Bundle
    from ..known_issues import check_allowed, check_bundle
    from ..parity.run import run_parity
    from ..runtimes import check_installed, runtime_names

    _check_tolerances(tolerances)
    allow = check_allowed(allow_known_issues)
    known = runtime_names(deployable=True)
    for name in backends or ():
        if name not in known:
            raise UsageError(f"--backend {name}: choose from {', '.join(known)}")
        check_installed(name)
    b = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
    prof = b.manifest.profile if profile is None else _profile(profile, {})
    if backends is None:
        backends = list(prof.runtimes)
        for x in backends:
            check_installed(x)
    check_bundle(b.manifest, prof, list(backends), allow)
    ref = None
    if reference is not None:
        from ..parity.reference import recompute_reference

        ref = recompute_reference(b, str(reference), trust_checkpoint=trust_checkpoint)
    report = run_parity(b, prof, list(backends), reference=ref,
                        tol_overrides={k: tolerances.get(k) for k in TOLERANCES})
    return ParityResult(report)


def bench(bundle: PathLike, *, backends: list[str] | None = None,
          scenario: str | None = None, baseline: PathLike | None = None,
          max_regression: float = 10.0, progress: Any = None, **options: Any) -> BenchResult:
    """Latency of a bundle (or a bare model file) on each backend.

    Without ``scenario``: bench's back-to-back timing, model-only and end to end; ``options``
    are the fields of :class:`edgekit.bench.run.BenchConfig` (``iters``, ``warmup``,
    ``duration_s``, ``batch``, ``threads``, ``hint``, ``budget_ms``, ``percentile``,
    ``e2e``, ``imgsz``...). With ``scenario`` (``single-stream``, ``stream``, ``server``,
    ``offline``): frames end to end under that arrival process, with validity; ``options``
    may then also be the fields of :class:`edgekit.scenarios.ScenarioConfig` (``fps``,
    ``qps``, ``queue``, ``deadline_ms``, ``max_drop_pct``, ``find_max_fps``,
    ``min_duration_s``, ``min_queries``, ``seed``...). ``baseline``: a previous report (JSON
    file); ``passed`` then also means the p50 did not regress more than ``max_regression``
    percent (and the baseline must be of the same scenario)."""
    from ..bench.report import check_same_scenario, load_report
    from ..bench.run import BenchConfig, regression, run_bench

    bench_names = {f.name for f in fields(BenchConfig)}
    scen_names: set[str] = set()
    if scenario is not None:
        from ..scenarios import ScenarioConfig

        scen_names = {f.name for f in fields(ScenarioConfig)} - {"name"}
    unknown = sorted(set(options) - bench_names - scen_names)
    if unknown:
        raise UsageError(f"bench: unknown option {', '.join(unknown)} (choose from "
                         f"{', '.join(sorted((bench_names | scen_names) - {'backends'}))})")
    if options.get("hint") not in (None, "latency", "throughput"):
        raise UsageError(f"--hint {options['hint']}: choose latency or throughput")
    scfg = None
    if scenario is not None:
        from ..scenarios import ScenarioConfig, check

        scfg = ScenarioConfig(name=scenario, **{k: v for k, v in options.items() if k in scen_names})
        check(scfg)  # bad rates and flags: UsageError before any model loads
    cfg = BenchConfig(backends=backends, **{k: v for k, v in options.items()
                                            if k in bench_names and k not in scen_names})
    base = None
    if baseline is not None:
        base = load_report(Path(baseline), "--baseline")
        if backends and not set(backends) & set(base["backends"]):
            raise UsageError(f"--baseline {baseline}: no result for {', '.join(backends)} "
                             f"(it has {', '.join(base['backends'])}); nothing to compare")
        mine = {} if scfg is None else {"scenario": {"name": scfg.name,
                                                     "params": scfg.to_json()}}
        check_same_scenario([("this run", mine), (str(baseline), base)])
    if scfg is not None:
        from ..scenarios import run_scenario

        report = run_scenario(Path(bundle), scfg, cfg)
    else:
        report = run_bench(Path(bundle), cfg, throughput=cfg.hint == "throughput",
                           progress=progress)
    if base is not None:
        report["regression"] = regression(report, base, max_regression)
    return BenchResult(report)


def eval(bundle: PathLike, data: PathLike, *, backends: list[str] | None = None,  # noqa: A001
         split: str = "val", max_images: int | None = None, max_drop: float | None = None,
         reference: str = "auto", threads: int | None = None, trust_checkpoint: bool = False,
         progress: Any = None) -> EvalResult:
    """mAP50-95 and mAP50 of a bundle on a labelled dataset (an Ultralytics data.yaml), per
    backend and per class, against the PyTorch reference. ``passed``: no backend dropped
    more than ``max_drop`` points (always, without ``max_drop``)."""
    from ..eval.run import EvalConfig, run_eval

    if reference not in ("auto", "torch", "recorded", "none"):
        raise UsageError(f"--reference {reference}: choose auto, torch, recorded or none")
    cfg = EvalConfig(backends=backends, split=split, max_images=max_images, max_drop=max_drop,
                     threads=threads, reference=reference, trust_checkpoint=trust_checkpoint)
    return EvalResult(run_eval(Path(bundle), Path(data), cfg, progress=progress))


def tune(target: PathLike, profile: str | Profile = "intel-cpu-int8", *,
         imgsz: int | None = None, out: PathLike = "bundles", time_limit: float = 1800,
         iters: int = 50, threads: int | None = None, seed: int = 0,
         min_cosine: float | None = None, max_rel_l2: float | None = None,
         data: PathLike | None = None, split: str = "val", max_images: int | None = None,
         max_drop: float | None = None, trust_checkpoint: bool = False,
         force: bool = False, **tolerances: Any) -> TuneResult:
    """Search what must stay float for an INT8 build of ``target`` (a bundle, or a model
    exported first with intel-cpu-fp32 at the profile's size) to keep parity (and, with
    ``data``, its mAP); time the candidates and write a tuned profile and bundle.
    ``tolerances``: verdict overrides by name, as :func:`parity` takes them (every candidate
    is judged by them, and the tuned profile records them)."""
    from .._paths import check_writable_dir
    from ..tune import tune as run_tune

    tolerances = {**tolerances, "min_cosine": min_cosine, "max_rel_l2": max_rel_l2}
    _check_tolerances(tolerances)
    if data is None and (max_drop is not None or max_images is not None):
        raise UsageError("--max-drop and --max-images judge a scope on --data: give --data too")
    check_writable_dir(Path(out), "--out")
    prof = _profile(profile, {"imgsz": imgsz, "runtime.threads": threads})
    bundle, exported = Path(target), None
    if not bundle.is_dir():
        # with data, the reference holds held-out val images too (the verdict's medians)
        exported = export(target, "intel-cpu-fp32", imgsz=prof.imgsz, threads=threads,
                          out=out, seed=seed, force=force, trust_checkpoint=trust_checkpoint,
                          data=data)
        bundle = exported.bundle
    rep = run_tune(bundle, prof, Path(out), time_limit_s=time_limit, iters=iters,
                   threads=threads, force=force, split=split, max_images=max_images,
                   tol_overrides={k: v for k, v in tolerances.items() if v is not None},
                   data=None if data is None else str(data),
                   max_drop=1.0 if max_drop is None else max_drop)
    return TuneResult(rep, export=exported)
