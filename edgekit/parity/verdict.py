"""Comparison of one backend's outputs with the golden reference, and the verdict.

Pure logic over numpy arrays: runners are driven in :mod:`edgekit.parity.run`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..families import get_format
from . import align
from .detections import Detections, decode, match
from .metrics import DEGENERATE_RMS, check_tensor, cosine, median_of, merge_metrics, sqnr_db, stream_rel

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
        per_sample, reasons, passed = [], [], True
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
        return _fail_output(["the backend returned no output0"], "missing")
    if got.shape != ref.shape:
        return _fail_output([f"shape {got.shape} != reference {ref.shape}"], "shape")
    nonfinite = int((~np.isfinite(got)).sum())
    margin = max(tol.atol, 0.02)
    reasons: list[str] = []
    rules: list[str] = []
    if nonfinite:
        rules.append("non_finite")
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
        rules.append("missing_extra")
        reasons.append(f"{totals['missing']} missing and {totals['extra']} extra detections")
    if totals["max_box_shift_px"] > box_tol:
        rules.append("box_shift")
        reasons.append(f"box shift {totals['max_box_shift_px']:.2f}px > {box_tol:.2f}px")
    if totals["max_score_diff"] > margin:
        rules.append("score_diff")
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
            rules.append("query_set")
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
    out.update({"passed": status == "pass", "status": status, "reasons": reasons,
                "failed_rules": rules})
    return out


#: with no reference detection at ``conf`` on any image (random weights), the agreement
#: takes each image's this many best reference detections as its labels
AGREEMENT_TOP = 20


def agreement_labels(ref: np.ndarray, fmt: str, imgsz: int, conf: float,
                     keep: list[bool], random_weights: bool = False
                     ) -> tuple[list[Detections], float]:
    """The fp32 detections taken as labels, one per image of the kept samples, and the
    score they were cut at: ``conf``, or for a random-weight model with no detection at
    ``conf`` anywhere, each image's ``AGREEMENT_TOP`` best."""
    rows = [d for k in range(ref.shape[0]) if keep[k]
            for d in decode(ref[k], fmt, imgsz, conf=0.0)]
    if not random_weights or any(len(d.above(conf)) for d in rows):
        return [d.above(conf) for d in rows], conf
    cut = min((float(d.scores[min(AGREEMENT_TOP, len(d)) - 1]) for d in rows if len(d)),
              default=conf)
    return [d.above(cut) for d in rows], cut


def agreement_map(labels: list[Detections], got: list[Detections], imgsz: int) -> float | None:
    """mAP50-95 in points of ``got`` scored against ``labels`` with edgekit eval's COCO
    metric; None when there is no label."""
    from ..eval.metric import coco_map

    classes = {int(c) for d in [*labels, *got] for c in d.classes}
    res = coco_map([((imgsz, imgsz), d.classes, d.boxes) for d in labels],
                   [(d.boxes, d.scores, d.classes) for d in got],
                   {c: str(c) for c in sorted(classes)})
    return None if res["map50_95"] is None else 100.0 * res["map50_95"]


def compare_agreement(ref: np.ndarray, got: np.ndarray | None, fmt: str, imgsz: int, tol: Any,
                      conf: float, keep: list[bool] | None = None,
                      random_weights: bool = False) -> dict[str, Any]:
    """The reduced-precision output0 check, label-free: the fp32 model's detections (score
    above ``conf``) on the kept reference images are the labels; the build's detections are
    scored against them as mAP50-95, the fp32 detections themselves likewise, and output0
    fails when the build loses more than ``tol.max_agreement_drop`` points. A rounding-level
    box shift or score change costs next to nothing; a lost, added or misplaced detection
    costs what it would cost on a labelled set."""
    if got is None:
        return _fail_output(["the backend returned no output0"], "missing")
    if got.shape != ref.shape:
        return _fail_output([f"shape {got.shape} != reference {ref.shape}"], "shape")
    keep = list(keep) if keep is not None and len(keep) == ref.shape[0] else [True] * len(ref)
    if not any(keep):
        keep = [True] * len(ref)
    nonfinite = int((~np.isfinite(got)).sum())
    labels, cut = agreement_labels(ref, fmt, imgsz, conf, keep, random_weights)
    floor = min(1e-3, cut / 2)  # the build's detections down to well below the labels' cut
    mine = [d for k in range(got.shape[0]) if keep[k]
            for d in decode(np.nan_to_num(got[k]), fmt, imgsz, conf=floor)]
    theirs = [d for k in range(ref.shape[0]) if keep[k]
              for d in decode(ref[k], fmt, imgsz, conf=floor)]
    n_labels = sum(len(d) for d in labels)
    out: dict[str, Any] = {"check": "agreement", "images": len(labels), "labels": n_labels,
                           "label_conf": cut, "max_agreement_drop": tol.max_agreement_drop}
    if not n_labels:
        out.update({"passed": False, "status": NOT_COMPARED, "failed_rules": [],
                    "reasons": ["not compared: the reference has no detections to take "
                                "as labels"]})
        return out
    build = agreement_map(labels, mine, imgsz) or 0.0
    self_map = agreement_map(labels, theirs, imgsz) or 0.0
    drop = self_map - build
    out.update({"agreement_map50_95": build, "agreement_self": self_map,
                "agreement_drop": drop})
    reasons, rules = [], []
    if nonfinite:
        rules.append("non_finite")
        reasons.append(f"{nonfinite} non-finite values")
    if tol.max_agreement_drop is not None and drop > tol.max_agreement_drop:
        rules.append("max_agreement_drop")
        reasons.append(f"agreement mAP50-95 {build:.1f} against the fp32 detections' "
                       f"{self_map:.1f}: drop {drop:.1f} > {tol.max_agreement_drop:g} points "
                       f"(over {len(labels)} images, {n_labels} fp32 detections as labels)")
    status = "fail" if rules else "pass"
    out.update({"passed": status == "pass", "status": status, "failed_rules": rules,
                "reasons": reasons})
    return out


def _fail_output(reasons: list[str], rule: str = "output") -> dict[str, Any]:
    return {"passed": False, "status": "fail", "reasons": reasons, "failed_rules": [rule]}


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
