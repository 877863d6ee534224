"""The TensorRT path end to end on the stand-in TensorRT (edgekit.testing.fake_tensorrt):
build_engine, the calibrator, the runner, build_on_device, the timing cache and parity's
TensorRT branch, for TensorRT 10 (weakly typed) and 11 (strongly typed). No real TensorRT
runs here; each test names the bug it catches."""

from __future__ import annotations

import shlex
import shutil

import numpy as np
import onnx
import pytest

from edgekit.errors import BackendError, IntegrityError, UsageError
from edgekit.profiles import load_profile
from edgekit.runtimes import tensorrt as trtx
from edgekit.testing import fake_tensorrt as ft


@pytest.fixture
def trt10(monkeypatch):
    return ft.install(monkeypatch, 10)


@pytest.fixture
def trt11(monkeypatch):
    return ft.install(monkeypatch, 11)


def _device_build(bundle, tmp_path, profile_name, over=None):
    from edgekit.export.device import build_on_device

    b = tmp_path / "b"
    shutil.copytree(bundle.bundle, b)
    prof = load_profile(profile_name, {"imgsz": bundle.manifest.input.imgsz,
                                       "calibration.count": 2, **(over or {})})
    return b, prof, build_on_device(b, prof)


# --- the fake is faithful where it matters -------------------------------------------------

def test_fake_11_has_no_weak_typing_api_and_10_checks_types(trt11):
    m = trt11.module
    for name in ("FP16", "INT8", "OBEY_PRECISION_CONSTRAINTS"):
        assert not hasattr(m.BuilderFlag, name)
    assert not hasattr(m, "IInt8EntropyCalibrator2")
    cfg = m.Builder(m.Logger()).create_builder_config()
    with pytest.raises(AttributeError):
        cfg.int8_calibrator = object()
    from edgekit.testing.fake_network import DT, Layer10, Layer11, Tensor

    la = Layer11("/a/Sigmoid", m.LayerType.ACTIVATION, [], [Tensor("y", DT.FLOAT)])
    with pytest.raises(AttributeError):
        la.precision = m.float32
    with pytest.raises(AttributeError):
        la.set_output_type(0, m.float32)
    l10 = Layer10("/a/Sigmoid", m.LayerType.ACTIVATION, [], [Tensor("y", DT.FLOAT)])
    with pytest.raises(TypeError):
        l10.precision = "f32"  # the real binding takes a DataType, nothing else


# --- TensorRT 11: strongly typed ------------------------------------------------------------

def test_trt11_fp16_builds_strongly_typed_from_a_mixed_onnx_with_cast_islands(
        trt11, yolo_bundle, tmp_path):
    """Bug: every fp16/int8 build raised AttributeError on TensorRT 11 (BuilderFlag.FP16)."""
    b, _, res = _device_build(yolo_bundle, tmp_path, "nvidia-gpu-fp16")
    built = res.manifest.runtime("tensorrt")
    assert built["major"] == 11 and "strongly typed" in built["path"]
    assert built["cuda_major"] == 12 and built["source_onnx"] == trtx.FP16_ONNX
    head = trt11.builds[-1]
    assert head["strongly_typed"] and "FP16" not in head["flags"] and not head["pins"]
    mixed = onnx.load(str(b / trtx.FP16_ONNX))
    ops = [n.op_type for n in mixed.graph.node]
    assert ops.count("Cast") >= 2
    pins = set(built["settings"]["fp32_layers"])
    producer = {o: n for n in mixed.graph.node for o in n.output}
    pinned = [n for n in mixed.graph.node if n.name in pins and n.op_type == "Sigmoid"]
    assert pinned and all(producer[n.input[0]].op_type == "Cast" for n in pinned)
    script = (b / "tensorrt" / "trtexec.sh").read_text()
    assert "TensorRT 11" in script and "--fp16" not in script and "--noTF32" in script


