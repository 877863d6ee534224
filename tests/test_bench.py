"""bench: statistics, gates, bare files, end-to-end detections equal to Ultralytics' predictor."""

import json

import numpy as np
import pytest

from edgekit.bench.stats import settled, summarize
from edgekit.bench.timer import measure

from conftest import build_bundle, run_cli


def test_summary_keeps_every_sample_and_the_tail():
    s = summarize([1_000_000] * 98 + [50_000_000, 100_000_000])
    assert s["n"] == 100 and s["max"] == 100.0 and s["p50"] == 1.0
    assert s["p99"] > 40  # no clipping of the tail
    assert s["cv"] > 1 and abs(s["fps"] - 1000 / s["mean"]) < 1e-9


def test_settled_detects_a_drifting_warmup():
    assert settled([10] * 20)
    assert not settled([10] * 10 + [20] * 10)


def test_measure_counts_iterations_and_duration():
    t = measure(lambda: None, warmup=3, iters=25)
    assert len(t.samples_ns) == 25 and len(t.warmup_ns) >= 3
    t = measure(lambda: None, warmup=0, iters=None, duration_s=0.05)
    assert len(t.samples_ns) > 10


def test_bench_bundle_all_backends_with_json_and_stages(yolo_bundle, tmp_path):
    out = tmp_path / "b.json"
    r = run_cli("bench", str(yolo_bundle.bundle), "--backend", "onnxruntime,openvino",
                "--iters", "20", "--warmup", "3", "--json", str(out), "--threads", "1")
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["schema"] == "edgekit.bench/1"
    for be in ("onnxruntime", "openvino"):
        b = rep["backends"][be]
        assert b["model_only"]["n"] == 20 and len(b["samples_ms"]["model_only"]) == 20
        for k in ("min", "mean", "std", "cv", "p50", "p90", "p95", "p99", "max", "fps"):
            assert k in b["model_only"]
        assert set(b["end_to_end"]["stages"]) == {"preprocess", "inference", "postprocess"}
        assert b["end_to_end"]["p50"] >= b["end_to_end"]["stages"]["inference"]["p50"]
    assert rep["backends"]["onnxruntime"]["settings"]["intra_op_threads"] == 1
    c = rep["conditions"]
    assert "avx2" in c["cpu"]["flags"] and c["peak_rss_mb"] > 0 and c["runtimes"]["openvino"]


def test_json_dash_prints_only_data(yolo_bundle):
    r = run_cli("bench", str(yolo_bundle.bundle), "--backend", "onnxruntime", "--iters", "5",
                "--warmup", "1", "--model-only", "--json", "-")
    assert r.returncode == 0
    assert json.loads(r.stdout)["backends"]["onnxruntime"]["model_only"]["n"] == 5


def test_budget_gate(yolo_bundle):
    args = ["bench", str(yolo_bundle.bundle), "--backend", "onnxruntime", "--iters", "5",
            "--warmup", "1", "--model-only"]
    assert run_cli(*args, "--budget-ms", "10000").returncode == 0
    r = run_cli(*args, "--budget-ms", "0.001")
    assert r.returncode == 1 and "budget" in r.stderr


def test_baseline_regression_gate_trips_on_a_planted_slowdown(yolo_bundle, tmp_path):
    base = tmp_path / "base.json"
    args = ["bench", str(yolo_bundle.bundle), "--backend", "onnxruntime", "--iters", "10",
            "--warmup", "2", "--model-only"]
    assert run_cli(*args, "--json", str(base)).returncode == 0
    rep = json.loads(base.read_text())
    # a baseline 5x faster than what runs now = a planted 5x slowdown
    fast = json.loads(base.read_text())
    fast["backends"]["onnxruntime"]["model_only"]["p50"] /= 5
    (tmp_path / "fast.json").write_text(json.dumps(fast))
    r = run_cli(*args, "--baseline", str(tmp_path / "fast.json"), "--max-regression", "50")
    assert r.returncode == 1 and "REGRESSION" in r.stderr
    slow = json.loads(base.read_text())
    fast = rep["backends"]["onnxruntime"]["model_only"]["p50"]
    slow["backends"]["onnxruntime"]["model_only"]["p50"] = fast * 5
    (tmp_path / "slow.json").write_text(json.dumps(slow))
    assert run_cli(*args, "--baseline", str(tmp_path / "slow.json"), "--max-regression", "50").returncode == 0


