"""TensorRT: everything that needs no library runs everywhere; real builds only where
`import tensorrt` works (marker `tensorrt`)."""

import shlex

import pytest

from edgekit.errors import IntegrityError
from edgekit.profiles import load_profile
from edgekit.runtimes import tensorrt as trtx


def test_settings_from_static_profile():
    s = trtx.settings_from_profile(load_profile("jetson-orin-int8"))
    assert s.precision == "int8" and s.workspace_bytes == 2 << 30
    assert (s.batch_min, s.batch_opt, s.batch_max) == (1, 1, 1) and not s.dynamic
    assert s.timing_cache and s.optimization_level == 3


def test_settings_from_dynamic_profile():
    s = trtx.settings_from_profile(load_profile("nvidia-gpu-fp16", {"imgsz": 320}))
    assert s.dynamic and (s.batch_min, s.batch_opt, s.batch_max) == (1, 1, 8)
    assert s.shape(8) == (8, 3, 320, 320)


def test_trtexec_command_matches_settings():
    s = trtx.settings_from_profile(load_profile("nvidia-gpu-fp16"))
    args = shlex.split(trtx.trtexec_command(s))
    assert args[0] == "trtexec" and "--fp16" in args and "--int8" not in args
    assert "--minShapes=images:1x3x640x640" in args and "--maxShapes=images:8x3x640x640" in args
    assert "--memPoolSize=workspace:4096M" in args
    assert "--timingCacheFile=tensorrt/timing.cache" in args
    s8 = trtx.settings_from_profile(load_profile("jetson-orin-int8"))
    args8 = shlex.split(trtx.trtexec_command(s8))
    assert "--int8" in args8 and not any(a.startswith("--minShapes") for a in args8)


def test_engine_compat_check():
    rec = {"tensorrt": "10.3.0", "compute_capability": "8.7"}
    trtx.check_engine_compat(rec, {"tensorrt": "10.3.0", "compute_capability": "8.7"})
    with pytest.raises(IntegrityError, match="rebuild"):
        trtx.check_engine_compat(rec, {"tensorrt": "10.7.0", "compute_capability": "8.7"})
    with pytest.raises(IntegrityError, match="compute capability 8.7"):
        trtx.check_engine_compat(rec, {"tensorrt": "10.3.0", "compute_capability": "8.9"})


def test_hotspots_become_fp32_layer_types_and_int8_defaults_to_qdq():
    s = trtx.settings_from_profile(load_profile("nvidia-gpu-fp16"))
    assert set(s.fp32_layer_types) == {"SOFTMAX", "NORMALIZATION", "GRID_SAMPLE", "TOPK"}
    assert trtx.source_onnx(s) == "model.onnx"
    s8 = trtx.settings_from_profile(load_profile("jetson-orin-int8"))
    assert s8.int8_mode == "qdq" and trtx.source_onnx(s8) == trtx.QDQ_ONNX
    cal = load_profile("jetson-orin-int8", {"runtime.trt_int8": "calibrator"})
    assert trtx.source_onnx(trtx.settings_from_profile(cal)) == "model.onnx"
    none = load_profile("nvidia-gpu-fp16", {"calibration.float_scope": []})
    assert trtx.settings_from_profile(none).fp32_layer_types == ()


def test_trtexec_pins_named_layers_and_builds_int8_from_the_qdq_onnx():
    s = trtx.settings_from_profile(load_profile("jetson-orin-int8"),
                                   fp32_layers=["/model.23/Sigmoid", "/m/attn/Softmax"])
    args = shlex.split(trtx.trtexec_command(s))
    assert f"--onnx={trtx.QDQ_ONNX}" in args and "--int8" in args
    assert "--precisionConstraints=obey" in args
    assert "--layerPrecisions=/model.23/Sigmoid:fp32,/m/attn/Softmax:fp32" in args
    assert "--layerOutputTypes=/model.23/Sigmoid:fp32,/m/attn/Softmax:fp32" in args


def test_layer_name_matching():
    nodes = {"/a/Softmax", "/b/Sigmoid"}
    assert trtx.layer_matches("/a/Softmax", nodes) == "/a/Softmax"
    # exact names only, as trtexec matches: /b/Sigmoid_3 is another ONNX node
    assert trtx.layer_matches("/b/Sigmoid_3", nodes) is None
    assert trtx.layer_matches("/b/Sigmoid2", nodes) is None
    assert trtx.layer_matches("/c/Softmax", nodes) is None


def test_int8_preparation_writes_a_symmetric_qdq_onnx_with_the_float_scope_left_out(
        yolo_bundle, tmp_path):
    """What a TensorRT INT8 build consumes, made here without TensorRT: Q/DQ with zero
    points of 0 (TensorRT's explicit quantization accepts nothing else), the attention
    sites left in float, the score Sigmoid pinned by name in trtexec.sh."""
    import shutil

    import numpy as np
    import onnx
    from onnx import numpy_helper

    from edgekit.runtimes import BuildContext
    from edgekit.runtimes.tensorrt import prepare_tensorrt

    b = tmp_path / "b"
    shutil.copytree(yolo_bundle.bundle, b)
    prof = load_profile("jetson-orin-int8", {"imgsz": yolo_bundle.manifest.input.imgsz,
                                             "calibration.count": 2})
    settings, info = prepare_tensorrt(BuildContext.of_bundle(b, prof, yolo_bundle.manifest.taps))
    q = onnx.load(str(b / trtx.QDQ_ONNX))
    inits = {i.name: numpy_helper.to_array(i) for i in q.graph.initializer}
    zps = [inits[n.input[2]] for n in q.graph.node
           if n.op_type in ("QuantizeLinear", "DequantizeLinear") and len(n.input) > 2]
    assert zps and all(z.dtype == np.int8 and not z.any() for z in zps)
    producer = {o: n.op_type for n in q.graph.node for o in n.output}
    site_matmuls = [n for n in q.graph.node if n.op_type == "MatMul" and "/attn/" in n.name]
    assert site_matmuls
    assert not any(producer.get(i) == "DequantizeLinear" for n in site_matmuls for i in n.input)
    convs = [n for n in q.graph.node if n.op_type == "Conv"]
    assert any(producer.get(n.input[0]) == "DequantizeLinear" for n in convs)
    script = (b / "tensorrt" / "trtexec.sh").read_text()
    assert f"--onnx={trtx.QDQ_ONNX}" in script and "Sigmoid:fp32" in script
    assert any("Sigmoid" in n for n in settings.fp32_layers)
    assert info["qdq"]["activations"] == "int8 symmetric"
