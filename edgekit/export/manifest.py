"""The manifest an export writes, built as the typed :class:`edgekit.bundle.Manifest`:
what was exported and how, the input and output contract, the parity taps, the
reference's provenance. Runtime builds add their sections with
:meth:`~edgekit.bundle.Manifest.with_runtime`; the pipeline signs it last."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import __version__
from .._lazy import version_of
from ..bundle import Head, Host, Images, ImageSet, InputSpec, Manifest, OutputSpec, Reference, Source, Tap
from ..families import get_family
from ..models.preprocess import image_provenance, input_spec

if TYPE_CHECKING:
    import numpy as np

    from ..models.build import LoadedModel
    from ..models.sites import Site
    from ..models.source import ModelSource
    from ..profiles.schema import Profile

def toolchain_versions() -> dict[str, str | None]:
    """The export toolchain's and every runtime's package versions, and numpy's."""
    from ..runtimes import installed_versions

    return {**installed_versions(), "numpy": version_of("numpy")}


def query_axis(shape: tuple[int, ...], nq: int) -> int | None:
    axes = [i for i, d in enumerate(shape) if d == nq]
    return axes[0] if axes else None


def site_taps(sites: list[Site], tap_map: dict[str, str], ref: dict[str, np.ndarray],
              deployed: Any, num_queries: int | None) -> list[Tap]:
    """One :class:`Tap` per site of the deployed graph: its tensor and boundary inputs, its
    reference shape, the query axes of decoder sites, its region size and graph position."""
    from ..graph import GraphIndex

    gi = GraphIndex(deployed)
    order = {t: i for i, t in enumerate(n.output[0] for n in deployed.graph.node)}
    nq = num_queries
    taps = []
    for s in sites:
        tensor = tap_map[s.tap]
        inputs = [tap_map[s.boundary(i)] for i in range(s.n_inputs)]
        refs = [s.boundary(i) for i in range(s.n_inputs)]
        taps.append(Tap(
            name=s.name, kind=s.kind, cls=s.cls, tensor=tensor, port=s.port, inputs=inputs,
            shape=list(ref[s.name].shape[1:]),
            query_axis=query_axis(ref[s.name].shape[1:], nq) if nq is not None else None,
            input_refs=refs or None,
            input_query_axes=[query_axis(ref[b].shape[1:], nq) if nq else None
                              for b in refs] if refs else None,
            region_nodes=len(gi.region(tensor, inputs)) if s.is_attention else None,
            graph_index=order.get(tensor, -1)))
    return taps


def build_manifest(*, src: ModelSource, lm: LoadedModel, profile: Profile, opset: int,
                   taps: list[Tap], out_shape: list[int], ref_labels: list[str],
                   image_info: dict[str, Any], notes: list[str], decorrelated: bool,
                   t_export: float) -> Manifest:
    """The manifest of a fresh export, before any runtime build adds its section."""
    imgsz, batch = profile.imgsz, profile.batch.size
    lead: int | str = "batch" if profile.batch.dynamic else batch
    fmt = get_family(lm.family).output_format(lm.head)
    return Manifest(
        edgekit=__version__,
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        host=Host(python=platform.python_version(), machine=platform.machine()),
        source=Source(spec=src.spec, kind=src.kind, path=str(src.path or src.shipped_yaml or ""),
                      sha256=src.sha256(), family=lm.family, yaml=src.yaml_name, seed=lm.seed,
                      random_weights=src.kind == "yaml", bn_recalibrated=lm.bn_recalibrated,
                      decoder_decorrelated=decorrelated),
        profile=profile,
        versions=toolchain_versions(),
        opset=opset,
        input=InputSpec.model_validate({**input_spec(lm.family), "imgsz": imgsz,
                                        "shape": [lead, 3, imgsz, imgsz],
                                        "dynamic_batch": profile.batch.dynamic}),
        output=OutputSpec(name="output0", shape=[lead, *out_shape], format=fmt.name,
                          decoding=fmt.decoding),
        names={str(k): v for k, v in lm.names.items()},
        head=Head.model_validate(lm.head_choice) if lm.head_choice else None,
        taps=taps,
        artifacts={"onnx": "model.onnx"},
        reference=Reference(file="reference.npz", inputs=ref_labels,
                            model="pytorch fp32, export-mode head, forward hooks"),
        # what fed the reference (and BatchNorm re-estimation of YAML models); dir None =
        # the sample images shipped with ultralytics
        images=Images(reference=ImageSet.model_validate(image_info)),
        notes=notes,
        timings_s={"torch_to_onnx": round(t_export, 2)},
        files={},
    )


def record_calibration_images(manifest: Manifest, profile: Profile, images: str | None,
                              image_info: dict[str, Any],
                              calib_info: dict[str, Any] | None = None) -> Manifest:
    """The calibration folder in force (the profile's, else --images, else the samples:
    None) in the recorded profile's ``calibration.images``; for INT8, which images
    calibrated it in ``images.calibration`` (with --data: the dataset, split, count and
    whether the evaluation scores the same dataset)."""
    int8 = profile.precision.value == "int8"
    if calib_info is not None:
        folder = None
        used = ({**calib_info, "same_dataset_as_eval": True,
                 "eval": {"data": calib_info["data"], "split": "val"}} if int8 else None)
    else:
        chosen = profile.calibration.images or images
        folder = str(Path(chosen).resolve()) if chosen is not None else None
        info = image_info if chosen == images else (image_provenance(chosen) if int8 else None)
        used = {**info, "count": profile.calibration.count} if int8 and info else None
    recorded = manifest.profile
    recorded = recorded.model_copy(update={"calibration": recorded.calibration.model_copy(
        update={"images": folder})})
    return manifest.replace(profile=recorded,
                            images=manifest.images.model_copy(update={"calibration": used}))
