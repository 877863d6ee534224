"""ONNX Runtime INT8: the nodes kept in float read float tensors and float constants, even
where they share an input with a quantized node (issue 12, float islands that are float)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import IMGSZ

pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

EXCLUDED = {"conv_f", "mul_f", "sig"}


def _shared_graph(path):
    """x -> conv_a -> a (also a graph output); the float conv_f reads a, which the quantized
    Concat reads too; the float mul_f and the quantized mul_q multiply by the same constant s;
    the float sig is the only reader of a quantized Concat (its Q/DQ pair has no use left)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)

    def w(name, *shape):
        return numpy_helper.from_array(rng.normal(0, 0.3, shape).astype(np.float32), name)

    nodes = [
        helper.make_node("Conv", ["x", "wa"], ["a"], "conv_a", pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["a", "wf"], ["f"], "conv_f"),
        helper.make_node("Concat", ["a", "f"], ["c"], "concat", axis=1),
        helper.make_node("Conv", ["c", "wq"], ["q"], "conv_q"),
        helper.make_node("Mul", ["q", "s"], ["mq"], "mul_q"),
        helper.make_node("Mul", ["f", "s"], ["mf"], "mul_f"),
        helper.make_node("Add", ["mq", "mf"], ["y"], "add"),
        helper.make_node("Concat", ["q", "q"], ["c2"], "concat2", axis=1),
        helper.make_node("Sigmoid", ["c2"], ["z"], "sig"),
    ]
    inits = [w("wa", 4, 4, 3, 3), w("wf", 4, 4, 1, 1), w("wq", 4, 8, 1, 1),
             numpy_helper.from_array(np.array([0.37], np.float32), "s")]
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 4, 8, 8]) for n in "xya"]
    io.append(helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 8, 8, 8]))
    graph = helper.make_graph(nodes, "shared", [io[0]], io[1:], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def _calib(n: int = 4) -> np.ndarray:
    return np.random.default_rng(1).normal(0, 1, (n, 1, 4, 8, 8)).astype(np.float32)[:, 0]


def _plain_quantize(src, dst, calib, exclude=EXCLUDED):
    """ONNX Runtime's quantize_static with nodes_to_exclude and nothing else: the fault."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._it = iter({"x": calib[i : i + 1]} for i in range(len(calib)))

        def get_next(self):
            return next(self._it, None)

    quantize_static(str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ,
                    nodes_to_exclude=sorted(exclude))
    return onnx.load(str(dst))


def _nodes(model):
    return {n.name: n for n in model.graph.node}


def test_excluded_nodes_read_float_tensors_and_constants(tmp_path):
    import onnxruntime as ort

    from edgekit.runtimes.onnxruntime.quant import float_leaks, quantize_static_qdq

    src = _shared_graph(tmp_path / "shared.onnx")
    dst = tmp_path / "q.onnx"
    info = quantize_static_qdq(src, dst, _calib(), exclude_nodes=sorted(EXCLUDED),
                               input_name="x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx", "shared.onnx"]
    m = onnx.load(str(dst))
    onnx.checker.check_model(m)
    assert float_leaks(m, EXCLUDED) == []
    assert info["float_inputs_restored"] >= 2 and info["float_constants_split"] == 1

    nodes = _nodes(m)
    producer = {o: n for n in m.graph.node for o in n.output}
    inits = {t.name: t for t in m.graph.initializer}
    # conv_f reads conv_a's own float output (a graph output: ORT renamed it for its Q)
    a = nodes["conv_f"].input[0]
    assert producer[a].name == "conv_a"
    assert producer[nodes["mul_f"].input[0]].name == "conv_f"
    s = nodes["mul_f"].input[1]
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(inits[s]),
                                  np.array([0.37], np.float32))
    # the quantized nodes still read dequantized tensors and a dequantized constant
    for name in ("concat", "conv_q", "mul_q"):
        assert all(producer[x].op_type == "DequantizeLinear" for x in nodes[name].input), name
    assert producer[nodes["mul_q"].input[1]].input[0] in inits
    assert nodes["sig"].input == ["c2"] and producer["c2"].name == "concat2"
    # nothing left over: every Q/DQ output and every initializer has a reader
    read = {x for n in m.graph.node for x in n.input} | {o.name for o in m.graph.output}
    assert all(n.output[0] in read for n in m.graph.node
               if n.op_type in ("QuantizeLinear", "DequantizeLinear"))
    assert set(inits) <= read

    x = _calib(1)
    ref = ort.InferenceSession(str(src)).run(["y"], {"x": x})[0]
    got = ort.InferenceSession(str(dst)).run(["y"], {"x": x})[0]
    assert np.isfinite(got).all()
    cos = float(np.dot(ref.ravel(), got.ravel())
                / (np.linalg.norm(ref) * np.linalg.norm(got)))
    assert cos > 0.99


def test_plain_nodes_to_exclude_leaks_into_the_float_nodes(tmp_path):
    """The planted fault: ORT's own exclusion, which the walk above must catch."""
    from edgekit.runtimes.onnxruntime.quant import float_leaks

    src = _shared_graph(tmp_path / "shared.onnx")
    m = _plain_quantize(src, tmp_path / "plain.onnx", _calib())
    leaks = float_leaks(m, EXCLUDED)
    assert any(x.startswith("conv_f reads") and "dequantized" in x for x in leaks)
    assert any(x.startswith("sig reads") for x in leaks)
    assert len([x for x in leaks if x.startswith("mul_f reads")]) == 2  # f and s


def test_yolo_int8_float_scope_has_no_quantized_inputs(ort_int8_bundle):
    """The default onnx-int8 build of yolo26n: no node of its float scope reads Q/DQ."""
    from edgekit.profiles import load_profile
    from edgekit.runtimes.onnxruntime import INT8_MODEL as ORT_INT8
    from edgekit.runtimes.onnxruntime.quant import float_leaks
    from edgekit.scope import FloatScope, select

    b = ort_int8_bundle
    deployed = onnx.load(str(b.bundle / "model.onnx"))
    nodes = select(deployed, b.manifest.taps,
                   FloatScope.of(load_profile("onnx-int8").calibration)).nodes
    q = onnx.load(str(b.bundle / ORT_INT8))
    assert float_leaks(q, set(nodes)) == []
    # there were leaks to mend: the attention sites' first Conv and the score Sigmoid
    assert b.manifest.runtime("onnxruntime")["float_inputs_restored"] > 0


def test_yolo_float_blocks_next_to_quantized_ones_stay_float(bundles_root, yolo_bundle):
    """The shapes tune makes: model.5 and model.7 float while the Concats of model.15 and
    model.12 (quantized) read their inputs, and model.22 float while model.10 (quantized)
    shares its attention-scale constant."""
    import onnxruntime as ort

    from edgekit.models.preprocess import image_batch, list_images
    from edgekit.runtimes.onnxruntime.quant import float_leaks, quantize_static_qdq
    from edgekit.scope import FloatScope, select

    taps = yolo_bundle.manifest.taps
    deployed = onnx.load(str(yolo_bundle.bundle / "model.onnx"))
    scope = FloatScope(blocks=("model.5", "model.7", "model.22"))
    calib = image_batch(list_images(None), IMGSZ, count=2)
    dst = bundles_root / "ort8-blocks.onnx"
    nodes = select(deployed, taps, scope).nodes
    info = quantize_static_qdq(yolo_bundle.bundle / "model.onnx", dst, calib,
                               exclude_nodes=list(nodes))
    q = onnx.load(str(dst))
    assert float_leaks(q, set(nodes)) == []
    assert info["float_constants_split"] >= 1 and info["float_inputs_restored"] >= 2
    sess = ort.InferenceSession(str(dst))
    y = sess.run(None, {"images": calib[:1]})[0]
    assert np.isfinite(y).all()


def _head_graph(path):
    """A detection head's end: pixel boxes (conv * 160) and float 0-1 scores (sig, kept
    float) joined by one output Concat."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (4, 4, 1, 1)).astype(np.float32), n)
             for n in ("wb", "ws")] + [numpy_helper.from_array(np.float32(160.0), "k")]
    nodes = [
        helper.make_node("Conv", ["x", "wb"], ["b"], "conv_b"),
        helper.make_node("Mul", ["b", "k"], ["boxes"], "mul_b"),
        helper.make_node("Conv", ["x", "ws"], ["logits"], "conv_s"),
        helper.make_node("Sigmoid", ["logits"], ["scores"], "sig"),
        helper.make_node("Concat", ["boxes", "scores"], ["out"], "cat", axis=1),
    ]
    graph = helper.make_graph(
        nodes, "head", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 8, 8, 8])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _score_error(src, dst) -> float:
    import onnxruntime as ort

    x = _calib(1)
    ref = ort.InferenceSession(str(src)).run(None, {"x": x})[0][:, 4:]
    got = ort.InferenceSession(str(dst)).run(None, {"x": x})[0][:, 4:]
    return float(np.abs(ref - got).max())


def test_float_scores_reach_the_output_float(tmp_path):
    """The output Concat after the last arithmetic is not quantized, so the float Sigmoid's
    scores are not rounded to the boxes' scale."""
    from edgekit.runtimes.onnxruntime.quant import float_leaks, passive_tail, quantize_static_qdq

    src = _head_graph(tmp_path / "head.onnx")
    assert passive_tail(onnx.load(str(src))) == {"cat"}
    dst = tmp_path / "q.onnx"
    info = quantize_static_qdq(src, dst, _calib(), exclude_nodes=["sig"], input_name="x")
    assert info["float_tail_nodes"] == 1
    m = onnx.load(str(dst))
    assert float_leaks(m, {"sig", "cat"}) == []
    assert any(n.op_type == "QuantizeLinear" for n in m.graph.node)  # the Convs still are
    assert _score_error(src, dst) < 0.02  # what the quantized conv_s costs, no more


def test_plain_quantization_rounds_the_float_scores_at_the_output(tmp_path):
    """The planted fault: without the float tail the Concat quantizes the scores with the
    boxes' range."""
    src = _head_graph(tmp_path / "head.onnx")
    dst = tmp_path / "plain.onnx"
    _plain_quantize(src, dst, _calib(), ["sig"])
    assert _score_error(src, dst) > 0.1
