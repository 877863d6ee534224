"""Detections on the bundle's reference images: PyTorch's (stored in the bundle) and each
runtime's (run now), matched box by box so that missing and extra boxes can be marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .model import Box, Overlay

if TYPE_CHECKING:
    from ..bundle import Bundle

#: a runtime's box is PyTorch's when they share the class and overlap this much
MATCH_IOU = 0.5


#: scores this close to the cut may fall on either side on another runtime: such a box is
#: neither missing nor extra (parity's don't-care band)
MARGIN = 0.02


def match_boxes(ref: tuple[Box, ...], got: tuple[Box, ...], cut: float = 0.0
                ) -> tuple[Box, ...]:
    """``got`` marked matched or extra, and the boxes of ``ref`` it lacks, marked missing
    (greedy by PyTorch's score, per class). Boxes within :data:`MARGIN` of ``cut`` that
    find no partner are left out, as parity leaves them undecided."""
    from ..boxes import match_iou

    used: set[int] = set()
    missing = []
    iou = (match_iou(np.array([b.xyxy for b in ref]), np.array([b.xyxy for b in got]))
           if ref and got else np.zeros((len(ref), len(got))))
    for i in sorted(range(len(ref)), key=lambda k: -ref[k].score):
        cand = [j for j in range(len(got)) if j not in used and got[j].cls == ref[i].cls
                and iou[i, j] >= MATCH_IOU]
        if cand:
            used.add(max(cand, key=lambda j: iou[i, j]))
        elif ref[i].score >= cut + MARGIN:
            missing.append(ref[i])
    return (tuple(Box(b.xyxy, b.cls, b.score, "matched" if j in used else "extra")
                  for j, b in enumerate(got) if j in used or b.score >= cut + MARGIN)
            + tuple(Box(b.xyxy, b.cls, b.score, "missing") for b in missing))


def _boxes(output: np.ndarray, fmt: str, imgsz: int, conf: float) -> tuple[Box, ...]:
    from ..parity.detections import decode

    d = decode(output, fmt, imgsz, conf=max(conf, 0.0))[0]
    return tuple(Box(tuple(float(x) for x in d.boxes[i]), int(d.classes[i]),  # type: ignore[arg-type]
                     float(d.scores[i]), "reference") for i in range(len(d)))


def cut_for(ref: tuple[Box, ...], conf: float, random_weights: bool) -> float:
    """The score PyTorch's boxes are drawn from: ``conf``; for a random-weight model with
    few boxes over it, its few best (as parity compares such a model)."""
    from ..parity.output import RANDOM_WEIGHTS_BEST, RANDOM_WEIGHTS_MIN_CONFIDENT

    scores = sorted((b.score for b in ref), reverse=True)
    if not random_weights or not scores or \
            sum(s >= conf for s in scores) >= RANDOM_WEIGHTS_MIN_CONFIDENT:
        return conf
    return max(min(scores[min(RANDOM_WEIGHTS_BEST, len(scores)) - 1], conf), 1e-6)


def pick_images(labels: list[str], boxes: list[int], count: int) -> list[int]:
    """The reference samples to draw: real images (not the seeded noise input) where PyTorch
    drew the most boxes first, then in their order."""
    from ..parity.run import real_samples

    n = len(boxes)
    real = real_samples(labels, n) or [True] * n
    return sorted(range(n), key=lambda k: (not real[k], -boxes[k], k))[:count]


def overlays(bundle: Bundle, backends: list[str], *, count: int = 3,
             conf: float = 0.25) -> tuple[Overlay, ...]:
    """Run each backend on up to ``count`` reference images (the bundle's artifact, in its
    deployed settings) and match its boxes with PyTorch's."""
    from ..parity.run import load_reference
    from ..runtimes import RunnerSettings, get_runtime, run_backend

    m = bundle.manifest
    ref = load_reference(bundle)
    inputs = ref["inputs"]
    fmt, imgsz = m.output.format, m.input.imgsz
    every = [_boxes(ref["output0"][k], fmt, imgsz, 0.0) for k in range(inputs.shape[0])]
    cuts = [cut_for(e, conf, m.source.random_weights) for e in every]
    drawn = [sum(b.score >= c for b in e) for e, c in zip(every, cuts, strict=True)]
    picks = pick_images(m.reference.inputs, drawn, count)
    got: dict[str, np.ndarray] = {}
    for name in backends:
        plugin = get_runtime(name)
        art = plugin.artifact_of(bundle)
        if art is None:
            continue
        runner = plugin.runner(art, settings=RunnerSettings.from_profile(m.profile))
        got[name] = run_backend(runner, inputs[picks], [])["output0"]
    out = []
    for i, k in enumerate(picks):
        img = np.clip(inputs[k][0].transpose(1, 2, 0) * 255.0 + 0.5, 0, 255).astype(np.uint8)
        cut = cuts[k]
        pt = tuple(b for b in every[k] if b.score >= cut)
        per = {name: match_boxes(pt, _boxes(o[i], fmt, imgsz, cut - MARGIN), cut)
               for name, o in got.items()}
        label = m.reference.inputs[k] if k < len(m.reference.inputs) else f"sample {k}"
        out.append(Overlay(str(label), img, pt, per))
    return tuple(out)
