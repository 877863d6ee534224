"""End-to-end export of both families at small sizes, and what the bundle holds."""

import hashlib
import json
import subprocess

import numpy as np
import pytest

from edgekit.bundle import load_bundle

from conftest import IMGSZ, build_bundle, run_cli


def _sha(p):
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_yolo_bundle_layout_and_manifest(yolo_bundle):
    b = yolo_bundle.bundle
    m = json.loads((b / "manifest.json").read_text())
    assert {"model.onnx", "openvino/model.xml", "openvino/model.bin", "reference.npz",
            "parity.json", "reproduce.sh"} <= set(m["files"])
    for rel, digest in m["files"].items():
        assert _sha(b / rel) == digest
    src = m["source"]
    assert src["family"] == "yolo" and src["seed"] == 0 and src["random_weights"]
    assert src["bn_recalibrated"] and len(src["sha256"]) == 64
    assert m["versions"]["torch"] and m["versions"]["onnx"] and m["versions"]["openvino"]
    assert m["opset"] == 17
    assert m["input"]["shape"] == [1, 3, IMGSZ, IMGSZ] and m["input"]["color"] == "RGB"
    assert m["output"]["format"] == "yolo_end2end" and m["output"]["shape"] == [1, 300, 6]
    assert m["head"] == {"exported": "one2one", "checkpoint_mode": None,
                         "reason": "edgekit's default for YAML-built models"}
    assert m["names"]["0"] == "person"
    assert [t["name"] for t in m["taps"]] == ["model.10.m.0.attn", "model.22.m.0.1.attn"]
    assert all(t["kind"] == "psa_attn" for t in m["taps"])
    assert m["parity"]["passed"] is True


def test_deployed_onnx_keeps_only_its_output_and_runs_in_ort_and_openvino(yolo_bundle):
    import onnx
    import onnxruntime as ort
    import openvino as ov

    b = yolo_bundle.bundle
    model = onnx.load(str(b / "model.onnx"))
    assert [o.name for o in model.graph.output] == ["output0"]
    # the tap tensors still exist in the deployed graph under their names
    produced = {o for n in model.graph.node for o in n.output}
    assert "tap::model.22.m.0.1.attn" in produced
    x = np.load(b / "reference.npz")["inputs"][0]
    y = ort.InferenceSession(str(b / "model.onnx")).run(None, {"images": x})[0]
    assert y.shape == (1, 300, 6)
    c = ov.Core().compile_model(str(b / "openvino" / "model.xml"), "CPU")
    assert len(c.outputs) == 1
    y2 = c.create_infer_request().infer({"images": x})[c.outputs[0]]
    assert np.abs(y2[..., 4] - y[..., 4]).max() < 1e-3


def test_rtdetr_sites_are_found_with_kinds(rtdetr_bundle):
    m = rtdetr_bundle.manifest
    kinds = [(t.name, t.kind) for t in m.taps]
    assert kinds[0] == ("model.9", "aifi")
    assert ("model.26.decoder", "queries") in kinds
    assert [k for _, k in kinds].count("self_attn") == 2
    assert [k for _, k in kinds].count("deform_attn") == 2
    assert m.output.format == "rtdetr" and m.opset >= 16
    assert m.source.decoder_decorrelated is True


