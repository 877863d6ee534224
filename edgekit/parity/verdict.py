"""Comparison of one backend's outputs with the golden reference, and the verdict.

Pure logic over numpy arrays: runners are driven in :mod:`edgekit.parity.run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from . import align
from .metrics import DEGENERATE_RMS, check_tensor, cosine, median_of, merge_metrics, sqnr_db, stream_rel
from .output import NOT_COMPARED, QUERY_UNMATCHED_MAX, compare_agreement, compare_output

if TYPE_CHECKING:
    from ..bundle import Tap

OUTPUT_TAP = "output0"


@dataclass
class LayerResult:
    name: str
    kind: str
    tensor: str
    passed: bool
    status: str
    metrics: dict[str, float]
    reasons: list[str] = field(default_factory=list)
    alignment: dict[str, float] | None = None
    #: the tolerance fields whose rule failed (``min_median_sqnr_db``, ``non_finite``, ...)
    failed_rules: list[str] = field(default_factory=list)
    graph_index: int = -1

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        if d["alignment"] is None:
            d.pop("alignment")
        return d


@dataclass
class BackendResult:
    backend: str
    artifact: str
    passed: bool
    first_divergent: str | None
    layers: list[LayerResult]
    outputs: dict[str, Any]
    error: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    status: str = "pass"  # pass, fail, or not_compared (output0 compared nothing)
    verdict: str = "per_image"  # the sites' rule: per_image or median (see Tolerance)

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "artifact": self.artifact, "passed": self.passed,
                "status": self.status, "verdict": self.verdict,
                "first_divergent": self.first_divergent, "error": self.error,
                "settings": self.settings,
                "layers": [layer.to_dict() for layer in self.layers], "outputs": self.outputs}


def _query_perms(taps: list[Tap], ref: dict[str, np.ndarray],
                 got: dict[str, np.ndarray], rel_tol: float = 0.05) -> list[np.ndarray] | None:
    q = next((t for t in taps if t.kind == "queries"), None)
    if q is None or q.tensor not in got:
        return None
    r, o = ref[q.name], got[q.tensor]
    axis = q.query_axis if q.query_axis is not None else 1
    perms = []
    for k in range(r.shape[0]):
        rr = np.moveaxis(r[k], axis, 0).reshape(r[k].shape[axis], -1)
        oo = np.moveaxis(o[k], axis, 0).reshape(o[k].shape[axis], -1)
        perms.append(align.match_rows(rr, oo, rel_tol)[0])
    return perms


def compare_backend(
    backend: str, artifact: str, *, taps: list[Tap], ref: dict[str, np.ndarray],
    got: dict[str, np.ndarray], tolerance: Any, output_format: str, imgsz: int,
    conf: float = 0.25, random_weights: bool = False, real: list[bool] | None = None,
) -> BackendResult:
    """Compare a backend's stacked outputs (sample axis first) with the reference.

    ``taps``: the manifest's taps (name, kind, tensor, optional query_axis) in graph order.
    ``ref``: reference arrays keyed by tap name and ``output0``; ``got`` keyed by tensor name.
    ``tolerance(kind)`` gives the Tolerance for a site kind; its ``verdict`` chooses the
    rule: ``per_image`` (every sample within the criteria) or ``median`` (medians over the
    samples that ``real`` marks as real images; see :func:`median_site_verdict` and
    :func:`compare_agreement`). The first divergent site is the earliest failing one in
    graph order. ``random_weights``: the bundle's model has random weights (its
    manifest's ``source.random_weights``), see :func:`compare_output`.
    """
    # a query embedding carries the runtime's own error: match within what its precision allows
    perms = _query_perms(taps, ref, got, max(0.05, 2 * tolerance("queries").max_rel_l2))
    n = ref[OUTPUT_TAP].shape[0] if OUTPUT_TAP in ref else 0
    keep = list(real) if real is not None and len(real) == n else [True] * n
    layers: list[LayerResult] = []
    for tap in taps:
        if tap.kind == "queries":
            continue
        name, tensor = tap.name, tap.tensor
        gidx = tap.graph_index
        if tensor not in got:
            layers.append(LayerResult(name, tap.kind, tensor, False, "fail", {},
                                      [f"the backend returned no tensor {tensor}"],
                                      failed_rules=["missing"], graph_index=gidx))
            continue
        tol = tolerance(tap.kind)
        median = tol.verdict == "median"
        r_all, o_all = ref[name], got[tensor]
        stream_ref = _stream_input(tap, ref)
        per_sample: list[dict[str, Any]] = []
        reasons: list[str] = []
        passed = True
        failed_rules: list[str] = []
        images: dict[str, list[float]] = {"sqnr_db": [], "stream_rel": [], "cosine": [],
                                          "unmatched_frac": []}
        alignment = None
        qaxis = tap.query_axis
        for k in range(r_all.shape[0]):
            r, o = r_all[k], o_all[k]
            x = stream_ref[k] if stream_ref is not None else None
            for vals in images.values():
                vals.append(float("nan"))
            if perms is not None and qaxis is not None and o.shape == r.shape:
                o, valid = align.apply(o, perms[k], qaxis)
                unmatched = float(1 - valid.mean())
                images["unmatched_frac"][k] = unmatched
                same = float((perms[k] == np.arange(len(perms[k]))).mean())
                a = alignment or {"unmatched_frac": 0.0, "same_order_frac": 1.0}
                alignment = {"unmatched_frac": max(a["unmatched_frac"], unmatched),
                             "same_order_frac": min(a["same_order_frac"], same)}
                if unmatched > QUERY_UNMATCHED_MAX and not median:
                    passed = False
                    _add_rule(failed_rules, "query_set")
                    reasons.append(f"sample {k}: {unmatched:.0%} of the decoder's queries differ "
                                   "from the reference's (a different top-k set)")
                if not valid.any():
                    per_sample.append({})
                    continue
                r = np.compress(valid, r, axis=qaxis)
                o = np.compress(valid, o, axis=qaxis)
                if x is not None and x.shape == r_all[k].shape:
                    x = np.compress(valid, x, axis=qaxis)
            chk = check_tensor(o, r, tol)
            per_sample.append(chk.metrics)
            if chk.metrics and chk.metrics["ref_rms"] >= DEGENERATE_RMS:
                clean = np.nan_to_num(o, nan=0.0, posinf=0.0, neginf=0.0)
                images["sqnr_db"][k] = sqnr_db(clean, r)
                images["cosine"][k] = chk.metrics["cosine"]
                if x is not None and x.shape == r.shape:
                    images["stream_rel"][k] = stream_rel(clean, r, x)
            if median:
                if not chk.metrics or chk.metrics["nan"] or chk.metrics["inf"]:
                    passed = False  # a shape mismatch or a non-finite value fails on any image
                    _add_rule(failed_rules, "non_finite" if chk.metrics else "shape")
                    reasons += [f"sample {k}: {why}" for why in chk.reasons[:1]]
            elif not chk.passed:
                passed = False
                _add_rule(failed_rules, "per_image")
                reasons += [f"sample {k}: {x}" for x in chk.reasons]
            elif chk.status == "degenerate":
                reasons += [f"sample {k}: {x}" for x in chk.reasons]
        merged = merge_metrics([m for m in per_sample if m])
        medians = {f"{key}_median": v for key, vals in images.items()
                   if (v := median_of(vals, keep)) is not None}
        merged.update(medians)
        in_cos = _input_cosine(tap, ref, got, perms)
        if in_cos is not None and merged:
            # how much of the error the site inherited: its inputs' worst cosine
            merged["input_cosine"] = in_cos
        if median and merged:
            ok, why, rules = median_site_verdict(medians, tol, sum(keep) or len(keep))
            passed = passed and ok
            reasons += why
            failed_rules += [r for r in rules if r not in failed_rules]
        degenerate = passed and merged.get("ref_rms", 1.0) < DEGENERATE_RMS
        if not merged:
            passed = False
        status = "fail" if not passed else ("degenerate" if degenerate else "pass")
        layers.append(LayerResult(name, tap.kind, tensor, passed, status, merged,
                                  reasons[:6], alignment, failed_rules, gidx))
    out_tol = tolerance("output")
    if out_tol.verdict == "median":
        out0 = compare_agreement(ref[OUTPUT_TAP], got.get(OUTPUT_TAP), output_format, imgsz,
                                 out_tol, conf, keep, random_weights)
    else:
        out0 = compare_output(ref[OUTPUT_TAP], got.get(OUTPUT_TAP), output_format, imgsz,
                              out_tol, conf, perms, random_weights=random_weights)
    outputs = {OUTPUT_TAP: out0}
    failed = sorted((la for la in layers if not la.passed),
                    key=lambda la: la.graph_index if la.graph_index >= 0 else 1 << 30)
    out_status = outputs[OUTPUT_TAP]["status"]
    first = failed[0].name if failed else (OUTPUT_TAP if out_status == "fail" else None)
    # a backend passes only on what was compared: an output0 that compared nothing fails
    # the gate (status not_compared), without naming a divergent site
    status = "fail" if failed or out_status == "fail" else (
        NOT_COMPARED if out_status == NOT_COMPARED else "pass")
    verdict = "median" if tolerance("default").verdict == "median" else "per_image"
    return BackendResult(backend, artifact, status == "pass", first, layers, outputs,
                         status=status, verdict=verdict)


def _add_rule(rules: list[str], rule: str) -> None:
    if rule not in rules:
        rules.append(rule)


def _stream_input(tap: Tap, ref: dict[str, np.ndarray]) -> np.ndarray | None:
    """The reference's residual stream at a site: its first input shaped like its output
    (x in ``x + site(x)``); None when no input has that shape."""
    out = ref.get(tap.name)
    for rname in tap.input_refs or []:
        if out is not None and rname in ref and ref[rname].shape == out.shape:
            return ref[rname]
    return None


def median_site_verdict(medians: dict[str, float], tol: Any,
                        images: int) -> tuple[bool, list[str], list[str]]:
    """The reduced-precision rule for one site: its median SQNR over the images at least
    ``tol.min_median_sqnr_db`` and its median error relative to the residual stream at most
    ``tol.max_median_stream_rel`` (when the site has a residual stream). Returns (passed,
    reasons, failed rules)."""
    reasons, rules = [], []
    sq = medians.get("sqnr_db_median")
    if sq is not None and tol.min_median_sqnr_db is not None and sq < tol.min_median_sqnr_db:
        rules.append("min_median_sqnr_db")
        reasons.append(f"median SQNR {sq:.1f} dB < {tol.min_median_sqnr_db:g} dB "
                       f"(over {images} images)")
    sr = medians.get("stream_rel_median")
    if sr is not None and tol.max_median_stream_rel is not None \
            and sr > tol.max_median_stream_rel:
        rules.append("max_median_stream_rel")
        reasons.append(f"median error / residual stream {sr:.3f} > "
                       f"{tol.max_median_stream_rel:g} (over {images} images)")
    uq = medians.get("unmatched_frac_median")
    if uq is not None and uq > QUERY_UNMATCHED_MAX:
        rules.append("query_set")
        reasons.append(f"on the median image {uq:.0%} of the decoder's queries differ from "
                       "the reference's (a different top-k set)")
    return not rules, reasons, rules


def _input_cosine(tap: Tap, ref: dict[str, np.ndarray], got: dict[str, np.ndarray],
                  perms: list[np.ndarray] | None) -> float | None:
    """Worst cosine over the site's inputs and samples (None when not recorded)."""
    refs, tensors = tap.input_refs or [], tap.inputs
    axes = tap.input_query_axes or [None] * len(refs)
    worst: float | None = None
    for rname, tname, axis in zip(refs, tensors, axes):
        if rname not in ref or tname not in got or ref[rname].shape != got[tname].shape:
            continue
        for k in range(ref[rname].shape[0]):
            r, o = ref[rname][k], got[tname][k]
            if axis is not None and perms is not None:
                o, valid = align.apply(o, perms[k], axis)
                if not valid.any():
                    continue
                r, o = np.compress(valid, r, axis=axis), np.compress(valid, o, axis=axis)
            if not (np.isfinite(o).all() and o.any() and r.any()):
                continue
            c = cosine(o, r)
            worst = c if worst is None else min(worst, c)
    return worst
