"""Drive runtimes over a bundle's golden reference inputs and build the parity report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bundle import Bundle, tap_tensors
from ..runtimes import RUNTIMES, Runner, RunnerSettings, get_runner, no_artifact
from .verdict import OUTPUT_TAP, BackendResult, compare_backend

if TYPE_CHECKING:
    from ..profiles.schema import Profile

REFERENCE_FILE = "reference.npz"
#: how a seeded noise input is labelled in the manifest's reference inputs
NOISE_LABEL = "random("
SCHEMA = "edgekit.parity/1"


def load_reference(bundle: Bundle) -> dict[str, np.ndarray]:
    path = bundle.file(REFERENCE_FILE)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def tolerance_fn(profile: Profile, precision: str, overrides: dict[str, float] | None = None):
    def tol(kind: str):
        t = profile.tolerance(kind, precision)
        if overrides:
            t = t.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        return t

    return tol


def real_samples(labels: list[str], n: int) -> list[bool] | None:
    """Which of ``n`` reference samples are real images (not the seeded noise input), from
    the manifest's reference labels: the verdict's medians are over those. None when the
    labels do not cover the samples."""
    if len(labels) != n:
        return None
    return [not str(lb).startswith(NOISE_LABEL) for lb in labels]


def overall_status(statuses: list[str]) -> str:
    """fail if any backend failed; else not_compared if any compared nothing; else pass."""
    for st in ("fail", "not_compared"):
        if st in statuses:
            return st
    return "pass" if statuses else "not_compared"


def run_backend(runner: Runner, inputs: np.ndarray, extra: list[str]) -> dict[str, np.ndarray]:
    """Run every reference sample; stack each output along a new sample axis."""
    stacked: dict[str, list[np.ndarray]] = {}
    with runner:
        for k in range(inputs.shape[0]):
            outs = runner.infer({"images": inputs[k]})
            for name, arr in outs.items():
                stacked.setdefault(name, []).append(np.asarray(arr))
    out = {n: np.stack(v) for n, v in stacked.items()}
    # the deployed output keeps its own name; expose it as output0 for the comparison
    if OUTPUT_TAP not in out:
        primary = [n for n in runner.output_names if n not in extra]
        if primary:
            out[OUTPUT_TAP] = out[primary[0]]
    return out


def _tensorrt_tap_engine(bundle: Bundle, tmp: Path, taps: list[str]) -> Path:
    """An engine with the taps marked, built with the deployed engine's precision: the same
    ONNX (so the same Q/DQ scales, or the same fp16 islands) and, for a calibrated INT8
    engine, the deployed engine's calibration cache, read and never rewritten."""
    import shutil

    from ..errors import IntegrityError
    from ..export import tensorrt as trtx

    built = bundle.manifest.runtime("tensorrt")
    if not built or bundle.artifact("tensorrt") is None:
        raise no_artifact(bundle.path, "tensorrt",
                          [rt for rt in RUNTIMES if bundle.artifact(rt) is not None])
    trtx.check_engine_compat(built, trtx.gpu_info())
    onnx_path = bundle.file(built.get("source_onnx") or bundle.manifest.artifacts["onnx"])
    settings = trtx.settings_from_dict(built["settings"], mark_outputs=tuple(taps),
                                       timing_cache=False)
    cache = None
    if settings.precision == "int8" and settings.int8_mode == "calibrator":
        deployed_cache = bundle.file(built.get("calibration_cache") or trtx.CALIB_CACHE)
        if not deployed_cache.is_file() or deployed_cache.stat().st_size == 0:
            raise IntegrityError(f"{deployed_cache}: the calibration cache of the deployed "
                                 "engine is missing; parity cannot rebuild its INT8 scales")
        cache = tmp / "parity.calib"
        shutil.copyfile(deployed_cache, cache)
    engine = tmp / "parity.engine"
    trtx.build_engine(onnx_path, engine, settings, calib_cache=cache, calib_readonly=True)
    return engine


def _artifact_for(bundle: Bundle, backend: str,
                  artifacts: dict[str, Path] | None = None) -> Path:
    art = (artifacts or {}).get(backend) or bundle.artifact(backend)
    if art is None:
        raise no_artifact(bundle.path, backend,
                          [rt for rt in RUNTIMES if bundle.artifact(rt) is not None])
    return art