def test_yolo_one_to_many_form_needs_nms(bundles_root):
    res = build_bundle(bundles_root / "o2m", "yolo26n.yaml", "onnx-fp32", end2end=False)
    m = res.manifest
    assert m.output.format == "yolo_raw"
    n_anchors = sum((IMGSZ // s) ** 2 for s in (8, 16, 32))
    assert m.output.shape == [1, 84, n_anchors]
    assert "reproduce.sh" in m.files
    assert "--no-end2end" in (res.bundle / "reproduce.sh").read_text()


def test_int8_export_builds_a_quantized_ir_with_float_attention(bundles_root):
    res = build_bundle(bundles_root / "int8", "yolo26n.yaml", "intel-cpu-int8", parity=False)
    ovm = res.manifest.runtime("openvino")
    assert ovm["precision"] == "int8" and ovm["nncf"]["model_type"] == "transformer"
    assert ovm["nncf"]["fake_quantize_ops"] > 0
    assert ovm["nncf"]["ignored_ops"] > 0


def _matmul_inputs_dequantized(model_path, names):
    import onnx

    g = onnx.load(str(model_path)).graph
    producer = {o: n.op_type for n in g.node for o in n.output}
    return {n.name: any(producer.get(i) == "DequantizeLinear" for i in n.input)
            for n in g.node if n.op_type == "MatMul" and n.name in names}


def test_onnxruntime_int8_is_qdq_and_keeps_the_float_scope_float(bundles_root, yolo_bundle,
                                                                 ort_int8_bundle):
    """The same per-site float scope as OpenVINO: the attention MatMuls of a site kept in
    float read float tensors, and those of a quantized site read DequantizeLinear outputs."""
    import onnx

    from edgekit.runtimes.onnxruntime import INT8_MODEL as ORT_INT8
    from edgekit.scope import FloatScope, select

    taps = yolo_bundle.manifest.taps
    site = "model.10.m.0.attn"
    deployed = onnx.load(str(yolo_bundle.bundle / "model.onnx"))
    region = select(deployed, taps, FloatScope(sites={site: "all"})).nodes
    matmuls = {n.name for n in deployed.graph.node if n.op_type == "MatMul" and n.name in region}
    assert matmuls

    kept = ort_int8_bundle
    m = kept.manifest
    assert m.artifacts["onnxruntime"] == ORT_INT8 and m.artifacts["onnx"] == "model.onnx"
    ort = m.runtime("onnxruntime")
    assert ort["format"] == "QDQ" and ort["quantize_linear_ops"] > 0
    assert load_bundle(kept.bundle).artifact("onnxruntime") == kept.bundle / ORT_INT8
    assert not any(_matmul_inputs_dequantized(kept.bundle / ORT_INT8, matmuls).values())

    from edgekit.models.preprocess import image_batch, list_images
    from edgekit.runtimes.onnxruntime.quant import quantize_static_qdq

    calib = image_batch(list_images(None), IMGSZ, count=2)
    dst = bundles_root / "ort8-none.onnx"
    quantize_static_qdq(yolo_bundle.bundle / "model.onnx", dst, calib,
                        exclude_nodes=list(select(deployed, taps, FloatScope()).nodes))
    assert all(_matmul_inputs_dequantized(dst, matmuls).values())


def test_same_seed_same_bundle_weights(bundles_root, yolo_bundle):
    import onnx
    from onnx import numpy_helper

    again = build_bundle(bundles_root / "again", "yolo26n.yaml", "intel-cpu-fp32", parity=False)
    w1 = onnx.load(str(yolo_bundle.bundle / "model.onnx")).graph.initializer
    w2 = onnx.load(str(again.bundle / "model.onnx")).graph.initializer
    assert len(w1) == len(w2)
    for x, y in zip(w1, w2):  # equal up to float rounding of the BatchNorm re-estimation
        np.testing.assert_allclose(numpy_helper.to_array(x), numpy_helper.to_array(y),
                                   rtol=1e-5, atol=1e-6)
    a = np.load(yolo_bundle.bundle / "reference.npz")
    b = np.load(again.bundle / "reference.npz")
    np.testing.assert_array_equal(a["inputs"], b["inputs"])
    for site in ("model.10.m.0.attn", "model.22.m.0.1.attn"):
        np.testing.assert_allclose(a[site], b[site], rtol=1e-4, atol=1e-4)
    other = build_bundle(bundles_root / "seed1", "yolo26n.yaml", "onnx-fp32", parity=False, seed=1)
    w3 = onnx.load(str(other.bundle / "model.onnx")).graph.initializer
    assert any(not np.array_equal(numpy_helper.to_array(x), numpy_helper.to_array(y))
               for x, y in zip(w1, w3) if x.dims == y.dims)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["yolo26n.yaml", "rtdetr-l.yaml"])
def test_full_size_export_passes_parity(bundles_root, model):
    res = build_bundle(bundles_root / "full", model, "intel-cpu-fp32", imgsz=640)
    assert res.parity["passed"]


def test_reproduce_script_is_a_valid_shell_script(yolo_bundle):
    sh = yolo_bundle.bundle / "reproduce.sh"
    assert subprocess.run(["sh", "-n", str(sh)]).returncode == 0
    assert "edgekit export yolo26n.yaml --profile intel-cpu-fp32 --imgsz 160 --seed 0" \
        in sh.read_text()
    imgs = yolo_bundle.manifest.images.reference
    assert imgs.dir is None and imgs.files == ["bus.jpg", "zidane.jpg"]
    assert len(imgs.sha256) == 64


def test_int8_manifest_records_its_calibration_images(ort_int8_bundle):
    m = ort_int8_bundle.manifest
    cal, ref = m.images.calibration, m.images.reference
    assert cal["count"] == 32 and cal["sha256"] == ref.sha256 and cal["dir"] is None


def _edgekit_on_path(tmp_path):
    """reproduce.sh calls `edgekit`: a shim that runs this interpreter's edgekit."""
    import os
    import sys

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "edgekit"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m edgekit "$@"\n')
    shim.chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return env


def test_reproduce_script_recreates_the_bundle_inputs_included(tmp_path):
    """A bundle exported from the user's images (a folder name that needs quoting) with
    non-default options; its reproduce.sh, run elsewhere, gives the same reference inputs,
    profile and image record."""
    import shutil

    from edgekit.models.preprocess import sample_images

    from conftest import run_cli

    images = tmp_path / "my images 'q' $HOME"
    images.mkdir()
    shutil.copy(sample_images()[1], images / "z.jpg")  # zidane only
    out = tmp_path / "out"
    r = run_cli("export", "yolo26n.yaml", "--profile", "onnx-fp32", "--imgsz", "96",
                "--threads", "2", "--seed", "3", "--no-parity", "--images", str(images),
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    orig = out / "yolo26n-onnx-fp32-96"
    m = json.loads((orig / "manifest.json").read_text())
    assert m["images"]["reference"]["dir"] == str(images.resolve())
    assert m["images"]["reference"]["files"] == ["z.jpg"]
    assert m["profile"]["calibration"]["images"] == str(images.resolve())
    sh = orig / "reproduce.sh"
    text = sh.read_text()
    assert subprocess.run(["sh", "-n", str(sh)]).returncode == 0
    for flag in ("--threads 2", "--seed 3", "--no-parity", "--images", "--out"):
        assert flag in text, flag
    ref_inputs = np.load(orig / "reference.npz")["inputs"]

    env = _edgekit_on_path(tmp_path)
    again = subprocess.run(["sh", str(sh)], capture_output=True, text=True, env=env)
    assert again.returncode == 2 and "already exists" in again.stderr  # no silent replacement
    again = subprocess.run(["sh", str(sh), "--out", str(tmp_path / "re")], capture_output=True,
                           text=True, env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    m2 = json.loads((tmp_path / "re" / orig.name / "manifest.json").read_text())
    assert m2["images"] == m["images"] and m2["profile"] == m["profile"]
    assert m2["source"]["seed"] == 3
    np.testing.assert_array_equal(np.load(tmp_path / "re" / orig.name / "reference.npz")["inputs"],
                                  ref_inputs)

    # twin: the old script, without --images, re-creates the bundle from other inputs
    import shlex

    argv = shlex.split(text.splitlines()[-1])[:-1]  # exec edgekit export ... (less "$@")
    i = argv.index("--images")
    del argv[i:i + 2]
    (tmp_path / "old.sh").write_text(f'{shlex.join(argv)} "$@"\n')
    old = subprocess.run(["sh", str(tmp_path / "old.sh"), "--out", str(tmp_path / "old")],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert old.returncode == 0, old.stderr
    m3 = json.loads((tmp_path / "old" / orig.name / "manifest.json").read_text())
    assert m3["images"] != m["images"]
    assert np.load(tmp_path / "old" / orig.name / "reference.npz")["inputs"].shape != \
        ref_inputs.shape


def test_reproduce_names_a_shipped_profile_with_flags_else_copies_it(tmp_path):
    from edgekit.export.reproduce import PROFILE_COPY, profile_flags, write_reproduce
    from edgekit.models.source import resolve_source
    from edgekit.profiles import load_profile

    prof = load_profile("intel-cpu-fp32", {"imgsz": 320, "runtime.threads": 2, "opset": 18,
                                           "simplify": False, "batch.size": 2})
    assert profile_flags(prof) == ["--profile", "intel-cpu-fp32", "--imgsz", "320",
                                    "--batch", "2", "--opset", "18", "--threads", "2",
                                    "--no-simplify"]
    # a field no flag sets (a tolerance), or a profile from a user's file: the bundle keeps
    # a copy, and reproduce.sh points at it
    custom = tmp_path / "mine.yaml"
    custom.write_text("runtimes: [onnxruntime]\ntolerances: {fp32: {default: {min_cosine: 0.9}}}\n")
    for p in (load_profile(custom), load_profile("onnx-fp32", {"tolerances": {
            "fp32": {"default": {"min_cosine": 0.9}}}})):
        assert profile_flags(p) is None
        b = tmp_path / p.name
        b.mkdir()
        info = {"dir": None, "files": ["bus.jpg"], "sha256": "0" * 64}
        write_reproduce(b, resolve_source("yolo26n.yaml"), p, seed=0, end2end=True, parity=True,
                        images=None, out_dir=tmp_path, image_info=info)
        assert load_profile(b / PROFILE_COPY) == p
        text = (b / "reproduce.sh").read_text()
        assert f'--profile "$(dirname "$0")/{PROFILE_COPY}"' in text
        assert subprocess.run(["sh", "-n", str(b / "reproduce.sh")]).returncode == 0



def test_export_follows_the_checkpoints_head(tiny_trained, tmp_path):
    """A yolo-trained YOLO26 checkpoint is saved in one-to-many mode: export follows it, as
    Ultralytics' val and export do, and the manifest says which head and why."""
    res = run_cli("export", str(tiny_trained["yolo-best"]), "--profile", "onnx-fp32",
                  "--imgsz", "64", "--no-parity", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    (b,) = [p for p in tmp_path.iterdir() if (p / "manifest.json").is_file()]
    m = json.loads((b / "manifest.json").read_text())
    assert m["head"] == {"exported": "one2many", "reason": "the checkpoint's own mode",
                         "checkpoint_mode": "one2many"}
    assert m["output"]["format"] == "yolo_raw"
    assert "--no-end2end" in (b / "reproduce.sh").read_text()
    assert "forces the one-to-one head" not in res.stderr


def test_forcing_end2end_on_a_one2many_checkpoint_warns(tiny_trained, tmp_path):
    res = run_cli("export", str(tiny_trained["yolo-best"]), "--end2end", "--profile",
                  "onnx-fp32", "--imgsz", "64", "--no-parity", "--out", str(tmp_path))
    assert res.returncode == 0, res.stderr
    assert "forces the one-to-one head" in res.stderr
    (b,) = [p for p in tmp_path.iterdir() if (p / "manifest.json").is_file()]
    m = json.loads((b / "manifest.json").read_text())
    assert m["head"]["exported"] == "one2one" and m["head"]["reason"] == "--end2end"
    assert m["output"]["format"] == "yolo_end2end"
    assert " --end2end" in (b / "reproduce.sh").read_text()


def test_export_data_calibrates_on_the_train_split_and_records_the_reference(
        trained_yolo, synth_data, tmp_path):
    """export --data: INT8 calibration images come from the dataset's train split (here a
    tenth of it), the manifest says which, the PyTorch reference mAP on the val split is
    recorded for a torch-free `edgekit eval`, and reproduce.sh carries both options."""
    r = run_cli("export", str(trained_yolo.path), "--profile", "onnx-int8", "--imgsz", "160",
                "--no-parity", "--data", str(synth_data), "--fraction", "0.1",
                "--out", str(tmp_path), timeout=900)
    assert r.returncode == 0, r.stderr
    (b,) = [p for p in tmp_path.iterdir() if (p / "manifest.json").is_file()]
    m = json.loads((b / "manifest.json").read_text())
    cal = m["images"]["calibration"]
    assert cal["source"] == "dataset" and cal["split"] == "train" and cal["fraction"] == 0.1
    assert cal["data"] == str(synth_data.resolve()) and cal["same_dataset_as_eval"] is True
    assert cal["count"] == 16 == m["onnxruntime"]["subset_size"]  # ceil(0.1 * 160 images)
    assert len(cal["files"]) == 16 and len(cal["sha256"]) == 64
    # the reference: the two sample images, 8 held-out val images (the reduced-precision
    # verdict's medians are over these), none of them a calibration image, and the noise
    labels = m["reference"]["inputs"]
    assert len(labels) == 2 + 8 + 1 and labels[-1].startswith("random(")
    assert all(lb.startswith("val_") for lb in labels[2:10])
    assert not set(labels[2:10]) & set(cal["files"])
    assert np.load(b / "reference.npz")["inputs"].shape[0] == 11
    ref = m["eval_reference"]
    # really trained (the recipe reaches about 0.45 mAP50; chance is near 0)
    assert ref["data"]["split"] == "val" and ref["map50"] > 0.2
    sh = (b / "reproduce.sh").read_text()
    assert f"--data {synth_data.resolve()}" in sh and "--fraction 0.1" in sh
    # the recorded reference is what eval gates on without recomputing it
    out = tmp_path / "eval.json"
    r = run_cli("eval", str(b), "--data", str(synth_data), "--reference", "recorded",
                "--backend", "onnxruntime", "--max-drop", "50", "--json", str(out), timeout=900)
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["reference"]["origin"] == "bundle"
    assert rep["reference"]["map50_95"] == ref["map50_95"]


@pytest.mark.parametrize("args,needle", [
    (["--fraction", "0.5"], "give --data too"),
    (["--data", "{data}", "--fraction", "0"], "(0, 1]"),
    (["--data", "{missing}"], "dataset YAML not found"),
])
def test_export_data_bad_input(synth_data, tmp_path, args, needle):
    args = [a.format(data=synth_data, missing=tmp_path / "nope.yaml") for a in args]
    r = run_cli("export", "yolo26n.yaml", "--profile", "onnx-int8", "--imgsz", "64",
                "--out", str(tmp_path / "out"), *args)
    assert r.returncode == 2 and needle in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
