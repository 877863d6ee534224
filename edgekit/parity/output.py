"""The final output's verdict: detection by detection (float builds), or the label-free
agreement mAP against the fp32 detections (reduced precision). Pure logic over numpy."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..families import get_format
from .detections import Detections, decode, match

QUERY_UNMATCHED_MAX = 0.10  # more unmatched queries than this fails the site (and output0)

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
    from ..coco import coco_map

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
