"""edgekit tune: a bounded, seeded search over per-site float scopes, written to a profile."""

import json

import pytest

from edgekit.bundle import load_bundle
from edgekit.profiles import load_profile
from edgekit.tune import tune

from conftest import run_cli


@pytest.fixture(scope="module")
def loose_report(yolo_bundle, tmp_path_factory):
    # tolerances every build meets: the search stops at once and picks the fastest
    prof = load_profile("intel-cpu-int8", {"calibration.count": 4})
    out = tmp_path_factory.mktemp("tune")
    return tune(yolo_bundle.bundle, prof, out, iters=5, warmup=1,
                tol_overrides={"min_cosine": -1.0, "max_rel_l2": 1e9, "atol": 1e9,
                               "max_violation_frac": 1.0, "min_median_sqnr_db": -1e9,
                               "max_median_stream_rel": 1e9, "max_agreement_drop": 100.0})


def test_loose_tolerances_choose_a_passing_config_and_write_profile_and_bundle(loose_report):
    rep = loose_report
    assert rep["candidates"][0]["label"] == "full int8"
    assert rep["passed"] and rep["chosen"] in [c["label"] for c in rep["candidates"]]
    chosen = next(c for c in rep["candidates"] if c["label"] == rep["chosen"])
    # the rule: the most faithful (worst-site SQNR), then the smallest float scope, among the
    # passing ones within NEAR_TIE of the fastest
    from edgekit.tune import NEAR_TIE

    passing = [c for c in rep["candidates"] if c["passed"]]
    fastest = min(c["p50_ms"] for c in passing)
    near = [c for c in passing if c["p50_ms"] <= fastest * (1 + NEAR_TIE)]

    def size(c):  # the ONNX nodes kept float (a float build: all of them)
        return c["float_nodes"]

    def faithful(c):
        m = c["worst_metric"] or {}
        return (1, m["value"]) if "SQNR" in m.get("name", "") else (0, c["worst_cosine"] or -2)

    best = max(faithful(c) for c in near)
    assert chosen in near and faithful(chosen) == best
    assert size(chosen) == min(size(c) for c in near if faithful(c) == best)
    prof = load_profile(rep["outputs"]["profile"])
    assert prof.precision.value == chosen["precision"]  # int8, or the float build at bf16
    assert prof.float_precision == chosen["float_precision"]
    assert prof.calibration.float_sites == chosen["float_sites"]
    # the tuned profile judges its bundle as the search judged the chosen build
    assert prof.tolerance("psa_attn").max_agreement_drop == 100.0
    assert prof.tolerance("output").min_median_sqnr_db == -1e9
    assert rep["tolerance_overrides"]["max_median_stream_rel"] == 1e9
    b = load_bundle(rep["outputs"]["bundle"])  # hashes verified
    assert (b.path / "tune.json").is_file() and (b.path / "openvino" / "model.xml").is_file()
    assert all(c["speedup"] > 0 for c in rep["candidates"])


def test_search_follows_the_error_to_its_source(yolo_bundle, tmp_path):
    """With the real int8 tolerances, random weights drift. The first failing site's input
    cosine decides the next step: an inherited error widens the float scope upstream (whole
    blocks), an introduced one keeps the site's softmax, then the whole site, in float."""
    r = run_cli("tune", str(yolo_bundle.bundle), "--out", str(tmp_path), "--iters", "5",
                "--json", str(tmp_path / "t.json"), "--time-limit", "150")
    rep = json.loads((tmp_path / "t.json").read_text())
    cands = rep["candidates"]
    labels = [c["label"] for c in cands]
    assert labels[:2] == ["full int8", "profile default scope"]
    first = cands[0]
    # the premise, asserted: full int8 fails at a site, so the search takes a third step
    site = next((s for s in first["failing"] if s != "output0"), None)
    assert site is not None and len(cands) > 2, (first["failing"], labels)
    if first["input_cosine"][site] < 0.99:
        assert labels[2].endswith(f"(upstream of {site})")
        assert len(cands[2]["float_blocks"]) == 1
    else:
        assert labels[2] == f"+ {site}: softmax"
    assert r.returncode == (0 if rep["passed"] else 1)
    assert (tmp_path / (rep["profile"] + "-tuned-" + yolo_bundle.bundle.name + ".yaml")).is_file()
    timed = [c for c in cands if c["remeasured"]]
    assert rep["side_by_side"] and cands[0] in timed
    assert rep["fp32"]["remeasured"] and set(rep["side_by_side"]) >= {c["label"] for c in timed}


