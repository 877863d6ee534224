"""Parity: passes on a faithful export, and fails, naming the site, on a planted fault."""

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from edgekit.bundle import Tap, load_bundle
from edgekit.parity.run import load_reference, run_parity
from edgekit.runtimes import FunctionRunner, get_runner

from conftest import copy_bundle, run_cli
from faults import perturb_site_weights


def _profile(bundle):
    return bundle.manifest.profile


def test_faithful_exports_pass_on_both_runtimes(yolo_bundle, rtdetr_bundle):
    for res in (yolo_bundle, rtdetr_bundle):
        rep = res.parity
        assert rep["passed"], rep
        assert set(rep["backends"]) == {"openvino", "onnxruntime"}
        for be in rep["backends"].values():
            assert be["first_divergent"] is None
            assert all(layer["status"] == "pass" for layer in be["layers"])
            assert be["outputs"]["output0"]["detections"]["matched"] > 0


@pytest.mark.parametrize("which,site,before", [
    ("yolo", "model.22.m.0.1.attn", ["model.10.m.0.attn"]),
    ("rtdetr", "model.26.decoder.layers.1.self_attn",
     ["model.9", "model.26.decoder.layers.0.self_attn", "model.26.decoder.layers.0.cross_attn"]),
    ("rtdetr", "model.26.decoder.layers.0.cross_attn",
     ["model.9", "model.26.decoder.layers.0.self_attn"]),
])
def test_perturbed_site_is_named_first_divergent(which, site, before, yolo_bundle, rtdetr_bundle,
                                                 tmp_path):
    src = {"yolo": yolo_bundle, "rtdetr": rtdetr_bundle}[which].bundle
    b = copy_bundle(src, tmp_path / "b")
    perturb_site_weights(b, site)
    out = tmp_path / "parity.json"
    junit = tmp_path / "junit.xml"
    summary = tmp_path / "summary.md"
    r = run_cli("parity", str(b), "--json", str(out), "--junit", str(junit),
                env={"GITHUB_STEP_SUMMARY": str(summary)})
    assert r.returncode == 1, r.stderr
    assert site in r.stderr
    rep = json.loads(out.read_text())
    assert rep["passed"] is False
    for be in rep["backends"].values():
        assert be["passed"] is False
        assert be["first_divergent"] == site
        status = {layer["name"]: layer["passed"] for layer in be["layers"]}
        assert all(status[s] for s in before), status
        assert status[site] is False
    cases = ET.parse(junit).getroot().iter("testcase")
    failed = {c.get("name") for c in cases if c.find("failure") is not None}
    assert site in failed and not failed & set(before)
    assert site in summary.read_text()


def _wrap(bundle, mutate):
    """A runner over the real ONNX Runtime whose outputs pass through ``mutate``."""
    taps = [t.tensor for t in bundle.taps]

    def factory(_backend, _tensors):
        real = get_runner("onnxruntime", bundle.path / "model.onnx", extra_outputs=taps)
        real.activate()
        calls = {"k": 0}

        def fn(feed):
            out = real.infer(feed)
            mutate(out, calls["k"])
            calls["k"] += 1
            return out

        r = FunctionRunner(fn, name="onnxruntime")
        r.output_names = real.output_names
        return r

    return factory


def test_a_nan_in_one_tap_fails(yolo_bundle):
    b = load_bundle(yolo_bundle.bundle)
    tensor = b.taps[0].tensor

    def inject(out, k):
        if k == 0:
            out[tensor].flat[7] = np.nan

    rep = run_parity(b, _profile(b), ["onnxruntime"], runner_factory=_wrap(b, inject))
    be = rep["backends"]["onnxruntime"]
    assert not rep["passed"] and be["first_divergent"] == b.taps[0].name
    assert be["layers"][0]["metrics"]["nan"] == 1
    # twin: without the NaN the same path passes
    clean = run_parity(b, _profile(b), ["onnxruntime"], runner_factory=_wrap(b, lambda o, k: None))
    assert clean["passed"]


