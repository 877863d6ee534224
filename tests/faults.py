"""Planting faults in a bundle, to prove that parity can fail and names the right site."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from conftest import rehash


def perturb_site_weights(bundle: Path, site: str, scale: float = 1.5) -> list[str]:
    """Scale the float weights used inside one site's region of model.onnx (and rebuild the
    OpenVINO IR from it), then re-sign the bundle. Returns the changed initializers."""
    import onnx
    from onnx import numpy_helper

    from edgekit.bundle import load_bundle
    from edgekit.graph import GraphIndex

    taps = load_bundle(bundle, verify=False).taps
    tap = next(t for t in taps if t.name == site)
    model = onnx.load(str(bundle / "model.onnx"))
    gi = GraphIndex(model)
    region = gi.region(tap.tensor, tap.inputs)
    used = {i for idx in region for i in gi.nodes[idx].input}
    changed = []
    for init in model.graph.initializer:
        arr = numpy_helper.to_array(init)
        if init.name in used and arr.dtype == np.float32 and arr.size > 16:
            init.CopyFrom(numpy_helper.from_array(arr * scale, init.name))
            changed.append(init.name)
    assert changed, f"no weights found in the region of {site}"
    onnx.save(model, str(bundle / "model.onnx"))
    if (bundle / "openvino" / "model.xml").is_file():
        from edgekit.bundle import tap_tensors
        from edgekit.runtimes.openvino import convert as ovx

        ovm = ovx.convert(bundle / "model.onnx", keep_tensors=tap_tensors(taps))
        ovx.save(ovm, bundle / "openvino" / "model.xml")
    rehash(bundle)
    return changed