def test_upstream_widening_picks_the_block_that_adds_most_error_before_the_site(
        yolo_bundle, tmp_path):
    from edgekit.tune import Candidate, Tuner

    prof = load_profile("intel-cpu-int8", {"imgsz": yolo_bundle.manifest.input.imgsz,
                                           "calibration.count": 2})
    t = Tuner(load_bundle(yolo_bundle.bundle), prof, tmp_path, "onnxruntime", iters=5,
              warmup=1, threads=None, tol_overrides=None)
    c = Candidate("x", [], {}, block_error={"model.9": 0.5, "model.8": 0.1, "model.7": 0.1,
                                            "model.22": 0.9, "model.10": 0.05})
    site = "model.10.m.0.attn"
    # model.22 adds more error but lies downstream of the site; ties go to the nearer block
    assert t.upstream_blocks(c, site, [], 1) == ["model.9"]
    assert t.upstream_blocks(c, site, [], 3) == ["model.9", "model.8", "model.7"]
    assert t.upstream_blocks(c, site, ["model.9"], 1) == ["model.8"]
    assert t.upstream_blocks(c, "model.22.m.0.1.attn", [], 1) == ["model.22"]
    # the head hands its outputs to no other block, so no added error ranks it: once every
    # block upstream of the output is float, the output's own block is next, then nothing
    upstream = [b for b in t.blocks if b != "model.23"]
    c.block_error = dict.fromkeys(upstream, 0.1)
    assert not t.bounds["model.23"]["outputs"]
    assert "model.23" not in t.upstream_blocks(c, "output0", [], 99)
    assert t.upstream_blocks(c, "output0", upstream, 2) == ["model.23"]
    assert t.upstream_blocks(c, "output0", list(t.blocks), 1) == []
    # a site with nothing measured upstream: the block that writes it
    c.block_error = {}
    assert t.upstream_blocks(c, site, [], 1) == ["model.10"]
    assert t.upstream_blocks(c, site, ["model.10"], 1) == []
    c.input_cosine = {site: 0.95}
    assert t.inherited(c, site, "psa_attn")
    c.input_cosine = {site: 0.999}
    assert not t.inherited(c, site, "psa_attn")


def test_float_blocks_extend_the_scope_and_unknown_blocks_are_refused(yolo_bundle):
    import onnx

    from edgekit.errors import UsageError
    from edgekit.scope import FloatScope, select

    deployed = onnx.load(str(yolo_bundle.bundle / "model.onnx"))
    taps = yolo_bundle.manifest.taps
    nodes = select(deployed, taps, FloatScope(blocks=("model.9",))).nodes
    assert nodes and all("/model.9/" in n for n in nodes)
    assert not select(deployed, taps, FloatScope()).nodes
    with pytest.raises(UsageError, match="model.77"):
        select(deployed, taps, FloatScope(blocks=("model.77",)))
    # the levels of a site bisect its region: softmax < attention core < all of it
    site = "model.10.m.0.attn"
    lv = {k: set(select(deployed, taps, FloatScope(sites={site: k})).nodes)
          for k in ("softmax", "core", "all")}
    assert lv["softmax"] < lv["core"] < lv["all"]
    types = {n.name: n.op_type for n in deployed.graph.node}
    assert {types[n] for n in lv["core"]} == {"Softmax", "MatMul"}


