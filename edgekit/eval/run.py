"""``edgekit eval``: mAP of a bundle on a labelled dataset, through the deployment path.

Each image goes through the code that ``bench`` times end to end: edgekit's preprocessing
(letterbox, or RT-DETR's stretch), the runtime, and edgekit's decoding (YOLO26 end-to-end,
NMS for the one-to-many form, RT-DETR) back to original-image pixels. A fault in any of
them shows as lost mAP. The PyTorch reference runs the same path on the model rebuilt
from the bundle's recorded source; without torch, a reference recorded in the bundle
(the manifest's ``eval_reference``, the ``reference`` section of this report) is used when it
was computed on the same data.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import __version__
from .._lazy import available
from ..bench.run import BenchConfig, Target, make_runner, postprocess, resolve_target
from ..coco import coco_map
from ..errors import UsageError
from ..models.preprocess import read_image, to_input
from ..parity.detections import Detections, xywh2xyxy
from .data import Dataset, load_dataset

if TYPE_CHECKING:
    from ..bundle import Manifest

SCHEMA = "edgekit.eval/1"
#: as Ultralytics' validator: keep nearly every detection, let the AP curve rank them
CONF = 0.001

Progress = Callable[[str, int, int], None]


@dataclass
class EvalConfig:
    backends: list[str] | None = None  # None: every runtime artifact of the bundle
    split: str = "val"
    max_images: int | None = None
    max_drop: float | None = None  # mAP50-95 points against the reference
    conf: float = CONF
    threads: int | None = None
    reference: str = "auto"  # auto (torch if installed, else recorded) | torch | recorded | none
    trust_checkpoint: bool = False  # the torch reference reopens the bundle's source checkpoint


def _image(path: Path) -> np.ndarray:
    try:
        return read_image(path)
    except Exception as exc:  # OpenCV returns None, Pillow raises many kinds
        raise UsageError(f"{path}: cannot decode image ({type(exc).__name__})") from None


def detect(runner: Any, manifest: Manifest, ds: Dataset, *, conf: float = CONF,
           progress: Progress | None = None, label: str = "",
           sizes: list[tuple[int, int]] | None = None) -> list[Detections]:
    """Each image of ``ds`` through preprocessing, ``runner`` and decoding: its detections in
    original-image pixels, as the deployment path produces them. ``sizes``, when given,
    receives each image's (height, width)."""
    imgsz = manifest.input.imgsz
    resize = manifest.input.resize.mode
    batch = manifest.input.shape[0]
    batch = batch if isinstance(batch, int) and batch > 1 else 1
    out: list[Detections] = []
    for i, s in enumerate(ds.samples):
        img = _image(s.image)
        if sizes is not None:
            sizes.append(img.shape[:2])
        x, lb = to_input(img, imgsz, resize)
        if batch > 1:  # a static batch: fill it, read the first image
            x = np.repeat(x, batch, axis=0)
        y = runner.infer({"images": x})[runner.output_names[0]][:1]
        out.append(postprocess(y, manifest.output.format, imgsz, lb, conf)[0])
        if progress:
            progress(label, i + 1, len(ds.samples))
    return out


def ground_truth(ds: Dataset, sizes: list[tuple[int, int]] | None = None
                 ) -> list[tuple[tuple[int, int], np.ndarray, np.ndarray]]:
    """Per image: (height, width), classes and xyxy boxes in pixels; ``sizes``: the images'
    (height, width) when already known (else each image is decoded for it)."""
    gt = []
    for i, s in enumerate(ds.samples):
        h, w = sizes[i] if sizes is not None else _image(s.image).shape[:2]
        gt.append(((h, w), s.classes, xywh2xyxy(s.boxes * np.array([w, h, w, h]))))
    return gt


def predict(runner: Any, manifest: Manifest, ds: Dataset, *, conf: float = CONF,
            progress: Progress | None = None, label: str = "") -> dict[str, Any]:
    """Run every image of ``ds`` through preprocessing, ``runner`` and decoding; the mAP."""
    t0 = time.perf_counter()
    sizes: list[tuple[int, int]] = []
    dets = detect(runner, manifest, ds, conf=conf, progress=progress, label=label, sizes=sizes)
    seconds = time.perf_counter() - t0
    res = coco_map(ground_truth(ds, sizes), [(d.boxes, d.scores, d.classes) for d in dets], ds.names)
    return {**res, "images": len(ds.samples), "seconds": round(seconds, 2),
            "detections": int(sum(len(d) for d in dets))}


def _data_section(ds: Dataset, conf: float) -> dict[str, Any]:
    return {"yaml": str(ds.yaml), "split": ds.split, "images": len(ds.samples),
            "instances": ds.instances, "fingerprint": ds.fingerprint(),
            "names": {str(k): v for k, v in ds.names.items()}, "conf": conf}


def compute_reference(manifest: Manifest, ds: Dataset, *, conf: float = CONF,
                      threads: int | None = None, progress: Progress | None = None,
                      trust_checkpoint: bool = False) -> dict[str, Any]:
    """The PyTorch reference mAP of the bundle's source model on ``ds`` (needs the export
    extra). The result is what ``export --data`` records as ``Manifest.eval_reference``."""
    from ..runtimes.base import RunnerSettings
    from ..runtimes.torch import TorchRunner

    with TorchRunner(manifest, settings=RunnerSettings(threads=threads),
                     trust_checkpoint=trust_checkpoint) as runner:
        res = predict(runner, manifest, ds, conf=conf, progress=progress, label="torch")
    return {"backend": "torch", "origin": "computed", "source": manifest.source.spec,
            "data": _data_section(ds, conf), **res}