def _permute_queries(bundle, perm_fn):
    qtaps = [t for t in bundle.taps if t.query_axis is not None]

    def mutate(out, k):
        for t in qtaps:
            arr = out[t.tensor]
            out[t.tensor] = perm_fn(arr, t.query_axis)
        # the final output is top-k over queries x classes: swap two equal-score rows
        o = out["output0"]
        o[:, [0, 1]] = o[:, [1, 0]]

    return mutate


def test_reordered_equal_queries_do_not_fail(rtdetr_bundle):
    b = load_bundle(rtdetr_bundle.bundle)
    rng = np.random.default_rng(0)
    n = b.manifest.taps[-1].shape[b.manifest.taps[-1].query_axis]
    perm = rng.permutation(n)
    rep = run_parity(b, _profile(b), ["onnxruntime"], runner_factory=_wrap(
        b, _permute_queries(b, lambda a, ax: np.take(a, perm, axis=ax))))
    be = rep["backends"]["onnxruntime"]
    assert rep["passed"], [(layer["name"], layer["reasons"]) for layer in be["layers"]]
    assert be["outputs"]["output0"]["query_topk"]["same_set_frac"] == 1.0
    assert be["outputs"]["output0"]["query_topk"]["same_order_frac"] < 0.1


def test_a_different_query_set_is_reported(rtdetr_bundle):
    b = load_bundle(rtdetr_bundle.bundle)

    def replace_half(a, ax):
        a = a.copy()
        n = a.shape[ax]
        idx = [slice(None)] * a.ndim
        idx[ax] = slice(0, n // 2)
        a[tuple(idx)] = np.random.default_rng(1).standard_normal(a[tuple(idx)].shape) * 3
        return a

    rep = run_parity(b, _profile(b), ["onnxruntime"],
                     runner_factory=_wrap(b, _permute_queries(b, replace_half)))
    be = rep["backends"]["onnxruntime"]
    assert not rep["passed"]
    assert be["outputs"]["output0"]["query_topk"]["same_set_frac"] <= 0.55
    assert any("queries differ" in " ".join(layer["reasons"]) for layer in be["layers"])


def test_json_schema_fields(yolo_bundle, tmp_path):
    out = tmp_path / "p.json"
    r = run_cli("parity", str(yolo_bundle.bundle), "--backend", "onnxruntime", "--json", str(out))
    assert r.returncode == 0, r.stderr
    rep = json.loads(out.read_text())
    assert rep["schema"] == "edgekit.parity/1" and rep["passed"] is True
    be = rep["backends"]["onnxruntime"]
    assert {"passed", "first_divergent", "layers", "outputs"} <= set(be)
    layer = be["layers"][0]
    assert {"name", "kind", "passed", "metrics"} <= set(layer)
    assert {"max_abs", "mean_abs", "rel_l2", "cosine", "max_rel", "beyond_tol_frac", "nan",
            "inf"} <= set(layer["metrics"])


def test_tolerance_override_can_fail_a_passing_bundle(yolo_bundle):
    r = run_cli("parity", str(yolo_bundle.bundle), "--backend", "onnxruntime",
                "--max-rel-l2", "1e-12")
    assert r.returncode == 1


def test_stored_reference_matches_a_fresh_torch_reference(yolo_bundle):
    from edgekit.parity.reference import recompute_reference

    b = load_bundle(yolo_bundle.bundle)
    from edgekit.parity.verdict import compare_output
    from edgekit.profiles.schema import Precision, default_tolerance

    fresh = recompute_reference(b, "yolo26n.yaml")
    stored = load_reference(b)
    assert set(fresh) == set(stored)
    for k in stored:
        if k == "output0":  # top-k of near-equal random scores: compare detections
            res = compare_output(stored[k], fresh[k], "yolo_end2end", 160,
                                 default_tolerance("output", Precision.fp32), 0.25,
                                 random_weights=True)
            assert res["passed"], res
        else:
            np.testing.assert_allclose(fresh[k], stored[k], rtol=1e-4, atol=1e-4)


def test_fp16_ir_parity_runs_on_openvino(bundles_root, tmp_path):
    from conftest import build_bundle

    prof = tmp_path / "ov-fp16.yaml"
    prof.write_text("runtimes: [openvino]\nprecision: fp16\n")
    res = build_bundle(bundles_root / "fp16", "yolo26n.yaml", str(prof))
    rep = res.parity
    assert rep["precision"] == "fp16" and set(rep["backends"]) == {"openvino"}
    assert res.manifest.runtime("openvino")["precision"] == "fp16"
    layers = rep["backends"]["openvino"]["layers"]
    assert [la["name"] for la in layers] == ["model.10.m.0.attn", "model.22.m.0.1.attn"]
    assert all(la["metrics"]["cosine"] > 0.99 for la in layers)
    assert all("input_cosine" in la["metrics"] for la in layers)
    # on any CPU (with BF16 too, where OpenVINO's default would be bf16) the math is f32
    assert rep["backends"]["openvino"]["settings"]["inference_precision_hint"] == "f32"


def _synthetic_case():
    """Two taps and a confident yolo_end2end output over three samples, all made up."""
    rng = np.random.default_rng(3)
    inputs = rng.random((3, 1, 3, 32, 32), dtype=np.float32)
    taps = [Tap(name="model.2.attn", kind="psa_attn", cls="Attention", tensor="t_attn",
                port="out", inputs=[], shape=[1, 16, 8], graph_index=0),
            Tap(name="model.4", kind="default", cls="C3k2", tensor="t_block", port="out",
                inputs=[], shape=[1, 8, 4, 4], graph_index=1)]
    out = np.zeros((3, 1, 300, 6), np.float32)
    xy = rng.uniform(0, 100, (3, 1, 8, 2))
    out[..., :8, 0:2], out[..., :8, 2:4] = xy, xy + 20
    out[..., :8, 4] = np.linspace(0.9, 0.5, 8)
    ref = {"inputs": inputs, "output0": out,
           "model.2.attn": rng.standard_normal((3, 1, 16, 8)).astype(np.float32),
           "model.4": rng.standard_normal((3, 1, 8, 4, 4)).astype(np.float32)}
    return taps, ref


@pytest.mark.parametrize("fault", [None, "model.4"])
def test_a_function_runner_drives_the_comparison(fault):
    """A FunctionRunner replaying the reference passes compare_backend; one that perturbs a
    single tap fails, and the report names that tap as the first divergent site."""
    from edgekit.parity.verdict import compare_backend
    from edgekit.profiles.schema import Precision, default_tolerance
    from edgekit.runtimes import run_backend

    taps, ref = _synthetic_case()
    by_tensor = {t.tensor: t.name for t in taps}
    calls = iter(range(3))

    def replay(feed):
        k = next(calls)
        np.testing.assert_array_equal(feed["images"], ref["inputs"][k])
        out = {"output0": ref["output0"][k]}
        for tensor, name in by_tensor.items():
            x = ref[name][k].copy()
            if name == fault:
                x[..., 0] += 5.0 * np.abs(x).max()
            out[tensor] = x
        return out

    runner = FunctionRunner(replay, name="synthetic")
    runner.output_names = ["output0", *by_tensor]
    got = run_backend(runner, ref["inputs"], list(by_tensor))
    res = compare_backend("synthetic", "-", taps=taps, ref=ref, got=got,
                          tolerance=lambda kind: default_tolerance(kind, Precision.fp32),
                          output_format="yolo_end2end", imgsz=32)
    status = {la.name: la.status for la in res.layers}
    if fault is None:
        assert res.passed and res.status == "pass" and res.first_divergent is None
        assert status == {"model.2.attn": "pass", "model.4": "pass"}
        assert res.outputs["output0"]["detections"]["matched"] == 24
    else:
        assert not res.passed and res.first_divergent == fault
        assert status == {"model.2.attn": "pass", "model.4": "fail"}
