"""Drive runtimes over a bundle's golden reference inputs and build the parity report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..export.bundle import Bundle, tap_tensors
from ..runtimes import RUNTIMES, Runner, RunnerSettings, get_runner, no_artifact
from .verdict import OUTPUT_TAP, BackendResult, compare_backend

REFERENCE_FILE = "reference.npz"
SCHEMA = "edgekit.parity/1"


def load_reference(bundle: Bundle) -> dict[str, np.ndarray]:
    path = bundle.file(REFERENCE_FILE)
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def tolerance_fn(profile: Any, precision: str, overrides: dict[str, float] | None = None):
    def tol(kind: str):
        t = profile.tolerance(kind, precision)
        if overrides:
            t = t.model_copy(update={k: v for k, v in overrides.items() if v is not None})
        return t

    return tol


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


def _artifact_for(bundle: Bundle, backend: str, tmp: Path, taps: list[str]) -> Path:
    art = bundle.artifact(backend)
    if art is None:
        raise no_artifact(bundle.path, backend,
                          [rt for rt in RUNTIMES if bundle.artifact(rt) is not None])
    if backend == "tensorrt":
        # the deployed engine keeps its outputs; parity uses an engine with the taps marked
        from ..export import tensorrt as trtx

        built = bundle.manifest["tensorrt"]
        onnx_path = bundle.file(built.get("source_onnx") or bundle.manifest["artifacts"]["onnx"])
        settings = trtx.TrtBuildSettings(**{
            **{k: tuple(v) if isinstance(v, list) else v for k, v in built["settings"].items()},
            "mark_outputs": tuple(taps), "timing_cache": False})
        engine = tmp / "parity.engine"
        trtx.build_engine(onnx_path, engine, settings,
                          calibration=load_reference(bundle)["inputs"][:, 0]
                          if settings.precision == "int8" and settings.int8_mode == "calibrator"
                          else None)
        return engine
    return art


def run_parity(bundle: Bundle, profile: Any, backends: list[str], *,
               reference: dict[str, np.ndarray] | None = None,
               tol_overrides: dict[str, float] | None = None,
               runner_factory: Any = None) -> dict[str, Any]:
    """Parity of each backend against the reference; returns the JSON-ready report."""
    ref = reference if reference is not None else load_reference(bundle)
    taps = bundle.taps
    tensors = tap_tensors(taps)
    out_fmt = bundle.manifest["output"]["format"]
    imgsz = bundle.manifest["input"]["imgsz"]
    precision = profile.precision.value
    results: list[BackendResult] = []
    with tempfile.TemporaryDirectory(prefix="edgekit-parity-") as tmpd:
        for backend in backends:
            if runner_factory is not None:
                runner = runner_factory(backend, tensors)
                artifact = backend
            else:
                art = _artifact_for(bundle, backend, Path(tmpd), tensors)
                artifact = (str(art.relative_to(bundle.path)) if art.is_relative_to(bundle.path)
                            else str(art))
                # the runtime runs in its deployed precision
                runner = get_runner(backend, art, extra_outputs=tensors,
                                    settings=RunnerSettings.from_profile(profile))
            got = run_backend(runner, ref["inputs"], tensors)
            res = compare_backend(backend, artifact, taps=taps, ref=ref, got=got,
                                  tolerance=tolerance_fn(profile, precision, tol_overrides),
                                  output_format=out_fmt, imgsz=imgsz)
            res.settings = runner.describe()
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
