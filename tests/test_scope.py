"""The float-scope vocabulary: one home (edgekit/scope.py) for what each item selects on
every runtime, and the items that need a graph to resolve."""

from __future__ import annotations

from typing import get_args

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgekit.scope import DEFAULT_FLOAT_SCOPE, ITEMS, FloatScope, select


def test_the_schema_speaks_the_vocabulary():
    from edgekit.profiles import load_profile
    from edgekit.profiles.schema import Calibration

    assert set(get_args(Calibration.model_fields["float_scope"].annotation.__args__[0])) \
        == set(ITEMS)
    assert set(DEFAULT_FLOAT_SCOPE) == set(ITEMS)
    for name in ("intel-cpu-int8", "onnx-int8", "jetson-orin-int8"):
        assert set(load_profile(name).calibration.float_scope) == set(ITEMS), name
    # every item says how each runtime is told, or selects by structure
    for it in ITEMS.values():
        assert it.selector is not None or (it.onnx_types and it.openvino_types
                                           and it.tensorrt_layers), it.name


def _anchors_graph(values: np.ndarray) -> onnx.ModelProto:
    """RT-DETR's shape: top-k indices gather from a constant anchor table, the result is
    added to the predicted boxes, and a Relu computes on."""
    anchors = numpy_helper.from_array(values.astype(np.float32), "anchors")
    idx = numpy_helper.from_array(np.array([0, 2], np.int64), "idx")
    nodes = [helper.make_node("Gather", ["anchors", "idx"], ["picked"], name="gather"),
             helper.make_node("Unsqueeze", ["picked", "ax"], ["picked1"], name="unsq"),
             helper.make_node("Add", ["x", "picked1"], ["boxes"], name="add"),
             helper.make_node("Relu", ["boxes"], ["output0"], name="relu")]
    ax = numpy_helper.from_array(np.array([0], np.int64), "ax")
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                                     [1, 2, 4])],
                          [helper.make_tensor_value_info("output0", TensorProto.FLOAT, None)],
                          [anchors, idx, ax])
    return helper.make_model(g)


def test_what_reads_an_infinite_constant_stays_float():
    """RT-DETR at 640 px masks its border anchors with inf; a quantizer calibrated on them
    wrecks the boxes (rtdetr-tiny-bench at 640: every INT8 build scored 0 mAP50-95)."""
    table = np.zeros((3, 4))
    table[1, 0] = np.inf
    sel = select(_anchors_graph(table), [], FloatScope(("nonfinite",)))
    # through the passive ops that carry it, up to and with the first that computes with it
    assert set(sel.nodes) == {"gather", "unsq", "add"}


def test_a_finite_table_selects_nothing():
    """The twin: the same graph with finite anchors keeps nothing float."""
    assert select(_anchors_graph(np.zeros((3, 4))), [], FloatScope(("nonfinite",))).nodes == ()


def test_an_unknown_item_is_refused_by_the_schema(tmp_path):
    from edgekit.errors import ConfigError
    from edgekit.profiles import load_profile

    p = tmp_path / "p.yaml"
    p.write_text("name: p\nruntimes: [openvino]\nprecision: int8\n"
                 "calibration: {float_scope: [attention, anchors]}\n")
    with pytest.raises(ConfigError, match="float_scope"):
        load_profile(p)


@pytest.mark.slow
def test_rtdetr_at_640_has_infinite_anchors_and_the_default_scope_keeps_them_float(tmp_path):
    from edgekit.export.pipeline import export
    from edgekit.profiles import load_profile
    from edgekit.zoo.train import RTDETR_TINY

    res = export(RTDETR_TINY, load_profile("onnx-fp32", {"imgsz": 640}), tmp_path, parity=False)
    m = onnx.load(str(res.bundle / "model.onnx"))
    from edgekit.graph import GraphIndex

    assert GraphIndex(m).nonfinite_constants()
    sel = select(m, res.manifest.taps, FloatScope.of(load_profile("intel-cpu-int8").calibration))
    assert any("Gather" in n for n in sel.nodes)
