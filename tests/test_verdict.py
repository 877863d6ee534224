"""The reduced-precision verdict: medians over real images, the residual-stream rule, the
label-free agreement on output0; float profiles keep the per-image rule."""

import json

import numpy as np
import pytest

from edgekit.bundle import Tap
from edgekit.parity.verdict import compare_agreement, compare_backend, compare_output
from edgekit.profiles import load_profile
from edgekit.profiles.schema import Precision, default_tolerance

INT8 = lambda kind: default_tolerance(kind, Precision.int8)  # noqa: E731
FP32 = lambda kind: default_tolerance(kind, Precision.fp32)  # noqa: E731
K = 10  # reference images


def _detections(k=K, n=6, imgsz=160):
    """(k, 1, 300, 6) yolo_end2end output: ``n`` well separated confident boxes per image."""
    out = np.zeros((k, 1, 300, 6), np.float32)
    for i in range(n):
        out[:, 0, i] = [5 + 25 * i, 10, 25 + 25 * i, 40 + 3 * i, 0.9 - 0.04 * i, i % 3]
    return out


def _site(seed=0, k=K, stream_scale=1.0):
    rng = np.random.default_rng(seed)
    site = rng.standard_normal((k, 1, 16, 20)).astype(np.float32)
    stream = stream_scale * rng.standard_normal((k, 1, 16, 20)).astype(np.float32)
    return site, stream


def _tap(name="a", gi=5):
    return Tap(name=name, kind="psa_attn", cls="Attention", tensor=f"t.{name}", port="out",
               inputs=[f"in.{name}"], shape=[1, 16, 20], input_refs=[f"{name}.in"],
               graph_index=gi)


def _compare(taps, sites, gots, tol=INT8, real=None, out=None):
    ref = {"output0": _detections(), "inputs": np.zeros((K, 1, 3, 4, 4), np.float32)}
    got = {"output0": _detections() if out is None else out}
    for tap, (site, stream), o in zip(taps, sites, gots):
        ref[tap.name], ref[tap.name + ".in"] = site, stream
        got[tap.tensor] = o
    return compare_backend("b", "a", taps=taps, ref=ref, got=got, tolerance=tol,
                           output_format="yolo_end2end", imgsz=160, real=real)


def _noisy(site, rel, seed=1):
    """``site`` plus noise of ``rel`` times its norm, image by image."""
    rng = np.random.default_rng(seed)
    n = rng.standard_normal(site.shape).astype(np.float32)
    for k in range(len(site)):
        n[k] *= rel * np.linalg.norm(site[k]) / np.linalg.norm(n[k])
    return site + n


def test_median_rule_passes_a_site_with_one_bad_image_and_fails_one_bad_on_most():
    site, stream = _site()
    got = _noisy(site, 0.02)  # 34 dB
    got[3] = -site[3]  # one image far off: cosine -1
    res = _compare([_tap()], [(site, stream)], [got])
    layer = res.layers[0]
    assert res.passed and res.verdict == "median" and layer.metrics["sqnr_db_median"] > 30
    assert layer.metrics["cosine"] < -0.99  # the worst image is still reported
    # the per-image rule (today's) fails the same site on that one image
    per_image = lambda kind: INT8(kind).model_copy(update={"verdict": "per_image"})  # noqa: E731
    old = _compare([_tap()], [(site, stream)], [got], tol=per_image)
    assert not old.passed and old.first_divergent == "a"
    # twin: bad on 6 of 10 images, the median fails and names the site and the rule
    bad = got.copy()
    bad[:6] = _noisy(site[:6], 1.0)  # 0 dB
    res = _compare([_tap()], [(site, stream)], [bad])
    assert not res.passed and res.first_divergent == "a"
    assert "min_median_sqnr_db" in res.layers[0].failed_rules
    assert "median SQNR" in res.layers[0].reasons[0]


def test_the_stream_rule_fails_an_error_large_against_the_residual_stream():
    site, _ = _site()
    got = _noisy(site, 0.1)  # 20 dB: passes the SQNR rule
    big = 10 * _site(seed=3)[0]  # x large next to the site: its error is small there
    res = _compare([_tap()], [(site, big)], [got])
    assert res.passed and res.layers[0].metrics["stream_rel_median"] < 0.02
    # twin: x cancels most of the site (x + site(x) small): the same error is large there
    res = _compare([_tap()], [(site, -0.95 * site)], [got])
    assert not res.passed and res.layers[0].failed_rules == ["max_median_stream_rel"]


