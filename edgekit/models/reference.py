"""The PyTorch side of parity: a prepared model, its attention sites and probe, and the
reference outputs (final output and every tap) on given inputs. Imports torch lazily."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._lazy import require
from ..families import get_family
from .preprocess import image_batch, list_images
from .source import ModelSource


@dataclass
class Prepared:
    loaded: Any  # LoadedModel
    model: Any
    sites: list[Any]  # Site, in execution order, query site included
    probe: Any
    notes: list[str] = field(default_factory=list)
    decorrelated: bool = False


def prepare(src: ModelSource, *, imgsz: int, seed: int, end2end: bool | None, dynamic: bool,
            images: str | None, example: np.ndarray) -> Prepared:
    torch = require("torch", purpose="the PyTorch reference")
    # a fixed thread count keeps float reductions (BatchNorm re-estimation, references) in the
    # same order run to run; Ultralytics' device selection changes it as a side effect
    from ..hostinfo import usable_cpus
    from .build import decorrelate_decoder, load_model, prepare_for_export, recalibrate_batchnorm
    from .sites import find_sites, make_probe, order_by_execution, query_site

    torch.set_num_threads(usable_cpus())
    lm = load_model(src, seed=seed, end2end=end2end)
    fam = get_family(lm.family)
    decorrelated = False
    if src.kind == "yaml":
        # random weights: re-estimate BatchNorm statistics on real images (see recalibrate_batchnorm)
        calib = image_batch(list_images(images), imgsz, count=8, mode=fam.resize)
        if fam.decorrelate_layers:
            decorrelated = decorrelate_decoder(lm, seed, fam.decorrelate_layers)
        if fam.recalibrate_batchnorm:
            recalibrate_batchnorm(lm, calib)
    model = prepare_for_export(lm, imgsz, dynamic=dynamic)
    q = query_site(model, fam.query_module)
    sites = order_by_execution(model, find_sites(model, fam.site_classes) + ([q] if q else []),
                               torch.from_numpy(example))
    return Prepared(lm, model, sites, make_probe(model, sites), list(lm.notes), decorrelated)


def recorded_images(manifest: dict[str, Any], src: ModelSource) -> str | None:
    """The image folder a bundle was exported with, for rebuilding a YAML model the same way
    (its BatchNorm statistics are re-estimated on those images); None = the samples."""
    folder = (manifest.get("images") or {}).get("reference", {}).get("dir")
    if src.kind != "yaml" or folder is None:
        return None
    from pathlib import Path

    from ..errors import UsageError

    if not Path(folder).is_dir():
        raise UsageError(f"the bundle was exported with --images {folder}, which is not here; "
                         "a YAML model is rebuilt with BatchNorm statistics from those images")
    return folder


def reference_outputs(prep: Prepared, inputs: np.ndarray) -> dict[str, np.ndarray]:
    """Run the probe on each input group; arrays keyed by site name, ``output0`` and the
    boundary name of every site input (``bnd::<site>:<i>``)."""
    torch = require("torch")
    from .sites import probe_output_names

    names = ["output0", *probe_output_names(prep.sites)]
    key = {s.tap: s.name for s in prep.sites}
    refs: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for k in range(inputs.shape[0]):
            for nm, t in zip(names, prep.probe(torch.from_numpy(inputs[k]))):
                if nm == "output0" or nm in key or nm.startswith("bnd::"):
                    refs.setdefault(key.get(nm, nm), []).append(t.detach().float().numpy())
    return {k: np.stack(v) for k, v in refs.items()}
