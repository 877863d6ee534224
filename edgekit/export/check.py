"""The ONNX self-check: before any runtime build, the exported ``model.onnx``'s final output
against PyTorch's, detection by detection."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import GateFailed, MissingBackendError

if TYPE_CHECKING:
    from ..bundle import Manifest
    from ..profiles.schema import Profile

log = logging.getLogger(__name__)


def onnx_checker() -> str:
    """The first installed runtime that runs a ``.onnx`` file as it is."""
    from ..runtimes import plugins

    for p in plugins():
        if p.loads_onnx and not p.missing():
            return p.name
    raise MissingBackendError("the ONNX check needs a runtime that loads .onnx files",
                              extra="onnxruntime")


def check_onnx_outputs(tmp: Path, manifest: Manifest, ref: dict[str, np.ndarray],
                        profile: Profile) -> dict[str, Any]:
    """Before anything else is built: the ONNX's final output against PyTorch (what the
    manifest records as ``onnx_check``)."""
    from ..parity.run import tolerance_fn
    from ..parity.verdict import compare_output
    from ..runtimes import get_runner

    backend = onnx_checker()
    runner = get_runner(backend, tmp / "model.onnx")
    with runner:
        outs = [runner.infer({"images": x})[runner.output_names[0]] for x in ref["inputs"]]
    tol = tolerance_fn(profile, "fp32")("output")
    res = compare_output(ref["output0"], np.stack(outs), manifest.output.format,
                         manifest.input.imgsz, tol, 0.25,
                         random_weights=manifest.source.random_weights)
    if res["status"] == "fail":
        raise GateFailed("the exported ONNX does not reproduce PyTorch's output: "
                         + "; ".join(res["reasons"]))
    if res["status"] != "pass":
        # never a pass: the export goes on, and parity's output0 check fails the gate
        log.warning(f"onnx check ({backend}): output0 {'; '.join(res['reasons'])}")
        return {"backend": backend, **res}
    d = res["detections"]
    log.info(f"onnx check ({backend}): output matches PyTorch ({d['matched']} detections matched, "
        f"max box shift {d['max_box_shift_px']:.3f}px)")
    return {"backend": backend, **res}