def test_the_first_failing_site_in_graph_order_is_named():
    (s1, x1), (s2, x2) = _site(0), _site(1)
    taps = [_tap("late", gi=40), _tap("early", gi=7)]  # listed out of graph order
    res = _compare(taps, [(s1, x1), (s2, x2)], [_noisy(s1, 1.0), _noisy(s2, 1.0)])
    assert not res.passed and res.first_divergent == "early"
    # twin: only the later one bad, it is named
    res = _compare(taps, [(s1, x1), (s2, x2)], [_noisy(s1, 1.0), _noisy(s2, 0.01)])
    assert res.first_divergent == "late"


def test_noise_inputs_are_left_out_of_the_median():
    site, stream = _site()
    got = _noisy(site, 0.01)
    got[:6] = -site[:6]  # bad on the six noise inputs only
    real = [False] * 6 + [True] * 4
    assert _compare([_tap()], [(site, stream)], [got], real=real).passed
    # twin: counted as images, they carry the median and fail it
    assert not _compare([_tap()], [(site, stream)], [got]).passed


def test_a_non_finite_value_on_one_image_fails_the_median_rule():
    site, stream = _site()
    got = _noisy(site, 0.01)
    assert _compare([_tap()], [(site, stream)], [got]).passed
    got[2].flat[5] = np.nan
    res = _compare([_tap()], [(site, stream)], [got])
    assert not res.passed and res.layers[0].failed_rules == ["non_finite"]


def test_agreement_passes_identical_and_rounding_level_detections_and_fails_moved_ones():
    ref = _detections()
    same = compare_agreement(ref, ref.copy(), "yolo_end2end", 160, INT8("output"), 0.25)
    assert same["status"] == "pass" and same["agreement_drop"] == pytest.approx(0, abs=1e-6)
    assert same["labels"] == 6 * K
    # every score lower by 0.18 and boxes off by half a pixel: the ranking and places hold,
    # so the agreement keeps; the per-detection rule fails it on the score difference
    soft = ref.copy()
    soft[..., 4] *= 0.8
    soft[..., :4] += 0.5
    assert compare_agreement(ref, soft, "yolo_end2end", 160, INT8("output"),
                             0.25)["status"] == "pass"
    assert compare_output(ref, soft, "yolo_end2end", 160, INT8("output"), 0.25)["status"] == "fail"
    # twins: boxes moved by 12 px, or half the detections dropped, fail
    moved = ref.copy()
    moved[..., :4] += 12
    res = compare_agreement(ref, moved, "yolo_end2end", 160, INT8("output"), 0.25)
    assert res["status"] == "fail" and res["failed_rules"] == ["max_agreement_drop"]
    dropped = ref.copy()
    dropped[:, :, :4, 4] = 0.0
    res = compare_agreement(ref, dropped, "yolo_end2end", 160, INT8("output"), 0.25)
    assert res["status"] == "fail" and res["agreement_drop"] > 50


def test_agreement_names_output0_when_only_the_output_fails():
    site, stream = _site()
    out = _detections()
    out[..., :4] += 12
    res = _compare([_tap()], [(site, stream)], [_noisy(site, 0.01)], out=out)
    assert not res.passed and res.first_divergent == "output0"
    assert res.layers[0].passed


def test_agreement_without_any_reference_detection_is_not_compared():
    empty = np.zeros((2, 1, 300, 6), np.float32)
    res = compare_agreement(empty, empty.copy(), "yolo_end2end", 160, INT8("output"), 0.25)
    assert res["status"] == "not_compared" and not res["passed"]
    # twin: one detection is enough to compare
    one = empty.copy()
    one[:, 0, 0] = [10, 10, 50, 50, 0.9, 0]
    assert compare_agreement(one, one.copy(), "yolo_end2end", 160, INT8("output"),
                             0.25)["status"] == "pass"


def test_fp32_keeps_the_per_image_rule():
    site, stream = _site()
    got = site.copy()
    got[3] = -site[3]
    res = _compare([_tap()], [(site, stream)], [got], tol=FP32)
    assert res.verdict == "per_image" and not res.passed and res.first_divergent == "a"
    assert res.layers[0].failed_rules == ["per_image"]
    # twin: the same site under the INT8 profile's verdict passes on its median
    assert _compare([_tap()], [(site, stream)], [got]).passed