def _run_tensorrt(bundle: Bundle, profile: Profile, tmp: Path, tensors: list[str],
                  inputs: np.ndarray) -> tuple[dict[str, np.ndarray], Runner, dict[str, str]]:
    """output0 from the deployed engine itself; the taps from a rebuild with them marked."""
    settings = RunnerSettings.from_profile(profile)
    deployed = _artifact_for(bundle, "tensorrt")
    tap_engine = _tensorrt_tap_engine(bundle, tmp, tensors)
    runner = get_runner("tensorrt", tap_engine, extra_outputs=tensors, settings=settings)
    got = run_backend(runner, inputs, tensors)
    got[OUTPUT_TAP] = run_backend(get_runner("tensorrt", deployed, settings=settings),
                                  inputs, [])[OUTPUT_TAP]
    rel = str(deployed.relative_to(bundle.path))
    built = bundle.manifest.runtime("tensorrt") or {}
    engines = {"output0": f"{rel} (the deployed engine)",
               "taps": "a rebuild with the taps marked, from "
                       f"{built.get('source_onnx', 'model.onnx')}"
                       + (" and the deployed calibration cache"
                          if built.get("calibration_cache") else "")}
    return got, runner, engines


def run_parity(bundle: Bundle, profile: Profile, backends: list[str], *,
               artifacts: dict[str, Path] | None = None,
               reference: dict[str, np.ndarray] | None = None,
               tol_overrides: dict[str, Any] | None = None,
               runner_factory: Any = None) -> dict[str, Any]:
    """Parity of each backend against the bundle's reference; returns the JSON-ready report.
    ``artifacts`` (backend -> file) runs other files than the bundle's own against its
    reference, as tune does with its candidate builds."""
    ref = reference if reference is not None else load_reference(bundle)
    taps = bundle.taps
    tensors = tap_tensors(taps)
    out_fmt = bundle.manifest.output.format
    imgsz = bundle.manifest.input.imgsz
    random_weights = bundle.manifest.source.random_weights
    precision = profile.precision.value
    results: list[BackendResult] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-parity-") as tmpd:
        for backend in backends:
            engines = None
            if runner_factory is not None:
                runner = runner_factory(backend, tensors)
                artifact = backend
                got = run_backend(runner, ref["inputs"], tensors)
            elif backend == "tensorrt":
                if artifacts and "tensorrt" in artifacts:
                    raise ValueError("parity rebuilds TensorRT's tap engine from the bundle's "
                                     "ONNX: it cannot check another engine file")
                got, runner, engines = _run_tensorrt(bundle, profile, Path(tmpd), tensors,
                                                     ref["inputs"])
                artifact = str(bundle.artifact("tensorrt").relative_to(bundle.path))
            else:
                art = _artifact_for(bundle, backend, artifacts)
                artifact = (str(art.relative_to(bundle.path)) if art.is_relative_to(bundle.path)
                            else str(art))
                # the runtime runs in its deployed precision
                runner = get_runner(backend, art, extra_outputs=tensors,
                                    settings=RunnerSettings.from_profile(profile))
                got = run_backend(runner, ref["inputs"], tensors)
            res = compare_backend(backend, artifact, taps=taps, ref=ref, got=got,
                                  tolerance=tolerance_fn(profile, precision, tol_overrides),
                                  output_format=out_fmt, imgsz=imgsz,
                                  random_weights=random_weights,
                                  real=real_samples(bundle.manifest.reference.inputs,
                                                    ref["inputs"].shape[0]))
            res.settings = runner.describe()
            if engines:
                res.settings["engines"] = engines
            results.append(res)
    return {
        "schema": SCHEMA,
        "passed": all(r.passed for r in results),
        "status": overall_status([r.status for r in results]),
        "bundle": str(bundle.path),
        "precision": precision,
        "samples": int(ref["inputs"].shape[0]),
        "reference": "pytorch-fp32 (golden, stored in the bundle)" if reference is None
        else "pytorch-fp32 (recomputed)",
        "backends": {r.backend: r.to_dict() for r in results},
    }