def test_compare_and_plot(yolo_bundle, tmp_path):
    pytest.importorskip("matplotlib")
    a = tmp_path / "a.json"
    png = tmp_path / "p.png"
    r = run_cli("bench", str(yolo_bundle.bundle), "--backend", "openvino", "--iters", "8",
                "--warmup", "1", "--json", str(a), "--plot", str(png))
    assert r.returncode == 0 and png.stat().st_size > 1000
    r = run_cli("bench", "compare", str(a), str(a))
    assert r.returncode == 0 and "1.00×" in r.stderr


def test_bare_model_files_and_corrupt_ones(yolo_bundle, tmp_path):
    for f in ("model.onnx", "openvino/model.xml"):
        r = run_cli("bench", str(yolo_bundle.bundle / f), "--iters", "3", "--warmup", "1",
                    "--json", "-")
        assert r.returncode == 0, r.stderr
        rep = json.loads(r.stdout)
        assert rep["model_only_target"] and "end_to_end" not in next(iter(rep["backends"].values()))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes((yolo_bundle.bundle / "model.onnx").read_bytes()[:5000])
    r = run_cli("bench", str(bad))
    assert r.returncode == 2 and "Traceback" not in r.stderr and "bad.onnx" in r.stderr
    r = run_cli("bench", str(tmp_path / "model.tflite"))
    assert r.returncode == 2


def test_throughput_mode_reports_fps(yolo_bundle):
    r = run_cli("bench", str(yolo_bundle.bundle), "--hint", "throughput", "--iters", "12",
                "--warmup", "2", "--json", "-")
    assert r.returncode == 0, r.stderr
    tp = json.loads(r.stdout)["throughput"]
    assert tp["fps"] > 0 and tp["requests"] >= 1 and tp["images"] == 12


def test_batch_above_one_needs_a_dynamic_export(yolo_bundle, tmp_path):
    # a static bundle refuses --batch 2 on every runtime, and names a re-export that works
    advice = "--batch-range 1:2"
    for be in ("onnxruntime", "openvino"):
        r = run_cli("bench", str(yolo_bundle.bundle), "--backend", be, "--batch", "2",
                    "--iters", "3")
        assert r.returncode == 2 and "static batch" in r.stderr and "Traceback" not in r.stderr
        assert advice in r.stderr and "(or OpenVINO)" not in r.stderr
    # the advice: export --batch-range (no hand-written profile)
    r = run_cli("export", "yolo26n.yaml", "--profile", "intel-cpu-fp32", "--imgsz", "160",
                "--batch-range", "1:4", "--no-parity", "--out", str(tmp_path))
    assert r.returncode == 0, r.stderr
    dyn = tmp_path / "yolo26n-intel-cpu-fp32-160"
    m = json.loads((dyn / "manifest.json").read_text())
    assert m["input"]["dynamic_batch"] and m["input"]["shape"][0] == "batch"
    assert (m["profile"]["batch"]["min"], m["profile"]["batch"]["max"]) == (1, 4)
    r = run_cli("bench", str(dyn), "--batch", "2", "--iters", "3", "--warmup", "1", "--json", "-")
    assert r.returncode == 0, r.stderr
    for res in json.loads(r.stdout)["backends"].values():
        assert res["model_only"]["fps"] == pytest.approx(2000 / res["model_only"]["mean"])
    # above the profile's maximum: refused
    r = run_cli("bench", str(dyn), "--batch", "8", "--iters", "3")
    assert r.returncode == 2 and "1..4" in r.stderr and "Traceback" not in r.stderr


def test_export_dynamic_batch_options():
    from edgekit.api import dynamic_batch
    from edgekit.errors import UsageError
    from edgekit.profiles import load_profile

    static = load_profile("intel-cpu-fp32").batch
    assert dynamic_batch(static, None, None) == {"batch.dynamic": True, "batch.min": 1,
                                                 "batch.max": 8, "batch.size": 1, "batch.opt": 1}
    assert dynamic_batch(static, 2, "2:6")["batch.max"] == 6
    gpu = load_profile("nvidia-gpu-fp16").batch  # a dynamic profile keeps its own range
    assert dynamic_batch(gpu, None, None)["batch.max"] == gpu.max
    for bad in ("4:2", "0:3", "8", "a:b"):
        with pytest.raises(UsageError):
            dynamic_batch(static, None, bad)
    with pytest.raises(UsageError):
        dynamic_batch(static, 9, "1:8")
    r = run_cli("export", "yolo26n.yaml", "--batch-range", "4:2")
    assert r.returncode == 2 and "--batch-range 4:2" in r.stderr