def test_trt11_int8_builds_from_qdq_and_refuses_a_calibrator(trt11, yolo_bundle, tmp_path):
    b, _, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-int8")
    assert res.manifest.runtime("tensorrt")["source_onnx"] == trtx.QDQ_ONNX
    assert "INT8" not in trt11.builds[-1]["flags"]
    with pytest.raises(UsageError, match="no INT8 calibrators"):
        _device_build(yolo_bundle, tmp_path / "c", "jetson-orin-int8",
                      {"runtime.trt_int8": "calibrator"})


@pytest.mark.parametrize("policy", ["fp16", "f32"])
def test_trt10_int8_float_parts_follow_the_precision_policy(trt10, yolo_bundle, tmp_path,
                                                            policy):
    """The profile's float_precision decides TensorRT 10's FP16 flag beside INT8 (and
    trtexec's --fp16); the build records it, and the runner reports it."""
    b, _, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-int8",
                              {"float_precision": policy})
    flags = trt10.builds[-1]["flags"]
    assert "INT8" in flags and ("FP16" in flags) == (policy == "fp16")
    built = res.manifest.runtime("tensorrt")
    assert built["settings"]["float_precision"] == policy
    assert ("--fp16" in shlex.split(built["trtexec"])) == (policy == "fp16")
    from edgekit.bundle import load_bundle
    from edgekit.runtimes import RunnerSettings, get_runtime

    bundle = load_bundle(b)
    runner = get_runtime("tensorrt").runner(bundle.artifact("tensorrt"), bundle=bundle,
                                            settings=RunnerSettings(float_precision="bf16"))
    assert runner.describe()["inference_precision"] == policy


def test_trt11_int8_float_parts_are_the_graphs_and_the_manifest_says_so(trt11, yolo_bundle,
                                                                       tmp_path, caplog):
    """TensorRT 11 takes precision from the Q/DQ ONNX (f32 outside INT8): an fp16 policy
    cannot hold there, and the build records f32 and warns rather than claiming fp16."""
    _, _, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-int8")
    assert res.manifest.profile.float_policy == "fp16" or \
        res.manifest.device_profile.float_policy == "fp16"
    assert res.manifest.runtime("tensorrt")["settings"]["float_precision"] == "f32"
    assert any("from the Q/DQ ONNX's own type (f32)" in m for m in caplog.messages)


def test_manifests_before_the_policy_read_as_they_were_built():
    """An engine recorded without float_precision: TensorRT 10 INT8 and fp16 had FP16 on."""
    old = {"precision": "int8", "workspace_bytes": 1, "imgsz": 64, "batch_min": 1,
           "batch_opt": 1, "batch_max": 1, "dynamic": False, "optimization_level": 3,
           "timing_cache": False, "trt_major": 10}
    assert trtx.settings_from_dict(old).float_fp16
    assert not trtx.settings_from_dict({**old, "trt_major": 11}).float_fp16
    assert not trtx.settings_from_dict({**old, "precision": "fp32"}).float_fp16


def test_tensorrt_extra_installs_a_working_cuda12_pair():
    """Bug: `tensorrt>=10` + `cuda-python>=12` resolves to cuda-python 13 (driver >= 580)."""
    from pathlib import Path

    import tomllib

    extras = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())[
        "project"]["optional-dependencies"]
    trt = extras["tensorrt"]
    assert any(r.startswith("cuda-python") and "<13" in r for r in trt)
    assert any(r.startswith("tensorrt-cu12") for r in trt)
    assert not any(r.startswith("tensorrt") for r in extras["tensorrt-jetson"])


# --- trtexec.sh ------------------------------------------------------------------------------

def test_trtexec_reads_the_calibration_cache_in_calibrator_mode():
    """Bug: --int8 without --calib= builds with placeholder dynamic ranges."""
    s = trtx.settings_from_profile(load_profile("jetson-orin-int8",
                                                {"runtime.trt_int8": "calibrator"}))
    assert f"--calib={trtx.CALIB_CACHE}" in shlex.split(trtx.trtexec_command(s))
    q = trtx.settings_from_profile(load_profile("jetson-orin-int8"))
    assert not any(a.startswith("--calib") for a in shlex.split(trtx.trtexec_command(q)))