def test_onnxruntime_backend_tunes_and_writes_an_int8_onnx_bundle(yolo_bundle, tmp_path):
    prof = load_profile("onnx-int8", {"calibration.count": 2})
    rep = tune(yolo_bundle.bundle, prof, tmp_path, iters=5, warmup=1,
               time_limit_s=60, tol_overrides={"min_cosine": -1.0, "max_rel_l2": 1e9,
                                               "atol": 1e9, "max_violation_frac": 1.0,
                                               "min_median_sqnr_db": -1e9,
                                               "max_median_stream_rel": 1e9})
    assert rep["backend"] == "onnxruntime"
    # even these tolerances do not make a pass of an output that shares no detection with
    # the reference (random weights, 2 calibration images): that is output0 not compared
    chosen = next(c for c in rep["candidates"] if c["label"] == rep["chosen"])
    assert rep["passed"] == (not chosen["failing"])
    assert set(chosen["failing"]) <= {"output0"}  # every attention site passes
    b = load_bundle(rep["outputs"]["bundle"])
    assert b.artifact("onnxruntime") == b.path / "onnxruntime" / "model.int8.onnx"
    assert b.artifact("onnxruntime").is_file() and not (b.path / "openvino").exists()
    assert load_profile(rep["outputs"]["profile"]).runtimes[0] == "onnxruntime"


def test_rtdetr_reports_what_quantizing_the_decoder_does(rtdetr_bundle, tmp_path):
    """RT-DETR: the default scope (decoder float), the decoder quantized, and the decoder
    alone quantized (everything upstream float, so the decoder sites show its own INT8
    error) are measured in the same run, with a decoder-site column in the table."""
    import io

    from rich.console import Console

    from edgekit.cli.render.tune import decoder_worst
    from edgekit.cli.render.tune import render_tune as render

    prof = load_profile("intel-cpu-int8", {"calibration.count": 2})
    rep = tune(rtdetr_bundle.bundle, prof, tmp_path, iters=5, warmup=1,
               time_limit_s=1)
    by = {c["label"]: c for c in rep["candidates"]}
    assert {"full int8", "profile default scope", "default, decoder quantized",
            "only the decoder quantized"} <= set(by)
    assert rep["decoder_sites"] and all(".decoder." in s for s in rep["decoder_sites"])
    alone = by["only the decoder quantized"]
    decoder_block = rep["decoder_sites"][0].split(".decoder")[0]  # model.N of the head
    assert alone["float_blocks"] and decoder_block not in alone["float_blocks"]
    assert "model.0" in alone["float_blocks"]
    assert "decoder" in by["profile default scope"]["float_scope"]
    assert "decoder" not in by["default, decoder quantized"]["float_scope"]
    for label in ("profile default scope", "default, decoder quantized",
                  "only the decoder quantized"):
        assert decoder_worst(by[label], rep["decoder_sites"]) is not None
        assert by[label]["remeasured"]
    buf = io.StringIO()
    render(rep, Console(file=buf, width=250))
    assert "decoder worst cos" in buf.getvalue() and "only the decoder quantized" in buf.getvalue()


#: the mAP drop tune keeps a build under, in this test. It checks the mechanism (a build is
#: kept iff parity passes and its drop is within the bound), and that some build of a
#: trained checkpoint is kept. On 24 images an INT8 build's drop depends on the checkpoint,
#: which differs by the CPU it was trained on (1.27 points for yolo26n-test's INT8 on an AMD
#: EPYC, benchmarks/results/int8_vs_ultralytics.md), and a CPU without bf16 has no float
#: build at bf16 among the candidates; 3 points is where the verdict study calls a build harmful, and the
#: planted 5-point loss below still fails at 1 point.
DATA_MAX_DROP = 3.0


@pytest.fixture(scope="module")
def data_report(trained_yolo_data_bundle, synth_data, tmp_path_factory):
    """tune on the trained yolo26n, keeping scopes by their mAP drop on 24 val images."""
    prof = load_profile("intel-cpu-int8", {"calibration.count": 8})
    return tune(trained_yolo_data_bundle.bundle, prof, tmp_path_factory.mktemp("tune-data"), iters=5,
                warmup=1, time_limit_s=90, data=synth_data, max_images=24,
                max_drop=DATA_MAX_DROP)