@pytest.mark.parametrize("which", ["yolo", "yolo_o2m", "rtdetr"])
def test_end_to_end_detections_equal_ultralytics_predictor(which, yolo_bundle, rtdetr_bundle,
                                                           bundles_root):
    """Our preprocessing + postprocessing against Ultralytics' predictor on the same ONNX."""
    from ultralytics import RTDETR, YOLO

    from edgekit.bench.run import postprocess
    from edgekit.bundle import load_bundle
    from edgekit.models.preprocess import read_image, sample_images, to_input
    from edgekit.runtimes import get_runner

    if which == "yolo_o2m":
        path = build_bundle(bundles_root / "o2m-pred", "yolo26n.yaml", "onnx-fp32",
                            end2end=False, parity=False).bundle
    else:
        path = {"yolo": yolo_bundle, "rtdetr": rtdetr_bundle}[which].bundle
    b = load_bundle(path)
    imgsz = b.manifest.input.imgsz
    wrapper = RTDETR(str(b.file("model.onnx"))) if b.family == "rtdetr" else \
        YOLO(str(b.file("model.onnx")), task="detect")
    runner = get_runner("onnxruntime", b.file("model.onnx"))
    compared = 0
    with runner:
        for p in sample_images():
            img = read_image(p)
            theirs = wrapper.predict(img, imgsz=imgsz, conf=1e-4, verbose=False)[0].boxes
            x, lb = to_input(img, imgsz, b.manifest.input.resize.mode)
            ours = postprocess(runner.infer({"images": x})["output0"], b.manifest.output.format,
                               imgsz, lb, 1e-4)[0]
            assert len(ours) == len(theirs)
            if len(ours):
                np.testing.assert_allclose(ours.boxes, theirs.xyxy.numpy(), atol=0.05)
                np.testing.assert_allclose(ours.scores, theirs.conf.numpy(), atol=1e-5)
                np.testing.assert_array_equal(ours.classes, theirs.cls.numpy().astype(int))
                compared += len(ours)
    assert compared > 0


def test_tegrastats_line_parsing():
    from edgekit.bench.jetson import TegraStats, parse_tegrastats

    line = ("RAM 2374/7620MB (lfb 1x2MB) SWAP 0/3810MB (cached 0MB) CPU [2%@1190,1%@1190] "
            "EMC_FREQ 3%@2133 GR3D_FREQ 45%@[611] cpu@45.5C soc2@44.25C tj@46.1C "
            "VDD_IN 4123mW/4100mW VDD_CPU_GPU_CV 491mW/480mW VDD_SOC 1205mW/1200mW")
    d = parse_tegrastats(line)
    assert d["temps_c"] == {"cpu": 45.5, "soc2": 44.25, "tj": 46.1}
    assert d["power_mw"] == {"VDD_IN": 4123, "VDD_CPU_GPU_CV": 491, "VDD_SOC": 1205}
    assert d["gpu_load_pct"] == 45 and d["gpu_mhz"] == 611 and d["emc_mhz"] == 2133
    with TegraStats() as t:  # off a Jetson: nothing sampled, nothing recorded
        pass
    assert t.summary() is None


def _restricted_to_one_cpu():
    """A context: this process runs on one CPU of its affinity mask (like `taskset -c N`)."""
    import contextlib
    import os

    @contextlib.contextmanager
    def ctx():
        mask = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(mask)})
        try:
            yield
        finally:
            os.sched_setaffinity(0, mask)

    return ctx()


def test_ort_threads_follow_the_affinity_mask(yolo_bundle):
    """Without --threads, ONNX Runtime gets one intra-op thread per physical core of the
    affinity mask (its own default ignores taskset), and the report says how many."""
    from edgekit.hostinfo import usable_cores
    from edgekit.runtimes import RunnerSettings, get_runner

    def threads(settings=None):
        with get_runner("onnxruntime", yolo_bundle.bundle / "model.onnx",
                        settings=settings) as ort:
            n = ort.session.get_session_options().intra_op_num_threads
            assert n == ort.describe()["intra_op_threads"]
            return n

    with _restricted_to_one_cpu():
        assert threads() == 1
        assert threads(RunnerSettings(threads=2)) == 2  # an explicit request wins
    # twin: with the whole mask, the count is the mask's cores, not a constant 1
    n = usable_cores()
    if n < 2:
        pytest.skip("one core here: the affinity mask cannot be narrowed")
    assert threads() == n