def test_trtexec_script_fits_the_major_and_never_types_topk(trt10, yolo_bundle, tmp_path):
    """Bugs: --layerOutputTypes named TopK (its index output cannot be typed); the script
    carried flags TensorRT 11's trtexec rejects."""
    from edgekit.runtimes import BuildContext
    from edgekit.runtimes.tensorrt import prepare_tensorrt

    b = tmp_path / "b"
    shutil.copytree(yolo_bundle.bundle, b)
    prof = load_profile("nvidia-gpu-fp16", {"imgsz": 160})
    topk = {n.name for n in onnx.load(str(b / "model.onnx")).graph.node if n.op_type == "TopK"}
    assert topk, "the yolo26 end-to-end head has TopK nodes"
    s10, info = prepare_tensorrt(BuildContext.of_bundle(b, prof, yolo_bundle.manifest.taps), major=10)
    args = shlex.split(info["trtexec"])
    typed = next(a for a in args if a.startswith("--layerOutputTypes=")).split("=", 1)[1]
    precs = next(a for a in args if a.startswith("--layerPrecisions=")).split("=", 1)[1]
    assert topk <= {p.rsplit(":", 1)[0] for p in precs.split(",")}
    assert not topk & {p.rsplit(":", 1)[0] for p in typed.split(",")}
    assert set(args[1:]) - {a for a in args if a.split("=")[0] in ft.TRTEXEC_OPTIONS[10]} == set()
    s11, info11 = prepare_tensorrt(BuildContext.of_bundle(b, prof, yolo_bundle.manifest.taps), major=11)
    args11 = shlex.split(info11["trtexec"])
    rejected = [a for a in args11[1:] if a.split("=")[0] not in ft.TRTEXEC_OPTIONS[11]]
    assert rejected == [] and f"--onnx={trtx.FP16_ONNX}" in args11


# --- build-time rules -----------------------------------------------------------------------

def test_every_build_clears_tf32(trt10, yolo_bundle, tmp_path):
    """Bug: TF32 (on by default) was never cleared: fp32 layers could run in TF32."""
    _device_build(yolo_bundle, tmp_path, "nvidia-gpu-fp16")
    assert trt10.builds and "TF32" not in trt10.builds[-1]["flags"]
    assert "FP16" in trt10.builds[-1]["flags"]
    assert trt10.builds[-1]["pins"], "hotspots pinned under OBEY"


def test_static_batch_bundle_takes_a_dynamic_profile(trt10, yolo_bundle, tmp_path, caplog):
    """Bug: nvidia-gpu-fp16 (batch 1..8) on a static-batch ONNX could not build."""
    _, _, res = _device_build(yolo_bundle, tmp_path, "nvidia-gpu-fp16")
    assert trt10.builds[-1]["profile"]["max"][0] == 1
    assert any("static batch of 1" in m for m in caplog.messages)
    assert res.manifest.device_profile.batch.dynamic is False


def _pin_graph(path):
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nodes = [h.make_node("Sigmoid", ["x"], ["s"], name="/x/Sigmoid"),
             h.make_node("Sigmoid", ["s"], ["s1"], name="/x/Sigmoid_1"),
             h.make_node("Shape", ["s1"], ["sh"], name="/x/Shape"),
             h.make_node("Reshape", ["s1", "sh"], ["r"], name="/x/Reshape"),
             h.make_node("TopK", ["r", "k"], ["v", "i"], name="/x/TopK", axis=-1)]
    g = h.make_graph(nodes, "pins", [h.make_tensor_value_info("x", T.FLOAT, [1, 3, 4, 4])],
                     [h.make_tensor_value_info("v", T.FLOAT, None),
                      h.make_tensor_value_info("i", T.INT64, None)],
                     [nh.from_array(np.array([2], np.int64), "k")])
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), str(path))