def test_with_data_a_scope_is_kept_by_its_map_drop(data_report):
    rep = data_report
    acc = rep["accuracy"]
    # really trained: the recipe reaches about 27 points (a random-weight model scores ~0)
    assert acc["images"] == 24 and acc["max_drop"] == DATA_MAX_DROP and acc["fp32_map50_95"] > 10
    assert rep["fp32"]["map50_95"] == acc["fp32_map50_95"]
    for c in rep["candidates"]:
        assert c["map_drop"] is not None and c["map50_95"] is not None
        assert c["passed"] == (c["map_drop"] <= DATA_MAX_DROP and c["parity_passed"]), c["label"]
        assert c["worst_site"] and c["worst_metric"]["name"], c["label"]
        assert c["p50_ms"] > 0 and c["p99_ms"] >= c["p50_ms"] and c["remeasured"]
    chosen = next(c for c in rep["candidates"] if c["label"] == rep["chosen"])
    assert rep["passed"] == chosen["passed"] == any(c["passed"] for c in rep["candidates"])
    assert rep["passed"], "the trained checkpoint keeps its mAP and parity in some build"
    prof = load_profile(rep["outputs"]["profile"])
    assert prof.precision.value == chosen["precision"]
    assert prof.float_precision == chosen["float_precision"]
    assert rep["chosen"] in prof.description and "mAP50-95 drop" in prof.description
    if chosen["precision"] == "int8":
        assert "kept float" in prof.description and "plain client" in prof.description


def test_with_bf16_every_candidate_is_priced_over_f32_and_bf16(data_report):
    from edgekit.precision import cpu_support

    rep = data_report
    if not cpu_support()["bf16"]:
        assert rep["bf16"] is None
        assert all(c["speedup_bf16"] is None for c in rep["candidates"])
        pytest.skip("this CPU has no bf16: tune prices over f32 only (checked)")
    bf16 = next(c for c in rep["candidates"] if c["label"] == rep["bf16"])
    assert bf16["precision"] == "fp32" and bf16["float_precision"] == "bf16"
    assert bf16["speedup_bf16"] == pytest.approx(1.0)
    assert all(c["speedup_bf16"] and c["speedup"] for c in rep["candidates"])
    assert rep["side_by_side"][rep["bf16"]]["p50"] == bf16["p50_ms"]
    # the best kept INT8 scope is tried with its float parts at bf16 too
    if any(c["passed"] and c["precision"] == "int8" for c in rep["candidates"]):
        assert any(c["precision"] == "int8" and c["float_precision"] == "bf16"
                   for c in rep["candidates"])


def test_a_planted_accuracy_loss_is_not_kept(trained_yolo_data_bundle, synth_data, tmp_path,
                                             monkeypatch):
    """The twin: every INT8 build made to lose 5 points is refused, whatever its parity."""
    from edgekit.tune import Tuner

    real = Tuner.accuracy

    def lossy(self, c):
        m = real(self, c)
        return None if m is None else (m - 5.0 if c.precision == "int8" else m)

    monkeypatch.setattr(Tuner, "accuracy", lossy)
    prof = load_profile("intel-cpu-int8", {"calibration.count": 4})
    rep = tune(trained_yolo_data_bundle.bundle, prof, tmp_path, iters=3, warmup=1,
               time_limit_s=20,
               data=synth_data, max_images=8, max_drop=1.0)
    ints = [c for c in rep["candidates"] if c["precision"] == "int8"]
    assert ints and all(not c["passed"] and c["map_drop"] > 1.0 for c in ints)
    chosen = next(c for c in rep["candidates"] if c["label"] == rep["chosen"])
    assert chosen["precision"] != "int8" or not rep["passed"]


def test_max_drop_needs_data(yolo_bundle, tmp_path):
    r = run_cli("tune", str(yolo_bundle.bundle), "--out", str(tmp_path), "--max-drop", "1")
    assert r.returncode == 2 and "--data" in r.stderr