def test_profile_tolerances_without_verdict_fields_get_the_precision_defaults(tmp_path):
    # the shipped INT8 profile lists tolerances written before the verdict fields
    t = load_profile("intel-cpu-int8").tolerance("default")
    assert t.verdict == "median" and t.min_median_sqnr_db == 13.0
    assert t.max_median_stream_rel == 0.19
    assert load_profile("intel-cpu-int8").tolerance("output").max_agreement_drop == 29.0
    assert load_profile("intel-cpu-fp32").tolerance("default").verdict == "per_image"
    # twin: a profile that sets them keeps its own
    p = tmp_path / "p.yaml"
    p.write_text("runtimes: [openvino]\nprecision: int8\ntolerances:\n  int8:\n    default: "
                 "{verdict: per_image, min_median_sqnr_db: 20}\n")
    t = load_profile(str(p)).tolerance("psa_attn")
    assert t.verdict == "per_image" and t.min_median_sqnr_db == 20


def test_held_out_images_come_from_the_val_split_not_the_samples(synth_data):
    from edgekit.export.pipeline import EXTRA_REFERENCE_IMAGES, held_out_images
    from edgekit.models.preprocess import list_images

    got = held_out_images(str(synth_data), None)
    assert len(got) == EXTRA_REFERENCE_IMAGES
    assert all(p.parent.name == "val" for p in got)
    assert not {p.resolve() for p in got} & {p.resolve() for p in list_images(None)}
    # twin: without --data nothing is added
    assert held_out_images(None, None) == []


def test_a_bundle_without_data_keeps_its_samples_and_noise_input(yolo_bundle):
    labels = json.loads((yolo_bundle.bundle / "manifest.json").read_text())[
        "reference"]["inputs"]
    from edgekit.parity.run import real_samples

    assert real_samples(labels, len(labels)) == [
        not lb.startswith("random(") for lb in labels]
    assert sum(lb.startswith("random(") for lb in labels) == 1
    assert real_samples(labels, len(labels) + 1) is None


@pytest.mark.parametrize("width", [80, 200])
def test_the_table_shows_what_the_median_verdict_decided_on(width):
    import io

    from rich.console import Console
    from test_output import assert_fits

    from edgekit.cli.render.parity import render_parity

    site, stream = _site()
    bad = _noisy(site, 1.0)
    res = _compare([_tap("model.10.m.0.attn")], [(site, stream)], [bad])
    report = {"bundle": "b", "precision": "int8", "backends": {"openvino": res.to_dict()}}
    buf = io.StringIO()
    render_parity(report, Console(file=buf, width=width))
    text = buf.getvalue()
    assert "SQNR dB" in text and "err/stream" in text and "median SQNR" in text
    assert "agreement mAP50-95 100.0" in text
    if width == 80:
        assert_fits(text)
    # twin: a per-image (fp32) report keeps its columns
    res = _compare([_tap("model.10.m.0.attn")], [(site, stream)], [bad], tol=FP32)
    buf = io.StringIO()
    render_parity({"bundle": "b", "precision": "fp32", "backends": {"b": res.to_dict()}},
                 Console(file=buf, width=width))
    assert "SQNR dB" not in buf.getvalue() and "rel L2" in buf.getvalue()


def test_parity_cli_can_judge_a_bundle_by_the_median_rule(yolo_bundle, tmp_path):
    from conftest import run_cli

    out = tmp_path / "p.json"
    args = ["parity", str(yolo_bundle.bundle), "--backend", "onnxruntime", "--verdict", "median"]
    r = run_cli(*args, "--json", str(out))
    assert r.returncode == 0, r.stderr
    be = json.loads(out.read_text())["backends"]["onnxruntime"]
    assert be["verdict"] == "median" and be["outputs"]["output0"]["check"] == "agreement"
    # twin: a floor no fp32 build reaches fails, naming the first site and the rule
    r = run_cli(*args, "--min-median-sqnr-db", "400", "--json", str(out))
    assert r.returncode == 1 and "model.10.m.0.attn" in r.stderr
    be = json.loads(out.read_text())["backends"]["onnxruntime"]
    assert be["first_divergent"] == "model.10.m.0.attn"
    assert be["layers"][0]["failed_rules"] == ["min_median_sqnr_db"]
    r = run_cli(*args[:-1], "worst")
    assert r.returncode == 2 and "--verdict worst" in r.stderr
