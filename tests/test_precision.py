"""The float-precision policy: profiles state it, runners apply it, reports and the manifest
record what is in force, and the OpenVINO IR carries it to a plain client."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgekit.profiles import load_profile
from edgekit.runtimes.base import RunnerSettings
from edgekit.runtimes.openvino import precision as P

from conftest import run_cli

ov = pytest.importorskip("openvino")

#: the float block of the toy graph (NNCF's ignored scope)
FLOAT_OPS = ["f/conv", "f/matmul", "f/softmax", "f/matmul2"]


def _toy() -> object:
    """A quantized Conv and a float block (Conv, MatMul, SoftMax-8, MatMul) that read the same
    input; their sum feeds a second quantized Conv."""
    from openvino import opset13 as ops

    rng = np.random.default_rng(0)
    x = ops.parameter([1, 16, 16, 16], np.float32, name="images")

    def conv(src, cout, k, name):
        w = ops.constant((rng.standard_normal((cout, src.get_output_partial_shape(0)[1]
                                                .get_length(), k, k)) * 0.1).astype(np.float32))
        c = ops.convolution(src, w, [1, 1], [k // 2] * 2, [k // 2] * 2, [1, 1])
        c.set_friendly_name(name)
        return c

    q = ops.relu(conv(x, 16, 3, "q/conv"))
    f = ops.reshape(conv(x, 16, 3, "f/conv"), ops.constant(np.array([1, 16, 256])), False)
    s = ops.matmul(f, f, False, True)
    s.set_friendly_name("f/matmul")
    sm = ops.softmax(s, -1)
    sm.set_friendly_name("f/softmax")
    o = ops.matmul(sm, f, False, False)
    o.set_friendly_name("f/matmul2")
    o = ops.reshape(o, ops.constant(np.array([1, 16, 16, 16])), False)
    out = conv(ops.add(q, o), 8, 1, "q/conv2")
    return ov.Model([out], [x], "toy")


@pytest.fixture(scope="module")
def toy_int8(tmp_path_factory):
    """The toy quantized by NNCF with the float block ignored, saved unmarked and marked f32."""
    pytest.importorskip("nncf")
    from edgekit.runtimes.openvino import convert as ovx

    calib = np.random.default_rng(1).standard_normal((4, 1, 16, 16, 16)).astype(np.float32)
    q = ovx.quantize_int8(_toy(), calib.reshape(4, 16, 16, 16), ignored_names=FLOAT_OPS,
                          ignored_types=[], input_name="images")
    d = tmp_path_factory.mktemp("toy")
    ovx.save(q.clone(), d / "plain.xml")
    info = ovx.save(q, d / "f32.xml", policy="f32")
    return d, info


def _precisions(xml) -> dict[str, str]:
    """Original op name -> runtime precision, from a plain compile_model with no config."""
    core = ov.Core()
    compiled = core.compile_model(str(xml), "CPU")
    out = {}
    for _kind, prec, names in P.runtime_ops(compiled):
        for n in names:
            out[n] = prec
    return out


# -- 1. the profile policy -------------------------------------------------------------------

def test_shipped_profiles_state_their_policy():
    pol = {n: load_profile(n).float_policy
           for n in ("intel-cpu-fp32", "intel-cpu-int8", "onnx-int8", "intel-cpu-bf16",
                     "nvidia-gpu-fp16")}
    assert pol == {"intel-cpu-fp32": "f32", "intel-cpu-int8": "f32", "onnx-int8": "f32",
                   "intel-cpu-bf16": "bf16", "nvidia-gpu-fp16": "fp16"}
    # the bf16 profile is an fp32 build with tolerances of its own
    bf = load_profile("intel-cpu-bf16")
    assert bf.precision.value == "fp32"
    assert bf.tolerance("default") != load_profile("intel-cpu-fp32").tolerance("default")


def test_policy_flows_into_the_openvino_compile_options():
    from edgekit.runtimes.openvino.runner import OpenVinoRunner

    def hint(profile, **over):
        cfg = OpenVinoRunner("x.xml", settings=RunnerSettings.from_profile(
            load_profile(profile, over))).config()
        return {str(k): v for k, v in cfg.items()}.get("INFERENCE_PRECISION_HINT")

    assert hint("intel-cpu-int8") == ov.Type.f32  # its float islands: f32, not the bf16 default
    assert hint("intel-cpu-bf16") == ov.Type.bf16
    assert hint("intel-cpu-int8", **{"float_precision": "auto"}) is None  # the plugin's choice


def test_bf16_is_not_a_build_precision(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nruntimes: [openvino]\nprecision: bf16\n")
    r = run_cli("export", "yolo26n.yaml", "--profile", str(bad), "--out", str(tmp_path / "o"))
    assert r.returncode == 2, r.stderr
    assert "float_precision" in r.stderr and "Traceback" not in r.stderr


def test_parity_report_records_the_precision_in_force(yolo_bundle, tmp_path):
    out = tmp_path / "p.json"
    r = run_cli("parity", str(yolo_bundle.bundle),
                "--backend", "openvino", "--json", str(out))
    assert r.returncode in (0, 1), r.stderr
    res = json.loads(out.read_text())["backends"]["openvino"]
    assert res["settings"]["float_precision_policy"] == "f32"
    assert res["settings"]["inference_precision"] == "f32"


@pytest.mark.bf16
def test_auto_is_recorded_as_resolved(yolo_bundle, tmp_path):
    """Twin of the above: `auto` on a bf16 CPU resolves to bf16, and the report says so."""
    from edgekit.runtimes import get_runner

    path = yolo_bundle.bundle
    runner = get_runner("openvino", path / "openvino" / "model.xml",
                        settings=RunnerSettings(float_precision="auto"))
    with runner:
        desc = runner.describe()
    assert desc["float_precision_policy"] == "auto"
    assert desc["inference_precision"] == "bf16"


def test_manifest_records_the_policy_and_what_a_plain_client_runs(yolo_bundle):
    path = yolo_bundle.bundle
    m = json.loads((path / "manifest.json").read_text())
    assert m["profile"]["float_precision"] == "f32"
    ovm = m["openvino"]
    assert ovm["float_precision"]["policy"] == "f32"
    assert ovm["float_precision"]["marked_ops"] > 0
    assert ovm["plain_client"]["reduced"] == 0, ovm["plain_client"]
    assert set(ovm["plain_client"]["float_ops"]) == {"f32"}
    assert 'INFERENCE_PRECISION_HINT value="f32"' in (path / "openvino" / "model.xml").read_text()


# -- 2 and 3. the IR carries the policy; the float islands are float ---------------------------

def test_int8_float_island_runs_f32_under_a_plain_compile(toy_int8):
    d, info = toy_int8
    assert info["policy"] == "f32" and info["marked_ops"] > 0
    got = _precisions(d / "f32.xml")
    assert {n: got[n] for n in FLOAT_OPS} == dict.fromkeys(FLOAT_OPS, "f32")
    # the quantized convolutions still run int8: the marks do not break their fusion
    assert got["q/conv"] in ("u8", "i8") and got["q/conv2"] in ("u8", "i8")
    assert 'INFERENCE_PRECISION_HINT value="f32"' in (d / "f32.xml").read_text()


@pytest.mark.bf16
def test_unmarked_float_island_runs_bf16(toy_int8):
    """Twin: the same IR without the marks runs its float block at the bf16 default."""
    d, _ = toy_int8
    got = _precisions(d / "plain.xml")
    assert any(got[n] == "bf16" for n in FLOAT_OPS), got
    report = P.plain_client_precisions(d / "plain.xml")
    assert report["reduced"] and report["default_hint"] == "bf16"


# -- 4. doctor ----------------------------------------------------------------------------

def _cpu_flags() -> set[str]:
    for line in open("/proc/cpuinfo").read().splitlines():
        if line.startswith(("flags", "Features")):
            return set(line.split(":", 1)[1].split())
    return set()


def test_doctor_reports_bf16_amx_vnni_from_the_cpu_flags():
    r = run_cli("doctor", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    flags = _cpu_flags()
    sup = doc["cpu"]["reduced_precision"]
    assert sup["bf16"] == bool(flags & {"avx512_bf16", "amx_bf16"})
    assert sup["vnni"] == bool(flags & {"avx512_vnni", "avx_vnni", "amx_tile"})
    assert sup["amx"] == ("amx_tile" in flags)
    assert doc["profiles"]["intel-cpu-bf16"]["pays_here"] == sup["bf16"]
    assert doc["profiles"]["intel-cpu-int8"]["pays_here"] == sup["vnni"]


def test_doctor_pays_here_follows_the_flags():
    """Twin: an AVX2-only CPU gets 'does not pay' for int8 and bf16, with the reason."""
    from edgekit.cli.doctor import profile_pays_here
    from edgekit.precision import cpu_support

    avx2 = cpu_support({"avx2": True})
    assert profile_pays_here(load_profile("intel-cpu-int8"), avx2)[0] is False
    pays, why = profile_pays_here(load_profile("intel-cpu-bf16"), avx2)
    assert pays is False and "AVX512_BF16" in why
    amx = cpu_support({"amx": True, "amx_bf16": True})
    assert profile_pays_here(load_profile("intel-cpu-bf16"), amx) == (True, "AMX")
    # INT8 pays over f32 where there is VNNI; beside bf16 OpenVINO's reason says to measure it
    pays, why = profile_pays_here(load_profile("intel-cpu-int8"), amx)
    assert pays is True and "bf16" in why and "tune" in why
    assert profile_pays_here(load_profile("intel-cpu-int8"),
                             cpu_support({"avx512_vnni": True})) == (True, "VNNI")
    assert profile_pays_here(load_profile("onnx-int8"), amx) == (True, "VNNI")


def test_eval_and_bench_reports_record_the_precision_in_force(yolo_bundle, tmp_path):
    from edgekit.zoo.synth import SynthSpec, make_dataset

    data = make_dataset(tmp_path / "data", SynthSpec(n_train=1, n_val=2, seed=5))
    out = tmp_path / "eval.json"
    r = run_cli("eval", str(yolo_bundle.bundle), "--data", str(data), "--backend",
                "openvino,onnxruntime", "--reference", "none", "--json", str(out))
    assert r.returncode == 0, r.stderr
    got = json.loads(out.read_text())["backends"]
    assert got["openvino"]["settings"]["inference_precision"] == "f32"
    assert got["onnxruntime"]["settings"]["inference_precision"] == "f32"
    out = tmp_path / "bench.json"
    r = run_cli("bench", str(yolo_bundle.bundle), "--backend", "openvino", "--iters", "2",
                "--warmup", "1", "--json", str(out))
    assert r.returncode == 0, r.stderr
    assert '"inference_precision": "f32"' in out.read_text()


# -- 5. the speed-first INT8 profile ---------------------------------------------------------

def test_fast_int8_profile_differs_from_the_default_only_in_its_speed_choices():
    fast, default = load_profile("intel-cpu-int8-fast"), load_profile("intel-cpu-int8")
    assert (fast.calibration.preset, fast.float_policy) == ("performance", "auto")
    assert (default.calibration.preset, default.float_policy) == ("mixed", "f32")
    assert fast.calibration.float_scope == default.calibration.float_scope
    assert fast.tolerances == default.tolerances  # judged by the same verdict


def test_fast_int8_build_on_a_trained_checkpoint_keeps_parity_and_runs_float_at_the_default(
        bundles_root, trained_yolo, synth_data):
    """intel-cpu-int8-fast on the trained yolo26n, calibrated on its data: parity passes, the
    IR carries no f32 marks, so a plain client runs the float parts at the CPU's default
    (bf16 where the CPU has it); the NNCF preset is recorded. Twin: the same build fails
    a verdict tightened beyond what INT8 can reach, so the pass is a judgement."""
    from edgekit.precision import cpu_support
    from tests.conftest import build_bundle

    res = build_bundle(bundles_root / "fast", str(trained_yolo.path), "intel-cpu-int8-fast",
                       data=str(synth_data))
    m = json.loads((res.bundle / "manifest.json").read_text())
    ovm = m["openvino"]
    assert res.parity is not None and res.parity["passed"], "parity"
    assert ovm["nncf"]["preset"] == "performance"
    assert ovm["float_precision"]["policy"] == "auto" and ovm["float_precision"]["marked_ops"] == 0
    bf16 = cpu_support()["bf16"]
    assert (ovm["plain_client"]["reduced"] > 0) == bf16, ovm["plain_client"]
    from edgekit import api

    tight = api.parity(res.bundle, backends=["openvino"], min_median_sqnr_db=60.0)
    assert not tight.passed
