"""Error metrics of one tensor against its reference. Pure numpy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

#: a reference whose RMS is below this is numerically degenerate: relative metrics are noise
DEGENERATE_RMS = 1e-6


@dataclass
class TensorCheck:
    passed: bool
    status: str  # "pass" | "fail" | "degenerate"
    metrics: dict[str, float]
    reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity of two tensors (flattened, float64); 1 when both are zero, 0 when
    only one is."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na > 0 and nb > 0 else (1.0 if na == nb else 0.0)


def tensor_metrics(out: np.ndarray, ref: np.ndarray, atol: float, rtol: float) -> dict[str, float]:
    a = np.asarray(out, dtype=np.float64).ravel()
    b = np.asarray(ref, dtype=np.float64).ravel()
    finite = np.isfinite(a)
    nan = int(np.isnan(a).sum())
    inf = int(np.isinf(a).sum())
    a0 = np.where(finite, a, 0.0)
    diff = np.abs(a0 - b)
    nb = float(np.linalg.norm(b))
    cos = cosine(a0, b)
    big = np.abs(b) > 1e-3 * (np.abs(b).max() if b.size else 0.0)
    max_rel = float((diff[big] / np.abs(b[big])).max()) if big.any() else 0.0
    rms = float(np.sqrt(np.mean(b * b))) if b.size else 0.0
    # atol is in units of the reference's RMS, so one tolerance fits activations of any scale
    beyond = (diff > atol * rms + rtol * np.abs(b)) | ~finite
    return {
        "max_abs": float(diff.max()) if diff.size else 0.0,
        "mean_abs": float(diff.mean()) if diff.size else 0.0,
        "rel_l2": float(np.linalg.norm(a0 - b) / nb) if nb > 0 else float(np.linalg.norm(a0)),
        "cosine": cos,
        "max_rel": max_rel,
        "beyond_tol_frac": float(beyond.mean()) if beyond.size else 0.0,
        "nan": nan,
        "inf": inf,
        "ref_rms": rms,
        "numel": int(b.size),
    }


def check_tensor(out: np.ndarray, ref: np.ndarray, tol: Any) -> TensorCheck:
    """Compare against a Tolerance (min_cosine, max_rel_l2, atol, rtol, max_violation_frac)."""
    if np.shape(out) != np.shape(ref):
        return TensorCheck(False, "fail", {}, [f"shape {np.shape(out)} != reference {np.shape(ref)}"])
    m = tensor_metrics(out, ref, tol.atol, tol.rtol)
    reasons: list[str] = []
    if m["nan"] or m["inf"]:
        reasons.append(f"non-finite values: {m['nan']} NaN, {m['inf']} Inf")
    if m["ref_rms"] < DEGENERATE_RMS and not reasons:
        return TensorCheck(True, "degenerate", m,
                           [f"reference RMS {m['ref_rms']:.2e} is near zero: metrics are noise"])
    if m["cosine"] < tol.min_cosine:
        reasons.append(f"cosine {m['cosine']:.6f} < {tol.min_cosine}")
    if m["rel_l2"] > tol.max_rel_l2:
        reasons.append(f"rel L2 {m['rel_l2']:.3g} > {tol.max_rel_l2}")
    if m["beyond_tol_frac"] > tol.max_violation_frac:
        reasons.append(f"{m['beyond_tol_frac']:.2%} of elements beyond {tol.atol}·rms(ref) + "
                       f"{tol.rtol}·|ref| (allowed {tol.max_violation_frac:.2%})")
    return TensorCheck(not reasons, "pass" if not reasons else "fail", m, reasons)


def sqnr_db(out: np.ndarray, ref: np.ndarray) -> float:
    """Signal-to-quantization-noise ratio of ``out`` against ``ref`` in dB (300 when equal)."""
    r = np.asarray(ref, dtype=np.float64).ravel()
    err = float(np.sum(np.square(np.asarray(out, dtype=np.float64).ravel() - r)))
    sig = float(np.sum(np.square(r)))
    if err == 0.0:
        return 300.0
    return float(10.0 * np.log10(max(sig, 1e-300) / err))


def stream_rel(out: np.ndarray, ref: np.ndarray, stream_in: np.ndarray) -> float:
    """The site's error relative to the residual stream it is added into: |out - ref| over
    |x + ref|, ``stream_in`` being the reference's x in ``x + site(x)``. A site whose output
    is small next to the stream can be far off in isolation and still cost nothing."""
    r = np.asarray(ref, dtype=np.float64)
    err = float(np.linalg.norm((np.asarray(out, dtype=np.float64) - r).ravel()))
    return err / max(float(np.linalg.norm((np.asarray(stream_in, np.float64) + r).ravel())),
                     1e-12)


def median_of(values: list[float], keep: list[bool]) -> float | None:
    """Median of the finite ``values`` whose ``keep`` is true; of all finite ones when no
    kept value is finite; None when none is."""
    kept = [v for v, k in zip(values, keep) if k and np.isfinite(v)]
    if not kept:
        kept = [v for v in values if np.isfinite(v)]
    return float(np.median(kept)) if kept else None


def merge_metrics(items: list[dict[str, float]]) -> dict[str, float]:
    """Worst case over samples."""
    if not items:
        return {}
    worst: dict[str, Callable[[list[float]], float]] = {
        "cosine": min, "max_abs": max, "mean_abs": max, "rel_l2": max, "max_rel": max,
        "beyond_tol_frac": max, "nan": sum, "inf": sum, "ref_rms": min, "numel": sum}
    out: dict[str, float] = {}
    for k, fn in worst.items():
        vals = [m[k] for m in items if k in m]
        if vals:
            out[k] = fn(vals)
    return out
