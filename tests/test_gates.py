"""Gates fail closed: nothing compared is never a pass; optional reports never change a verdict."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edgekit.parity.verdict import compare_output
from edgekit.profiles.schema import Precision, default_tolerance

from conftest import copy_bundle, rehash, run_cli

FP32 = default_tolerance("output", Precision.fp32)
INT8 = default_tolerance("output", Precision.int8)


def _end2end(n_images=1, n=40, score=2e-4, spread=1e-5, seed=0):
    """(K, 1, 300, 6) yolo_end2end output: ``n`` random boxes with near-equal low scores (what
    random weights give), the rest zero."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n_images, 1, 300, 6), np.float32)
    xy = rng.uniform(0, 120, (n_images, 1, n, 2))
    out[..., :n, 0:2] = xy
    out[..., :n, 2:4] = xy + rng.uniform(10, 40, (n_images, 1, n, 2))
    out[..., :n, 4] = score + spread * rng.permutation(n)[None, None] / n
    out[..., :n, 5] = rng.integers(0, 3, (n_images, 1, n))
    return out


def _moved(out, px=1000.0):
    o = out.copy()
    o[..., :4] += px
    return o


@pytest.mark.parametrize("tol", [FP32, INT8], ids=["fp32", "int8"])
def test_scores_all_inside_the_band_and_nothing_found_is_not_compared(tol):
    ref = _end2end(n_images=2)
    res = compare_output(ref, _moved(ref), "yolo_end2end", 160, tol, 0.25, random_weights=True)
    assert res["status"] == "not_compared" and res["passed"] is False
    d = res["detections"]
    assert d["matched"] == 0 and d["missing"] == 0 and d["undecided"] > 0
    assert "not compared" in res["reasons"][0]
    # twin: the same reference against itself is compared, and passes
    same = compare_output(ref, ref.copy(), "yolo_end2end", 160, tol, 0.25, random_weights=True)
    assert same["status"] == "pass" and same["passed"] and same["detections"]["matched"] > 0


def test_the_best_detections_rule_is_for_random_weights_only():
    """A random-weight model scores nothing over the threshold; its gate compares its best
    detections, named by the caller. A trained model's gate compares at the threshold only."""
    ref = _end2end()
    rw = compare_output(ref, ref.copy(), "yolo_end2end", 160, FP32, 0.25, random_weights=True)
    assert rw["status"] == "pass" and rw["detections"]["matched"] == 20
    trained = compare_output(ref, ref.copy(), "yolo_end2end", 160, FP32, 0.25)
    assert trained["status"] == "not_compared" and trained["detections"]["matched"] == 0
    # twin: a trained output with confident detections is compared at the threshold
    ref[..., :5, 4] = 0.9
    trained = compare_output(ref, ref.copy(), "yolo_end2end", 160, FP32, 0.25)
    assert trained["status"] == "pass" and trained["detections"]["matched"] == 5


def test_tied_top_scores_or_no_detections_are_not_compared():
    tied = _end2end(spread=0.0)
    res = compare_output(tied, tied.copy(), "yolo_end2end", 160, FP32, 0.25, random_weights=True)
    assert res["status"] == "not_compared" and res["ambiguous_images"] == 1
    empty = np.zeros((1, 1, 300, 6), np.float32)
    res = compare_output(empty, empty.copy(), "yolo_end2end", 160, FP32, 0.25, random_weights=True)
    assert res["status"] == "not_compared" and not res["passed"]


def test_rtdetr_a_different_query_set_fails_output0_even_when_detections_match():
    ref = _end2end()
    ref[..., :4] = np.clip(ref[..., :4] / 160.0, 0, 1)  # rtdetr: normalised cx, cy, w, h
    differ = [np.full(100, -1)]
    res = compare_output(ref, ref.copy(), "rtdetr", 160, FP32, 0.25, differ, random_weights=True)
    assert res["detections"]["matched"] > 0
    assert res["status"] == "fail" and "different query set" in " ".join(res["reasons"])
    # twin: the same queries (in another order) let the matched detections pass
    same = compare_output(ref, ref.copy(), "rtdetr", 160, FP32, 0.25, [np.arange(100)[::-1]],
                          random_weights=True)
    assert same["status"] == "pass"


def _plant_uncomparable_output(bundle):
    """Move every reference box: the runtime's detections are then all 'elsewhere', and with
    random weights every reference score sits in the don't-care band."""
    ref = dict(np.load(bundle / "reference.npz"))
    ref["output0"] = _moved(ref["output0"])
    np.savez(bundle / "reference.npz", **ref)
    rehash(bundle)


def test_parity_cli_output0_not_compared_fails_the_gate(yolo_bundle, tmp_path):
    b = copy_bundle(yolo_bundle.bundle, tmp_path / "b")
    args = ["parity", str(b), "--backend", "onnxruntime"]
    ok = run_cli(*args)  # twin: the untouched copy passes
    assert ok.returncode == 0, ok.stderr
    _plant_uncomparable_output(b)
    out, junit = tmp_path / "p.json", tmp_path / "j.xml"
    r = run_cli(*args, "--json", str(out), "--junit", str(junit))
    assert r.returncode == 1, r.stderr
    assert "not compared" in r.stderr and "Traceback" not in r.stderr
    rep = json.loads(out.read_text())
    be = rep["backends"]["onnxruntime"]
    assert rep["passed"] is False and rep["status"] == "not_compared"
    assert be["status"] == "not_compared" and be["first_divergent"] is None
    assert all(layer["passed"] for layer in be["layers"])  # the sites themselves are fine
    assert be["outputs"]["output0"]["status"] == "not_compared"
    case = next(c for c in ET.parse(junit).getroot().iter("testcase") if c.get("name") == "output0")
    assert case.find("failure").get("type") == "not_compared"


