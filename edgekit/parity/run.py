"""Drive runtimes over a bundle's golden reference inputs and build the parity report."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..bundle import Bundle, tap_tensors
from ..runtimes import ParityRun, bundle_artifacts, get_runtime, run_backend
from .verdict import BackendResult, compare_backend

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


def _artifact_for(bundle: Bundle, backend: str,
                  artifacts: dict[str, Path] | None = None) -> Path:
    plugin = get_runtime(backend)
    art = (artifacts or {}).get(backend) or plugin.artifact_of(bundle)
    if art is None:
        raise plugin.no_artifact(bundle.path, list(bundle_artifacts(bundle)))
    return art


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
            if runner_factory is not None:
                runner = runner_factory(backend, tensors)
                run = ParityRun(run_backend(runner, ref["inputs"], tensors), backend,
                                runner.describe())
            else:
                # the runtime runs in its deployed precision (the profile's settings)
                run = get_runtime(backend).parity_run(
                    bundle, profile, _artifact_for(bundle, backend, artifacts), tensors,
                    ref["inputs"], Path(tmpd))
            res = compare_backend(backend, run.artifact, taps=taps, ref=ref, got=run.outputs,
                                  tolerance=tolerance_fn(profile, precision, tol_overrides),
                                  output_format=out_fmt, imgsz=imgsz,
                                  random_weights=random_weights,
                                  real=real_samples(bundle.manifest.reference.inputs,
                                                    ref["inputs"].shape[0]))
            res.settings = run.settings
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