def test_pins_match_exact_names_and_skip_int_and_shape_layers(trt10, tmp_path):
    """Bugs: prefix matching also pinned /x/Sigmoid_1; a pinned layer with int or shape-tensor
    input failed the build under OBEY; TopK's index output was typed."""
    _pin_graph(tmp_path / "m.onnx")
    s = trtx.TrtBuildSettings(precision="fp16", workspace_bytes=1 << 20, imgsz=4, batch_min=1,
                              batch_opt=1, batch_max=1, dynamic=False, optimization_level=3,
                              timing_cache=False, fp32_layer_types=("TOPK",),
                              fp32_layers=("/x/Sigmoid", "/x/Reshape", "/x/Shape"))
    s = trtx.TrtBuildSettings(**{**s.__dict__, "imgsz": 4})
    info = trtx.build_engine(tmp_path / "m.onnx", tmp_path / "m.engine", s)
    pins = {p["layer"]: p for p in trt10.builds[-1]["pins"]}
    assert set(pins) == {"/x/Sigmoid", "/x/TopK"}
    assert pins["/x/TopK"]["outputs"] == {"0": "FLOAT"}
    assert info["fp32_skipped_layers"] == 2 and "OBEY_PRECISION_CONSTRAINTS" in \
        trt10.builds[-1]["flags"]
    # the twin: the fake refuses what the old code did
    assert trtx.layer_matches("/x/Sigmoid_1", {"/x/Sigmoid"}) is None
    assert trtx.layer_matches("images_QuantizeLinear", {"images"}) is None


# --- INT8 calibration ------------------------------------------------------------------------

def _dynamic_onnx(src, dst):
    m = onnx.load(str(src))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    onnx.save(m, str(dst))


def _settings(**kw):
    base = dict(precision="int8", workspace_bytes=1 << 28, imgsz=160, batch_min=1, batch_opt=1,
                batch_max=1, dynamic=False, optimization_level=3, timing_cache=False,
                int8_mode="calibrator")
    return trtx.TrtBuildSettings(**{**base, **kw})


def test_calibrator_feeds_whole_opt_batches_and_frees_its_memory(trt10, yolo_bundle, tmp_path):
    """Bugs: the calibrator handed one image while TensorRT reads an OPT batch (read past the
    buffer); its device buffer and stream were never freed."""
    _dynamic_onnx(yolo_bundle.bundle / "model.onnx", tmp_path / "d.onnx")
    images = np.random.default_rng(0).random((3, 3, 160, 160), dtype=np.float32)
    s = _settings(batch_opt=2, batch_max=4, dynamic=True)
    trtx.build_engine(tmp_path / "d.onnx", tmp_path / "d.engine", s, calibration=images,
                      calib_cache=tmp_path / "d.calib")
    assert trt10.builds[-1]["calibration"] and "(2 batches)" in (tmp_path / "d.calib").read_text()
    assert trt10.cudart.live_allocations == 0 and not trt10.cudart.streams


def test_an_empty_calibration_cache_means_calibrate(trt10, yolo_bundle, tmp_path):
    """Bug: an empty cache file was handed to TensorRT as a cache."""
    (tmp_path / "e.calib").write_bytes(b"")
    images = np.random.default_rng(0).random((2, 3, 160, 160), dtype=np.float32)
    trtx.build_engine(yolo_bundle.bundle / "model.onnx", tmp_path / "e.engine", _settings(),
                      calibration=images, calib_cache=tmp_path / "e.calib")
    assert (tmp_path / "e.calib").read_bytes().startswith(b"TRT-")


# --- timing cache ----------------------------------------------------------------------------