def test_onnx_self_check_never_passes_on_nothing_compared(yolo_bundle, tmp_path, caplog):
    import logging
    import shutil

    from edgekit.export.check import check_onnx_outputs

    caplog.set_level(logging.INFO, logger="edgekit")
    shutil.copy(yolo_bundle.bundle / "model.onnx", tmp_path / "model.onnx")
    m = yolo_bundle.manifest
    ref = dict(np.load(yolo_bundle.bundle / "reference.npz"))
    check = check_onnx_outputs(tmp_path, m, ref, m.profile)
    assert check["status"] == "pass" and "matches PyTorch" in caplog.messages[-1]
    ref["output0"] = _moved(ref["output0"])
    check = check_onnx_outputs(tmp_path, m, ref, m.profile)
    assert check["status"] == "not_compared" and not check["passed"]
    assert "matches" not in caplog.messages[-1] and "not compared" in caplog.messages[-1]


def test_unwritable_step_summary_warns_and_keeps_the_gate_exit_code(yolo_bundle, tmp_path):
    bad = {"GITHUB_STEP_SUMMARY": str(tmp_path / "missing-dir" / "summary.md")}
    args = ["parity", str(yolo_bundle.bundle), "--backend", "onnxruntime"]
    r = run_cli(*args, env=bad)
    assert r.returncode == 0 and "GITHUB_STEP_SUMMARY" in r.stderr and "warning" in r.stderr
    r = run_cli(*args, "--max-rel-l2", "1e-12", env=bad)
    assert r.returncode == 1 and "GITHUB_STEP_SUMMARY" in r.stderr
    # twin: a writable summary gets a section naming the bundle and the backend
    good = tmp_path / "summary.md"
    assert run_cli(*args, env={"GITHUB_STEP_SUMMARY": str(good)}).returncode == 0
    head = good.read_text().splitlines()[0]
    assert yolo_bundle.bundle.name in head and "onnxruntime" in head


BENCH = ["--backend", "onnxruntime", "--iters", "3", "--warmup", "1", "--model-only"]


@pytest.fixture(scope="module")
def bench_report(yolo_bundle, tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "base.json"
    r = run_cli("bench", str(yolo_bundle.bundle), *BENCH, "--json", str(path))
    assert r.returncode == 0, r.stderr
    return path


def test_baseline_that_is_not_a_bench_report_is_refused(yolo_bundle, bench_report, tmp_path):
    empty = tmp_path / "empty.json"
    empty.write_text("{}")
    for bad, what in ((empty, "schema missing"),
                      (yolo_bundle.bundle / "parity.json", "edgekit.parity/1")):
        r = run_cli("bench", str(yolo_bundle.bundle), *BENCH, "--baseline", str(bad))
        assert r.returncode == 2, r.stderr
        assert str(bad) in r.stderr and what in r.stderr and "Traceback" not in r.stderr
    # twin: a real report is accepted and compared
    r = run_cli("bench", str(yolo_bundle.bundle), *BENCH, "--baseline", str(bench_report),
                "--max-regression", "1000")
    assert r.returncode == 0, r.stderr
    assert "vs baseline" in r.stderr


def test_baseline_without_the_backend_or_stage_is_refused(yolo_bundle, bench_report, tmp_path):
    rep = json.loads(bench_report.read_text())
    other = tmp_path / "ov.json"
    other.write_text(json.dumps({**rep, "backends": {"openvino": rep["backends"]["onnxruntime"]}}))
    r = run_cli("bench", str(yolo_bundle.bundle), *BENCH, "--baseline", str(other))
    assert r.returncode == 2 and str(other) in r.stderr and "onnxruntime" in r.stderr
    e2e = tmp_path / "e2e.json"
    be = dict(rep["backends"]["onnxruntime"])
    be["end_to_end"] = be.pop("model_only")
    e2e.write_text(json.dumps({**rep, "backends": {"onnxruntime": be}}))
    r = run_cli("bench", str(yolo_bundle.bundle), *BENCH, "--baseline", str(e2e))
    assert r.returncode == 2 and "nothing to compare" in r.stderr and "model-only" in r.stderr


def test_bench_compare_refuses_json_that_is_not_a_bench_report(yolo_bundle, bench_report):
    parity = yolo_bundle.bundle / "parity.json"
    r = run_cli("bench", "compare", str(bench_report), str(parity))
    assert r.returncode == 2 and str(parity) in r.stderr and "not an edgekit bench" in r.stderr
    r = run_cli("bench", "compare", str(bench_report), str(bench_report))  # twin
    assert r.returncode == 0 and "1.00×" in r.stderr


def test_bench_step_summary_names_the_bundle_and_survives_an_unwritable_file(
        yolo_bundle, tmp_path):
    good = tmp_path / "summary.md"
    r = run_cli("bench", str(yolo_bundle.bundle), *BENCH, env={"GITHUB_STEP_SUMMARY": str(good)})
    assert r.returncode == 0
    head = good.read_text().splitlines()[0]
    assert "edgekit bench" in head and yolo_bundle.bundle.name in head and "onnxruntime" in head
    bad = {"GITHUB_STEP_SUMMARY": str(tmp_path / "no" / "s.md")}
    r = run_cli("bench", str(yolo_bundle.bundle), *BENCH, "--budget-ms", "0.001", env=bad)
    assert r.returncode == 1 and "GITHUB_STEP_SUMMARY" in r.stderr
