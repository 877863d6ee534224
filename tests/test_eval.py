"""edgekit eval: mAP through the deployment path, checked against Ultralytics' own val on
really trained checkpoints, a planted decoding fault that trips the gate, and bad input."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import IMGSZ, build_bundle, copy_bundle, rehash, run_cli

#: eval (COCO metric, deployment path) vs Ultralytics val (its own AP), mAP50-95 points
AGREE_PTS = 0.5
#: eval vs COCO metric on Ultralytics' own predictions: the predictions themselves agree
SAME_PREDS_PTS = 0.1


def ultralytics_val(ckpt: Path, data: Path, nms: str = "default") -> dict:
    r = subprocess.run([sys.executable, str(Path(__file__).parent / "ultra_val.py"), str(ckpt),
                        str(data), str(IMGSZ), nms], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def eval_json(bundle: Path, data: Path, tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    out = tmp_path / "eval.json"
    r = run_cli("eval", str(bundle), "--data", str(data), "--json", str(out), *args, timeout=900)
    return r.returncode, (json.loads(out.read_text()) if out.exists() else {}), r.stderr


def _check_against_val(rep: dict, val: dict, same_preds: float = SAME_PREDS_PTS,
                       agree: float = AGREE_PTS) -> None:
    ref = rep["reference"]
    assert ref["origin"] == "computed" and ref["images"] == rep["data"]["images"]
    # really trained: well above chance
    assert ref["map50"] > 0.2, ref
    # the runtimes see what PyTorch sees (fp32): no drop
    for be, res in rep["backends"].items():
        assert abs(res["drop_map50_95"]) < 0.1, (be, res["drop_map50_95"])
    # eval's predictions are Ultralytics' predictions ...
    coco = val["coco_on_ultralytics_preds"]["map50_95"]
    assert abs(ref["map50_95"] - coco) * 100 <= same_preds, (ref["map50_95"], coco)
    # ... and the COCO metric agrees with Ultralytics' own AP within the stated tolerance
    assert abs(ref["map50_95"] - val["map50_95"]) * 100 <= agree, (ref["map50_95"], val)


def test_eval_agrees_with_ultralytics_val(trained_yolo, trained_yolo_bundle, synth_data, tmp_path):
    bundle = trained_yolo_bundle.bundle
    # the intact bundle passes a tight gate (the twin of the planted fault below)
    code, rep, err = eval_json(bundle, synth_data, tmp_path, "--max-drop", "0.5",
                               "--junit", str(tmp_path / "e.xml"))
    assert code == 0, err
    assert rep["schema"] == "edgekit.eval/1" and rep["passed"]
    assert set(rep["backends"]) == {"onnxruntime", "openvino"}
    assert set(rep["reference"]["per_class"]) == {"ellipse", "rectangle", "triangle", "cross", "star"}
    # the end-to-end (one-to-one) head: Ultralytics' val with nms=False
    _check_against_val(rep, ultralytics_val(trained_yolo.path, synth_data, "false"))
    assert "<failure" not in (tmp_path / "e.xml").read_text()


def test_default_export_of_a_checkpoint_agrees_with_val(trained_yolo, bundles_root, synth_data,
                                                         tmp_path):
    """The default export of a ``yolo train`` checkpoint follows its saved head, one-to-many
    (raw output, NMS in edgekit's decoding), and so scores what Ultralytics' val scores on
    the checkpoint with one class per box, as its predictor decodes. Its validator's NMS is
    multi-label by default (a box may count for every class above conf), which moves mAP by
    an amount that depends on the checkpoint (0.3 points on one test checkpoint, 0.8 on
    another trained on a different CPU), so that comparison gets a loose bound only."""
    res = build_bundle(bundles_root, str(trained_yolo.path), "intel-cpu-fp32")
    assert res.manifest.head.reason == "the checkpoint's own mode"
    assert res.manifest.output.format == "yolo_raw"
    code, rep, err = eval_json(res.bundle, synth_data, tmp_path, "--backend", "onnxruntime")
    assert code == 0, err
    _check_against_val(rep, ultralytics_val(trained_yolo.path, synth_data, "single"))
    multi = ultralytics_val(trained_yolo.path, synth_data, "default")
    assert abs(rep["reference"]["map50_95"] - multi["map50_95"]) * 100 <= 2.0, multi


def test_eval_rtdetr_agrees_with_val(trained_rtdetr, bundles_root, synth_data, tmp_path):
    res = build_bundle(bundles_root, str(trained_rtdetr.path), "intel-cpu-fp32")
    assert res.manifest.output.format == "rtdetr"
    code, rep, err = eval_json(res.bundle, synth_data, tmp_path, "--backend", "onnxruntime")
    assert code == 0, err
    _check_against_val(rep, ultralytics_val(trained_rtdetr.path, synth_data))


def _shift_boxes(bundle: Path, px: float) -> None:
    """Plant a decoding fault in model.onnx: every output box moved by ``px`` input pixels."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(bundle / "model.onnx"))
    g = model.graph
    for node in g.node:
        node.output[:] = ["output0_unshifted" if o == "output0" else o for o in node.output]
    g.initializer.append(numpy_helper.from_array(
        np.array([px, px, px, px, 0, 0], np.float32), "planted_shift"))
    g.node.append(helper.make_node("Add", ["output0_unshifted", "planted_shift"], ["output0"]))
    onnx.save(model, str(bundle / "model.onnx"))
    rehash(bundle)


def test_shifted_boxes_trip_max_drop(trained_yolo_bundle, synth_data, tmp_path):
    bundle = copy_bundle(trained_yolo_bundle.bundle, tmp_path / "shifted")
    _shift_boxes(bundle, 4.0)
    code, rep, err = eval_json(bundle, synth_data, tmp_path, "--max-drop", "0.5",
                               "--junit", str(tmp_path / "e.xml"))
    assert code == 1, err
    assert "accuracy gate failed" in err and "onnxruntime" in err
    ort, ov = rep["backends"]["onnxruntime"], rep["backends"]["openvino"]
    assert not ort["passed"] and ort["drop_map50_95"] > 2.0, ort["drop_map50_95"]
    assert ov["passed"]  # the OpenVINO IR was not touched
    assert "<failure" in (tmp_path / "e.xml").read_text()


def test_recorded_reference_is_used_without_torch_and_only_on_its_data(
        trained_yolo_bundle, synth_data, tmp_path):
    """The manifest's ``eval_reference`` (what export --data records) stands in for PyTorch;
    a reference from other data is refused, and then the gate cannot run (exit 2)."""
    from edgekit.bundle import load_bundle, write_manifest
    from edgekit.eval.data import load_dataset
    from edgekit.eval.run import compute_reference

    bundle = copy_bundle(trained_yolo_bundle.bundle, tmp_path / "recorded")
    m = load_bundle(bundle).manifest
    ref = compute_reference(m, load_dataset(synth_data, max_images=12))
    write_manifest(bundle, m.replace(eval_reference=ref))
    args = ("--backend", "onnxruntime", "--reference", "recorded", "--max-drop", "0.5")
    code, rep, err = eval_json(bundle, synth_data, tmp_path, "--max-images", "12", *args)
    assert code == 0, err
    assert rep["reference"]["origin"] == "bundle"
    assert abs(rep["backends"]["onnxruntime"]["drop_map50_95"]) < 0.1
    code, rep, err = eval_json(bundle, synth_data, tmp_path, "--max-images", "10", *args)
    assert code == 2 and "other data" in err and "--max-drop needs a reference" in err, err


# --- bad input: one line on stderr, exit 2, naming the file -------------------------------

def _one_line(err: str, *needles: str) -> None:
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("edgekit: error:")]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], (n, lines[0])