def _bench_threads(bundle, one_cpu: bool) -> dict:
    import os
    import subprocess
    import sys

    def narrow():
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    r = subprocess.run([sys.executable, "-m", "edgekit", "bench", str(bundle),
                        "--backend", "onnxruntime,openvino", "--iters", "3", "--warmup", "1",
                        "--model-only", "--json", "-"], capture_output=True, text=True,
                       preexec_fn=narrow if one_cpu else None)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    return {"onnxruntime": rep["backends"]["onnxruntime"]["settings"]["intra_op_threads"],
            "openvino": rep["backends"]["openvino"]["settings"]["inference_num_threads"],
            "cpus": rep["conditions"]["cpu"]["affinity_cores"]}


def test_bench_records_the_effective_thread_count_under_taskset(yolo_bundle):
    """As under `taskset -c 0`: both runtimes run, and are recorded, with one thread.
    (OpenVINO reads the mask itself when it starts; its count is recorded as a number.)"""
    from edgekit.hostinfo import usable_cores

    assert _bench_threads(yolo_bundle.bundle, one_cpu=True) == \
        {"onnxruntime": 1, "openvino": 1, "cpus": 1}
    if usable_cores() < 2:
        pytest.skip("one core here: the affinity mask cannot be narrowed")
    full = _bench_threads(yolo_bundle.bundle, one_cpu=False)  # twin: not a constant 1
    assert full["onnxruntime"] == usable_cores() and full["openvino"] > 1


def test_int8_bundle_benches_its_int8_model_and_says_so(ort_int8_bundle, yolo_bundle):
    """By default bench times the profile's runtimes on their artifacts (an INT8 bundle's
    fp32 model.onnx is not timed as "onnxruntime"); each row names its file and precision."""
    args = ("--iters", "3", "--warmup", "1", "--model-only", "--json", "-")
    r = run_cli("bench", str(ort_int8_bundle.bundle), *args)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)["backends"]
    assert list(rows) == ["onnxruntime"]
    assert rows["onnxruntime"]["artifact"] == "onnxruntime/model.int8.onnx"
    assert rows["onnxruntime"]["precision"] == "int8"
    # twin: the same code on an fp32 bundle names the fp32 model.onnx, and times both runtimes
    rows = json.loads(run_cli("bench", str(yolo_bundle.bundle), *args).stdout)["backends"]
    assert sorted(rows) == ["onnxruntime", "openvino"]
    assert (rows["onnxruntime"]["artifact"], rows["onnxruntime"]["precision"]) == \
        ("model.onnx", "fp32")
    assert (rows["openvino"]["artifact"], rows["openvino"]["precision"]) == \
        ("openvino/model.xml", "fp32")
    # bare files: the precision is read from the graph
    for rel, prec in (("onnxruntime/model.int8.onnx", "int8"), ("model.onnx", "fp32")):
        r = run_cli("bench", str(ort_int8_bundle.bundle / rel), *args)
        row = json.loads(r.stdout)["backends"]["onnxruntime"]
        assert row["precision"] == prec and row["artifact"].endswith(rel)


