"""Runner settings come from one place: a profile's runtime section and precision, with the
caller's explicit overrides winning, for parity, bench and tune alike."""

import json

import pytest

from edgekit.profiles import load_profile
from edgekit.runtimes import RunnerSettings

from conftest import copy_bundle, rehash, run_cli

KEYS = ("hint", "inference_num_threads", "inference_precision_hint")


def test_from_profile_reads_the_runtime_section_and_overrides_win():
    prof = load_profile("intel-cpu-int8", {"runtime.threads": 3,
                                           "runtime.openvino_hint": "throughput"})
    s = RunnerSettings.from_profile(prof)
    assert (s.threads, s.openvino_hint, s.precision, s.batch) == (3, "throughput", "int8", None)
    # an override left unset (None, a CLI flag not given) does not mask the profile
    assert RunnerSettings.from_profile(prof, threads=None) == s
    # twin: a given override wins
    o = RunnerSettings.from_profile(prof, threads=1, openvino_hint="latency", batch=4)
    assert (o.threads, o.openvino_hint, o.batch, o.precision) == (1, "latency", 4, "int8")
    assert RunnerSettings.from_profile(None, threads=2) == RunnerSettings(threads=2)
    with pytest.raises(TypeError, match="no field devcie"):
        RunnerSettings.from_profile(prof, devcie="GPU")


def _with_runtime(src, dst, **runtime):
    b = copy_bundle(src, dst)
    m = json.loads((b / "manifest.json").read_text())
    m["profile"]["runtime"].update(runtime)
    (b / "manifest.json").write_text(json.dumps(m))
    rehash(b)
    return b


def _openvino_settings(*args):
    r = run_cli(*args, "--backend", "openvino", "--json", "-")
    assert r.returncode in (0, 1), r.stderr
    s = json.loads(r.stdout)["backends"]["openvino"]["settings"]
    return {k: s.get(k) for k in KEYS}


def test_bench_and_parity_run_openvino_as_the_bundle_profile_says(yolo_bundle, tmp_path):
    """The bundle's profile asks for throughput on one thread: parity and bench both compile
    the IR so; a bench flag overrides it for bench only."""
    b = str(_with_runtime(yolo_bundle.bundle, tmp_path / "b", threads=1,
                          openvino_hint="throughput"))
    bench = ("bench", b, "--iters", "2", "--warmup", "1", "--model-only")
    par = _openvino_settings("parity", b)
    assert par == _openvino_settings(*bench)
    assert par["hint"] == "throughput" and par["inference_num_threads"] == 1
    # twin: flags given to bench win over the profile
    flagged = _openvino_settings(*bench, "--threads", "2", "--hint", "latency")
    assert flagged["hint"] == "latency" and flagged["inference_num_threads"] == 2