@pytest.fixture()
def small_data(tmp_path) -> Path:
    from edgekit.zoo.synth import SynthSpec, make_dataset

    return make_dataset(tmp_path / "data", SynthSpec(n_train=1, n_val=3, seed=5))


def _eval_bad(bundle, data: Path) -> tuple[int, str]:
    r = run_cli("eval", str(bundle), "--data", str(data), "--backend", "onnxruntime",
                "--reference", "none")
    return r.returncode, r.stderr


def test_eval_runs_on_the_small_dataset(yolo_bundle, small_data):
    # the twin of the bad-input tests: the same call on intact data succeeds
    code, err = _eval_bad(yolo_bundle.bundle, small_data)
    assert code == 0, err


def test_malformed_data_yaml(yolo_bundle, small_data):
    small_data.write_text("names: [a, b\ntrain: x\n")
    code, err = _eval_bad(yolo_bundle.bundle, small_data)
    assert code == 2
    _one_line(err, str(small_data), "malformed YAML")


def test_missing_split(yolo_bundle, small_data):
    r = run_cli("eval", str(yolo_bundle.bundle), "--data", str(small_data), "--split", "test",
                "--backend", "onnxruntime", "--reference", "none")
    assert r.returncode == 2
    _one_line(r.stderr, str(small_data), "no 'test' split")


def test_split_folder_missing(yolo_bundle, small_data):
    shutil.rmtree(small_data.parent / "images" / "val")
    code, err = _eval_bad(yolo_bundle.bundle, small_data)
    assert code == 2
    _one_line(err, "images/val", "does not exist")


def test_label_class_out_of_range(yolo_bundle, small_data):
    label = small_data.parent / "labels" / "val" / "val_00001.txt"
    label.write_text(label.read_text() + "7 0.5 0.5 0.1 0.1\n")
    code, err = _eval_bad(yolo_bundle.bundle, small_data)
    assert code == 2
    _one_line(err, str(label), "class 7 is out of range 0..4")


def test_label_not_normalised(yolo_bundle, small_data):
    label = small_data.parent / "labels" / "val" / "val_00002.txt"
    label.write_text("1 40 30 12 10\n")
    code, err = _eval_bad(yolo_bundle.bundle, small_data)
    assert code == 2
    _one_line(err, str(label), "not normalised")


def test_image_that_does_not_decode(yolo_bundle, small_data):
    img = small_data.parent / "images" / "val" / "val_00002.jpg"
    img.write_bytes(b"not a jpeg at all" * 20)
    code, err = _eval_bad(yolo_bundle.bundle, small_data)
    assert code == 2
    _one_line(err, str(img), "cannot decode")


def test_max_drop_without_any_reference(yolo_bundle, small_data):
    r = run_cli("eval", str(yolo_bundle.bundle), "--data", str(small_data), "--backend",
                "onnxruntime", "--reference", "none", "--max-drop", "1")
    assert r.returncode == 2
    _one_line(r.stderr, "--max-drop needs a reference")


def test_eval_on_a_file_not_a_bundle(tmp_path, small_data):
    f = tmp_path / "model.onnx"
    f.write_bytes(b"x")
    r = run_cli("eval", str(f), "--data", str(small_data))
    assert r.returncode == 2
    _one_line(r.stderr, str(f), "bundle directory")