def reference_for_export(manifest: Manifest, data_yaml: str | Path, *, split: str = "val",
                         max_images: int | None = None,
                         trust_checkpoint: bool = False) -> dict[str, Any]:
    """For ``export --data``: load the dataset and compute the reference section."""
    return compute_reference(manifest, load_dataset(data_yaml, split, max_images=max_images),
                             trust_checkpoint=trust_checkpoint)


def recorded_reference(manifest: Manifest, ds: Dataset,
                       conf: float) -> tuple[dict[str, Any] | None, str | None]:
    """The bundle's recorded reference if it was computed on this very data; else why not."""
    rec = manifest.eval_reference
    if not rec:
        return None, "the bundle records no reference mAP (export it with --data)"
    d = rec.get("data", {})
    mine = _data_section(ds, conf)
    for key in ("split", "images", "fingerprint", "conf"):
        if d.get(key) != mine[key]:
            return None, (f"the bundle's recorded reference mAP was computed on other data "
                          f"({key}: {d.get(key)!r} there, {mine[key]!r} here)")
    return {**rec, "origin": "bundle"}, None


def _torch_unavailable(manifest: Manifest) -> str | None:
    """Why the PyTorch reference cannot be rebuilt here, or None when it can."""
    if not (available("torch") and available("ultralytics")):
        return "PyTorch and Ultralytics are not installed (pip install 'edgekit[export]')"
    src = manifest.source
    if src.kind == "checkpoint" and not Path(src.path or "").is_file():
        return f"the bundle's source checkpoint {src.path} is not on this machine"
    return None


def run_eval(bundle: str | Path, data: str | Path, cfg: EvalConfig, *,
             progress: Progress | None = None) -> dict[str, Any]:
    p = Path(bundle)
    if not p.is_dir():
        raise UsageError(f"{p}: eval needs a bundle directory (it reads the preprocessing and "
                         "decoding from the manifest)" if p.exists() else f"bundle not found: {p}")
    target = resolve_target(p)
    assert target.bundle is not None, "a directory resolves to a bundle"
    m = target.bundle.manifest
    ds = load_dataset(data, cfg.split, max_images=cfg.max_images)
    backends = cfg.backends or list(target.artifacts)
    mode = "torch" if "torch" in backends else cfg.reference  # torch runs as the reference
    backends = [b for b in backends if b != "torch"]
    warnings: list[str] = []
    model_names = {int(k): v for k, v in m.names.items()}
    if model_names and model_names != ds.names:
        warnings.append(f"the model's classes ({len(model_names)}: "
                        f"{', '.join(list(model_names.values())[:5])}...) differ from the "
                        f"dataset's ({len(ds.names)}); class i of the model is scored as "
                        "class i of the dataset")
    reference, why = None, None
    if mode in ("auto", "torch"):
        why = _torch_unavailable(m)
        if why is None:
            reference = compute_reference(m, ds, conf=cfg.conf, threads=cfg.threads,
                                          progress=progress,
                                          trust_checkpoint=cfg.trust_checkpoint)
        elif mode == "torch":
            raise UsageError(f"no PyTorch reference: {why}")
        else:
            warnings.append(f"no PyTorch reference: {why}")
    if reference is None and mode in ("auto", "recorded"):
        reference, why = recorded_reference(m, ds, cfg.conf)
        if why:
            warnings.append(why)
    if cfg.max_drop is not None and reference is None:
        if mode == "none":
            raise UsageError("--max-drop needs a reference mAP, and --reference none turns it off")
        raise UsageError(f"--max-drop needs a reference mAP, and {why}; install the export "
                         "extra (PyTorch rebuilds the bundle's source model), or use a bundle "
                         "exported with --data on this dataset")
    results: dict[str, Any] = {}
    bcfg = BenchConfig(threads=cfg.threads)  # run as bench runs it: the bundle's profile
    for be in backends:
        with make_runner(be, Target(target.path, target.bundle, target.artifacts),
                          bcfg) as runner:
            res = predict(runner, m, ds, conf=cfg.conf, progress=progress, label=be)
            res["settings"] = runner.describe()  # the precision in force among them
        if reference is not None and reference.get("map50_95") is not None \
                and res["map50_95"] is not None:
            res["drop_map50_95"] = (reference["map50_95"] - res["map50_95"]) * 100
            res["drop_map50"] = (reference["map50"] - res["map50"]) * 100
        res["passed"] = cfg.max_drop is None or res.get("drop_map50_95", 0.0) <= cfg.max_drop
        results[be] = res
    if ds.instances == 0:
        warnings.append(f"split '{cfg.split}' of {ds.yaml} has no labelled objects: mAP is "
                        "undefined")
    return {
        "schema": SCHEMA, "edgekit": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "bundle": str(target.path), "model": m.source.spec,
        "precision": m.profile.precision.value, "imgsz": m.input.imgsz,
        "output_format": m.output.format,
        "data": _data_section(ds, cfg.conf),
        "metric": {"library": "faster-coco-eval", "iou": "0.50:0.95", "max_dets": 100,
                   "interpolation": "101-point", "conf": cfg.conf},
        "reference": reference,
        "backends": results,
        "gate": {"max_drop": cfg.max_drop},
        "passed": all(r["passed"] for r in results.values()),
        "warnings": warnings,
    }
