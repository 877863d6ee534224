"""Comparison of one backend's outputs with the golden reference, and the verdict.

Pure logic over numpy arrays: runners are driven in :mod:`edgekit.parity.run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..families import get_format
from . import align
from .detections import decode, match
from .metrics import DEGENERATE_RMS, check_tensor, cosine, merge_metrics

if TYPE_CHECKING:
    from ..bundle import Tap

QUERY_UNMATCHED_MAX = 0.10  # more unmatched queries than this fails the site
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

    def to_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "artifact": self.artifact, "passed": self.passed,
                "status": self.status,
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
    conf: float = 0.25, random_weights: bool = False,
) -> BackendResult:
    """Compare a backend's stacked outputs (sample axis first) with the reference.

    ``taps``: the manifest's taps (name, kind, tensor, optional query_axis) in graph order.
    ``ref``: reference arrays keyed by tap name and ``output0``; ``got`` keyed by tensor name.
    ``tolerance(kind)`` gives the Tolerance for a site kind. ``random_weights``: the
    bundle's model has random weights (its manifest's ``source.random_weights``), see
    :func:`compare_output`.
    """
    # a query embedding carries the runtime's own error: match within what its precision allows
    perms = _query_perms(taps, ref, got, max(0.05, 2 * tolerance("queries").max_rel_l2))
    layers: list[LayerResult] = []
    for tap in taps:
        if tap.kind == "queries":
            continue
        name, tensor = tap.name, tap.tensor
        if tensor not in got:
            layers.append(LayerResult(name, tap.kind, tensor, False, "fail", {},
                                      [f"the backend returned no tensor {tensor}"]))
            continue
        tol = tolerance(tap.kind)
        r_all, o_all = ref[name], got[tensor]
        per_sample, reasons, passed = [], [], True
        alignment = None
        qaxis = tap.query_axis
        for k in range(r_all.shape[0]):
            r, o = r_all[k], o_all[k]
            if perms is not None and qaxis is not None and o.shape == r.shape:
                o, valid = align.apply(o, perms[k], qaxis)
                unmatched = float(1 - valid.mean())
                same = float((perms[k] == np.arange(len(perms[k]))).mean())
                a = alignment or {"unmatched_frac": 0.0, "same_order_frac": 1.0}
                alignment = {"unmatched_frac": max(a["unmatched_frac"], unmatched),
                             "same_order_frac": min(a["same_order_frac"], same)}
                if unmatched > QUERY_UNMATCHED_MAX:
                    passed = False
                    reasons.append(f"sample {k}: {unmatched:.0%} of the decoder's queries differ "
                                   "from the reference's (a different top-k set)")
                if not valid.any():
                    per_sample.append({})
                    continue
                r = np.compress(valid, r, axis=qaxis)
                o = np.compress(valid, o, axis=qaxis)
            chk = check_tensor(o, r, tol)
            per_sample.append(chk.metrics)
            if not chk.passed:
                passed = False
                reasons += [f"sample {k}: {x}" for x in chk.reasons]
            elif chk.status == "degenerate":
                reasons += [f"sample {k}: {x}" for x in chk.reasons]
        merged = merge_metrics([m for m in per_sample if m])
        in_cos = _input_cosine(tap, ref, got, perms)
        if in_cos is not None and merged:
            # how much of the error the site inherited: its inputs' worst cosine
            merged["input_cosine"] = in_cos
        degenerate = passed and merged.get("ref_rms", 1.0) < DEGENERATE_RMS
        if not merged:
            passed = False
        status = "fail" if not passed else ("degenerate" if degenerate else "pass")
        layers.append(LayerResult(name, tap.kind, tensor, passed, status, merged,
                                  reasons[:6], alignment))
    outputs = {OUTPUT_TAP: compare_output(ref[OUTPUT_TAP], got.get(OUTPUT_TAP), output_format,
                                          imgsz, tolerance("output"), conf, perms,
                                          random_weights=random_weights)}
    failed = [layer.name for layer in layers if not layer.passed]
    out_status = outputs[OUTPUT_TAP]["status"]
    first = failed[0] if failed else (OUTPUT_TAP if out_status == "fail" else None)
    # a backend passes only on what was compared: an output0 that compared nothing fails
    # the gate (status not_compared), without naming a divergent site
    status = "fail" if failed or out_status == "fail" else (
        NOT_COMPARED if out_status == NOT_COMPARED else "pass")
    return BackendResult(backend, artifact, status == "pass", first, layers, outputs,
                         status=status)


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


#: the status of a comparison that compared nothing: neither a pass nor a fail
NOT_COMPARED = "not_compared"


#: a random-weight model's detections compared: its best ones, when few pass ``conf``
RANDOM_WEIGHTS_BEST = 20
RANDOM_WEIGHTS_MIN_CONFIDENT = 5


def compare_output(ref: np.ndarray, got: np.ndarray | None, fmt: str, imgsz: int, tol: Any,
                   conf: float, perms: list[np.ndarray] | None = None, *,
                   random_weights: bool = False) -> dict[str, Any]:
    """Detection-aware comparison of the final output: matched, missing, extra, shifts.

    ``status`` is ``pass``, ``fail`` or ``not_compared``: when no reference detection was
    matched and none was decisively missing (every reference score inside the don't-care
    band around the threshold, tied top scores, or no detections at all), nothing was
    compared, and that is not a pass (``passed`` is false).

    ``random_weights`` (a random-weight model, as structural tests export): an image with
    fewer than RANDOM_WEIGHTS_MIN_CONFIDENT reference detections over ``conf`` compares its
    RANDOM_WEIGHTS_BEST best instead, so that such a model's output is compared at all. A
    trained model's gate compares at ``conf`` only."""
    if got is None:
        return _fail_output(["the backend returned no output0"])
    if got.shape != ref.shape:
        return _fail_output([f"shape {got.shape} != reference {ref.shape}"])
    nonfinite = int((~np.isfinite(got)).sum())
    margin = max(tol.atol, 0.02)
    reasons: list[str] = []
    if nonfinite:
        reasons.append(f"{nonfinite} non-finite values")
    totals = {"matched": 0, "missing": 0, "extra": 0, "undecided": 0, "max_box_shift_px": 0.0,
              "max_score_diff": 0.0, "min_iou": 1.0}
    confs = []
    ambiguous = 0
    clean = np.nan_to_num(got)
    floor = get_format(fmt).conf_floor  # outputs that go through NMS: keep it small
    for k in range(ref.shape[0]):
        rd = decode(ref[k], fmt, imgsz, conf=floor)
        od = decode(clean[k], fmt, imgsz, conf=floor)
        for r_i, o_i in zip(rd, od):
            if _saturated(r_i):
                # every kept detection has the same score: which ones the top-k keeps is
                # arbitrary on any runtime, so a set comparison says nothing
                ambiguous += 1
                continue
            c = conf
            if (random_weights and len(r_i)
                    and (r_i.scores >= conf).sum() < RANDOM_WEIGHTS_MIN_CONFIDENT):
                best = np.sort(r_i.scores)[::-1][min(RANDOM_WEIGHTS_BEST, len(r_i)) - 1]
                c = max(min(float(best), conf), 1e-6)
            confs.append(c)
            m = match(r_i.above(c), o_i.above(max(c - margin, 0.0)), conf=c, margin=margin)
            for key in ("matched", "missing", "extra", "undecided"):
                totals[key] += getattr(m, key)
            totals["max_box_shift_px"] = max(totals["max_box_shift_px"], m.max_box_shift_px)
            totals["max_score_diff"] = max(totals["max_score_diff"], m.max_score_diff)
            if m.matched:
                totals["min_iou"] = min(totals["min_iou"], m.min_iou)
    if not totals["matched"]:
        totals["min_iou"] = 0.0
    box_tol = max(1.0, tol.atol * imgsz)
    if totals["missing"] or totals["extra"]:
        reasons.append(f"{totals['missing']} missing and {totals['extra']} extra detections")
    if totals["max_box_shift_px"] > box_tol:
        reasons.append(f"box shift {totals['max_box_shift_px']:.2f}px > {box_tol:.2f}px")
    if totals["max_score_diff"] > margin:
        reasons.append(f"score difference {totals['max_score_diff']:.4f} > {margin}")
    out: dict[str, Any] = {"detections": totals, "ambiguous_images": ambiguous,
                           "conf": min(confs) if confs else conf,
                           "box_tolerance_px": box_tol, "score_tolerance": margin}
    if perms is not None:
        same_set = float(np.mean([(p >= 0).mean() for p in perms]))
        out["query_topk"] = {
            "same_set_frac": same_set,
            "same_order_frac": float(np.mean([(p == np.arange(len(p))).mean() for p in perms])),
        }
        if 1.0 - same_set > QUERY_UNMATCHED_MAX:
            # the query evidence wins: detections decoded from other queries can match the
            # reference's only by position, which says nothing about the decoder
            reasons.append(f"the decoder selected a different query set ({1 - same_set:.0%} of "
                           "its queries differ from the reference's); the detections "
                           "come from other queries and are not evidence of parity")
    if reasons:
        status = "fail"
    elif not totals["matched"]:
        status = NOT_COMPARED
        reasons.append(_why_not_compared(totals, ambiguous, len(confs), margin))
    else:
        status = "pass"
    out.update({"passed": status == "pass", "status": status, "reasons": reasons})
    return out


def _fail_output(reasons: list[str]) -> dict[str, Any]:
    return {"passed": False, "status": "fail", "reasons": reasons}


def _why_not_compared(totals: dict[str, Any], ambiguous: int, images: int,
                      margin: float) -> str:
    if totals["undecided"]:
        return (f"not compared: none of the {totals['undecided']} reference detections was "
                f"found, and every one scores within the ±{margin:g} don't-care band of the "
                "threshold, so none counts as missing")
    if ambiguous and not images:
        return (f"not compared: on all {ambiguous} images the top scores tie, so which "
                "detections are kept is arbitrary")
    return "not compared: the reference has no detections to compare"


def _saturated(d: Any) -> bool:
    """True when the top-k is a tie: at least 10 detections share the top score."""
    return len(d) >= 10 and float(d.scores[0] - d.scores[9]) <= 1e-6