def _external_data_model(folder, location="m.data"):
    """A small ONNX whose weight lives in an external data file at ``location``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(3, 4), "w")
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"]),
                           helper.make_node("Relu", ["y"], ["z"])], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])],
                          [helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 4])], [w])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(folder / "m.onnx"), save_as_external_data=True,
              all_tensors_to_one_file=True, location="m.data", size_threshold=0)
    if location != "m.data":  # point the weight somewhere else (outside the folder)
        m = onnx.load(str(folder / "m.onnx"), load_external_data=False)
        for e in m.graph.initializer[0].external_data:
            if e.key == "location":
                e.value = location
        onnx.save(m, str(folder / "m.onnx"))
    return folder / "m.onnx"


def test_external_data_onnx_loads_from_any_working_directory(tmp_path, monkeypatch):
    from edgekit.runtimes import get_runner

    path = _external_data_model(tmp_path / "models")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    x = {"x": np.ones((1, 3), np.float32)}
    for extra in ([], ["y"]):  # by path, and as an in-memory copy with a tap exposed
        with get_runner("onnxruntime", path, extra_outputs=extra) as r:
            out = r.infer(x)
        np.testing.assert_array_equal(out["z"], [[12, 15, 18, 21]])
    r = run_cli("bench", str(path), "--iters", "3", "--warmup", "1", "--json", "-",
                cwd=elsewhere)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("location", ["../evil.data", "sub/../../evil.data"])
def test_external_data_outside_the_model_directory_is_refused(tmp_path, monkeypatch, location):
    """The twin: the weight file exists, but outside the model's folder: exit 4, one line."""
    import shutil

    from edgekit.errors import IntegrityError
    from edgekit.runtimes import get_runner

    good = _external_data_model(tmp_path / "good")
    shutil.copy(good.parent / "m.data", tmp_path / "evil.data")
    path = _external_data_model(tmp_path / "models", location)
    monkeypatch.chdir(tmp_path / "models")  # where "../evil.data" would resolve
    for extra in ([], ["y"]):
        with pytest.raises(IntegrityError, match="escapes"):
            get_runner("onnxruntime", path, extra_outputs=extra).activate()
    r = run_cli("bench", str(path), "--iters", "3", cwd=tmp_path / "models")
    assert r.returncode == 4 and "Traceback" not in r.stderr
    assert [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")] and \
        "escapes" in r.stderr and str(path) in r.stderr


def test_rtdetr_decoding_keeps_boxes_beyond_the_image_as_the_predictor_does():
    """Ultralytics' RT-DETR predictor scales normalised boxes to the original image and does
    not clip them; bench's decoding gives the same boxes (the YOLO predictor does clip)."""
    from types import SimpleNamespace

    import torch
    from ultralytics.models.rtdetr.predict import RTDETRPredictor

    from edgekit.bench.run import postprocess
    from edgekit.models.preprocess import to_input

    rng = np.random.default_rng(0)
    n, imgsz = 300, 160
    raw = np.zeros((1, n, 6), np.float32)
    raw[0, :, :2] = rng.uniform(0, 1, (n, 2))  # box centres (sigmoid outputs)
    raw[0, :, 2:4] = rng.uniform(0.02, 0.8, (n, 2))  # wide boxes cross the image border
    raw[0, :, 4] = np.sort(rng.uniform(0, 1, n))[::-1]  # scores, top-k ordered
    raw[0, :, 5] = rng.integers(0, 80, n)
    img = np.zeros((480, 640, 3), np.uint8)
    _, lb = to_input(img, imgsz, "stretch")
    ours = postprocess(raw, "rtdetr", imgsz, lb, 0.25)[0]

    pred = RTDETRPredictor(overrides={"conf": 0.25, "verbose": False})
    pred.batch = [["image.jpg"]]
    pred.model = SimpleNamespace(names={i: str(i) for i in range(80)})
    theirs = pred.postprocess(torch.from_numpy(raw), None, [img])[0].boxes
    xyxy = theirs.xyxy.numpy()
    outside = (xyxy[:, :2] < 0).any(1) | (xyxy[:, 2] > 640) | (xyxy[:, 3] > 480)
    assert outside.sum() > 20  # the case in question is there
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(ours.boxes, xyxy, atol=1e-3)
    np.testing.assert_allclose(ours.scores, theirs.conf.numpy(), atol=1e-6)
    np.testing.assert_array_equal(ours.classes, theirs.cls.numpy().astype(int))
    # twin: the old decoding, which clipped, differs from the predictor on exactly those boxes
    from edgekit.parity.detections import decode

    old = lb.to_original(decode(raw, "rtdetr", imgsz, conf=0.25)[0].boxes, clip=True)
    differs = ~np.isclose(old, xyxy, atol=1e-3).all(1)
    np.testing.assert_array_equal(differs, outside)


def _dynamic_onnx(path):
    """A one-node ONNX whose input has dynamic height and width."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 3, "h", "w"])
    g = helper.make_graph([helper.make_node("Relu", ["images"], ["output0"])], "dyn", [x], [y])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_a_bare_file_with_dynamic_sizes_needs_imgsz(tmp_path):
    f = str(_dynamic_onnx(tmp_path / "dyn.onnx"))
    r = run_cli("bench", f, "--iters", "2", "--warmup", "1")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "dynamic sizes" in r.stderr and "--imgsz" in r.stderr
    # twin: with --imgsz it runs at that size
    r = run_cli("bench", f, "--iters", "2", "--warmup", "1", "--imgsz", "64", "--json", "-")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["backends"]["onnxruntime"]["model_only"]["p50"] > 0


def test_imgsz_is_refused_where_the_size_is_fixed(yolo_bundle):
    for target in (yolo_bundle.bundle, yolo_bundle.bundle / "model.onnx"):
        r = run_cli("bench", str(target), "--iters", "2", "--imgsz", "320")
        assert r.returncode == 2 and "Traceback" not in r.stderr and "320" in r.stderr