def test_timing_cache_is_per_version_and_gpu_reused_and_a_foreign_one_refused(
        trt10, yolo_bundle, tmp_path, caplog):
    """Bugs: a cache from another machine was loaded blindly under one name; the refusal was
    ignored and get_timing_cache() (None) crashed after the engine was written."""
    b, _, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-fp16")
    name = res.manifest.runtime("tensorrt")["timing_cache"]
    assert name == "tensorrt/timing-trt10.3.0-sm87.cache"
    assert (b / name).read_bytes() == b"FAKETC|10.3.0|8.7|1"
    from edgekit.export.device import build_on_device

    build_on_device(b, load_profile("jetson-orin-fp16", {"imgsz": 160}))
    assert not any("refused" in m for m in caplog.messages)
    assert (b / name).read_bytes().endswith(b"|2")  # reused: its entries grew
    (b / name).write_bytes(b"FAKETC|10.0.1|8.6|40")  # carried in from another machine
    from conftest import rehash

    rehash(b)
    build_on_device(b, load_profile("jetson-orin-fp16", {"imgsz": 160}))
    assert (b / name).read_bytes() == b"FAKETC|10.3.0|8.7|1"
    assert any("refused" in m for m in caplog.messages)


# --- the runner ------------------------------------------------------------------------------

@pytest.fixture
def fp16_engine(trt10, yolo_bundle, tmp_path):
    b, _, _ = _device_build(yolo_bundle, tmp_path, "jetson-orin-fp16")
    return b / trtx.ENGINE


def _run(engine, x=None):
    from edgekit.runtimes import get_runner

    x = np.zeros((1, 3, 160, 160), np.float32) if x is None else x
    with get_runner("tensorrt", engine) as r:
        return r.infer({"images": x})


def test_runner_runs_and_frees_everything(trt10, fp16_engine):
    out = _run(fp16_engine)
    assert out["output0"].dtype == np.float32 and out["output0"].shape[0] == 1
    assert trt10.cudart.live_allocations == 0 and not trt10.cudart.streams


@pytest.mark.parametrize("fault, error, match", [
    ("cudaMalloc", BackendError, "cudaMalloc failed: cudaErrorMemoryAllocation"),
    ("cudaMemcpyAsync", BackendError, "cudaMemcpyAsync"),
    ("cudaStreamSynchronize", BackendError, "cudaStreamSynchronize"),
    ("context", BackendError, "execution context"),
    ("batch", UsageError, "outside the engine's optimization profile"),
    ("corrupt", IntegrityError, "cannot deserialize"),
])
def test_runner_turns_every_failure_into_one_clear_error(trt10, fp16_engine, fault, error,
                                                         match):
    """Bug: no CUDA or TensorRT result was checked: failures came back as garbage."""
    x = None
    if fault == "context":
        trt10.fail_context = True
    elif fault == "batch":
        x = np.zeros((2, 3, 160, 160), np.float32)
    elif fault == "corrupt":
        fp16_engine.write_bytes(fp16_engine.read_bytes()[:100])
    else:
        trt10.cudart.fail(fault)
    with pytest.raises(error, match=match):
        _run(fp16_engine, x)


def test_bench_runs_a_bare_engine(trt10, fp16_engine):
    """Bug: `edgekit bench model.engine` failed: the runner had no input_shape()."""
    from edgekit.bench.run import BenchConfig, bench_backend, resolve_target

    res = bench_backend("tensorrt", resolve_target(fp16_engine),
                        BenchConfig(warmup=1, iters=2, e2e=False))
    assert res["model_only"]["n"] == 2


# --- parity on the deployed engine -------------------------------------------------------------

def test_parity_takes_output0_from_the_deployed_engine(trt10, yolo_bundle, tmp_path):
    """Bug: parity only ran a rebuild with taps marked; the deployed engine was never run."""
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import run_parity

    b, prof, _ = _device_build(yolo_bundle, tmp_path, "jetson-orin-fp16")
    rep = run_parity(load_bundle(b), prof, ["tensorrt"])
    trt = rep["backends"]["tensorrt"]
    assert rep["passed"], trt
    assert "model.engine (the deployed engine)" in trt["settings"]["engines"]["output0"]
    # a deployed engine that overflows (fp16) where the rebuild does not
    ft.tamper_plan(b / trtx.ENGINE, scale_output=float("nan"))
    from conftest import rehash

    rehash(b)
    bad = run_parity(load_bundle(b), prof, ["tensorrt"])
    assert not bad["passed"], bad["backends"]["tensorrt"]["outputs"]
    assert all(la["passed"] for la in bad["backends"]["tensorrt"]["layers"]), \
        "the taps come from the rebuild, untouched"
    assert bad["backends"]["tensorrt"]["first_divergent"] == "output0"


