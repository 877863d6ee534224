"""Runtimes are plug-ins behind one registry: a toy numpy runtime (tests/toy_runtime.py, one
module, no edit to edgekit) is built into a bundle, validated in a profile, listed by
doctor, and driven through parity and bench from the command line; a planted fault in it
fails parity, named."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from edgekit.bundle import load_bundle, write_manifest
from edgekit.profiles import load_profile
from edgekit.runtimes import REGISTRY, BuildContext, get_runtime, runtime_names, using

from conftest import run_cli

TESTS = Path(__file__).resolve().parent
TOY_ENV = {"EDGEKIT_RUNTIMES": "toy_runtime",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
PROFILE = "name: toy-numpy\ndescription: the toy runtime\nruntimes: [numpy]\nimgsz: {imgsz}\n"


@pytest.fixture
def toy():
    """The toy registered in a copy of the registry, for this test only."""
    with using(REGISTRY.copy()) as reg:
        import toy_runtime

        if "numpy" not in reg.names():
            reg.register(toy_runtime.PLUGIN)
        yield toy_runtime


@pytest.fixture(scope="module")
def toy_bundle(yolo_bundle, tmp_path_factory):
    """A copy of the yolo bundle with the toy's build added, as the export adds any
    runtime's (``build_runtimes``), and re-signed."""
    from edgekit.export.pipeline import build_runtimes

    with using(REGISTRY.copy()) as reg:
        import toy_runtime

        if "numpy" not in reg.names():
            reg.register(toy_runtime.PLUGIN)
        dst = tmp_path_factory.mktemp("toy") / "yolo-toy"
        shutil.copytree(yolo_bundle.bundle, dst)
        b = load_bundle(dst)
        yml = dst.parent / "toy.yaml"
        yml.write_text(PROFILE.format(imgsz=b.manifest.input.imgsz))
        prof = load_profile(yml)
        ctx = BuildContext.of_bundle(dst, prof, b.taps, b.manifest.input.resize.mode)
        write_manifest(dst, build_runtimes(ctx, b.manifest))
    return dst, yml


def test_the_toy_is_registered_only_where_asked(toy):
    assert "numpy" in runtime_names(deployable=True)
    assert get_runtime("numpy").suffixes == (".npyonnx",)


def test_without_the_toy_its_name_is_refused_everywhere(tmp_path):
    """The twin: the same profile and flag with the plug-in not loaded are usage errors
    naming the runtimes that exist."""
    assert "numpy" not in runtime_names()
    yml = tmp_path / "toy.yaml"
    yml.write_text(PROFILE.format(imgsz=96))
    r = run_cli("profiles", "show", str(yml))
    assert r.returncode == 2 and "'numpy' is not a runtime" in r.stderr
    r = run_cli("parity", str(tmp_path), "--backend", "numpy")
    assert r.returncode == 2 and "choose from onnxruntime, openvino, tensorrt" in r.stderr


def test_parity_and_bench_run_the_toy_from_the_command_line(toy_bundle):
    bundle, yml = toy_bundle
    m = load_bundle(bundle).manifest
    assert m.artifacts["numpy"] == "numpy/model.onnx" and m.runtime("numpy")["engine"]
    r = run_cli("profiles", "show", str(yml), env=TOY_ENV)
    assert r.returncode == 0 and "- numpy" in r.stdout
    r = run_cli("parity", str(bundle), "--backend", "numpy", "--json", "-", env=TOY_ENV)
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    res = rep["backends"]["numpy"]
    assert rep["passed"] and res["artifact"] == "numpy/model.onnx"
    assert res["settings"]["engine"] == "onnx.reference"
    assert all(la["status"] == "pass" for la in res["layers"])
    r = run_cli("bench", str(bundle), "--backend", "numpy", "--iters", "3", "--warmup", "1",
                "--json", "-", env=TOY_ENV)
    assert r.returncode == 0, r.stderr
    be = json.loads(r.stdout)["backends"]["numpy"]
    assert be["artifact"] == "numpy/model.onnx" and be["precision"] == "fp32"
    assert be["model_only"]["n"] == 3 and be["end_to_end"]["detections"] >= 0
    # a bare file, routed to the toy by its suffix
    bare = bundle.parent / "bare.npyonnx"
    shutil.copyfile(bundle / "model.onnx", bare)
    r = run_cli("bench", str(bare), "--iters", "2", "--warmup", "1", "--json", "-", env=TOY_ENV)
    assert r.returncode == 0, r.stderr
    assert list(json.loads(r.stdout)["backends"]) == ["numpy"]
    r = run_cli("doctor", "--json", env=TOY_ENV)
    assert r.returncode == 0 and "onnx" in json.loads(r.stdout)["runtimes"]


def test_a_fault_in_the_toy_fails_parity_at_its_site(toy_bundle):
    bundle, _ = toy_bundle
    tap = next(t for t in load_bundle(bundle).taps if t.kind != "queries")
    r = run_cli("parity", str(bundle), "--backend", "numpy", "--json", "-",
                env={**TOY_ENV, "TOY_FAULT": tap.tensor})
    assert r.returncode == 1, r.stderr
    res = json.loads(r.stdout)["backends"]["numpy"]
    assert res["first_divergent"] == tap.name


def test_a_broken_plugin_warns_and_edgekit_still_runs():
    r = run_cli("doctor", "--json", env={"EDGEKIT_RUNTIMES": "no_such_plugin_module"})
    assert r.returncode == 0
    assert "runtime plug-in no_such_plugin_module failed to load" in r.stderr
    assert json.loads(r.stdout)["plugin_errors"]