def test_parity_rebuild_reuses_the_deployed_calibration(trt10, yolo_bundle, tmp_path):
    """Bug: the parity engine was calibrated afresh on reference.npz: other INT8 scales."""
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import run_parity

    b, prof, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-int8",
                                 {"runtime.trt_int8": "calibrator"})
    deployed = trt10.builds[-1]["calibration"]
    cache = (b / trtx.CALIB_CACHE).read_bytes()
    run_parity(load_bundle(b), prof, ["tensorrt"])
    assert trt10.builds[-1]["calibration"] == deployed
    assert (b / trtx.CALIB_CACHE).read_bytes() == cache
    assert f"--calib={trtx.CALIB_CACHE}" in (b / "tensorrt" / "trtexec.sh").read_text()
    (b / trtx.CALIB_CACHE).unlink()
    from conftest import rehash

    rehash(b)
    with pytest.raises(IntegrityError, match="calibration cache"):
        run_parity(load_bundle(b), prof, ["tensorrt"])


def test_manifest_jetpack_is_jetpack_not_l4t(trt10, monkeypatch):
    """Bug: the bundle's jetpack field held the L4T release string."""
    import edgekit.hostinfo as hi

    monkeypatch.setattr(hi, "jetson_info", lambda: {"l4t": "R36 (release), REVISION: 4.3",
                                                    "jetpack": "6.2.1+b38"})
    info = trtx.gpu_info()
    assert info["jetpack"] == "6.2.1+b38" and info["l4t"].startswith("R36")
    assert info["tensorrt_major"] == 10 and info["cuda_major"] == 12
    assert info["compute_capability"] == "8.7"


def test_trt11_parity_runs_the_strongly_typed_engines(trt11, yolo_bundle, tmp_path):
    """TensorRT 11 end to end: the fp16 ONNX keeps every tap by name, the runner takes the
    engine's dtypes, parity judges output0 on the deployed engine."""
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import run_parity

    b, prof, _ = _device_build(yolo_bundle, tmp_path, "nvidia-gpu-fp16")
    rep = run_parity(load_bundle(b), prof, ["tensorrt"])
    trt = rep["backends"]["tensorrt"]
    assert trt["layers"] and trt["outputs"]["output0"]["passed"], trt["outputs"]
    assert all(h["strongly_typed"] for h in trt11.builds)
    assert trt11.cudart.live_allocations == 0


def test_rtdetr_fp16_on_trt10_pins_and_on_trt11_casts(monkeypatch, rtdetr_bundle, tmp_path):
    """RT-DETR's hotspots (GridSample, LayerNorm, softmax, TopK) on both majors: the parse,
    pins and build hold, and the fp16 ONNX keeps GridSample in fp32."""
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import run_parity

    fake10 = ft.install(monkeypatch, 10)
    b, prof, _ = _device_build(rtdetr_bundle, tmp_path / "10", "jetson-orin-fp16")
    kinds = {p["layer"].rsplit("/", 1)[-1].split("_")[0] for p in fake10.builds[-1]["pins"]}
    assert {"GridSample", "LayerNormalization", "Softmax"} <= kinds
    fake11 = ft.install(monkeypatch, 11)
    b, prof, _ = _device_build(rtdetr_bundle, tmp_path / "11", "jetson-orin-fp16")
    mixed = onnx.load(str(b / trtx.FP16_ONNX))
    grid = [n for n in mixed.graph.node if n.op_type == "GridSample"]
    producer = {o: n.op_type for n in mixed.graph.node for o in n.output}
    assert grid and all(producer.get(n.input[0]) == "Cast" for n in grid)
    rep = run_parity(load_bundle(b), prof, ["tensorrt"])
    assert rep["backends"]["tensorrt"]["layers"] and fake11.builds[-1]["strongly_typed"]
