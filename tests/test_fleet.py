"""edgekit fleet on a local Ray cluster: a head with 0 CPUs and two worker nodes labelled as
two devices, every process on 127.0.0.1. One cluster for the module; stand-in ``sleep``
cells for placement, and one real 2 x 2 x 2 matrix (parity and bench)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import TINY_RTDETR, run_cli

pytest.importorskip("ray")
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # before any Ray process starts

STORE = 80 * 2**20


@pytest.fixture(scope="module")
def cluster():
    import ray
    from ray.cluster_utils import Cluster

    c = Cluster(initialize_head=True, head_node_args={
        "num_cpus": 0, "object_store_memory": STORE, "node_ip_address": "127.0.0.1",
        "include_dashboard": False})
    nodes = {}
    for dev in ("a", "b"):
        nodes[dev] = c.add_node(num_cpus=1, object_store_memory=STORE, node_ip_address="127.0.0.1",
                                labels={"device": dev, "pool": "test"},
                                resources={"edgekit-device": 1})
    c.wait_for_nodes()
    c.nodes_by_device = nodes
    try:
        yield c
    finally:
        ray.shutdown()
        c.shutdown()


def fake_bundle(root: Path, name: str) -> Path:
    """A folder a stand-in cell ships (the sleep job never opens it)."""
    b = root / name
    b.mkdir(parents=True)
    (b / "manifest.json").write_text("{}")
    return b


def write_matrix(path: Path, **doc) -> Path:
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.fixture
def sleep_matrix(tmp_path):
    def make(seconds=0.5, devices=None, models=2, profiles=("onnx-fp32", "intel-cpu-fp32"), **job):
        ms = [str(fake_bundle(tmp_path / "bundles", f"m{i}")) for i in range(models)]
        return write_matrix(tmp_path / "matrix.yaml", models=ms, profiles=list(profiles), imgsz=64,
                            devices=devices or {"a": {"device": "a"}, "b": {"device": "b"}},
                            jobs={"sleep": {"seconds": seconds, **job}})
    return make


def cli(*args, **kw):
    r = run_cli(*args, **kw)
    return r.returncode, r.stdout, r.stderr


def run_fleet(matrix, out, cluster, **kw):
    from edgekit.fleet import load_matrix, run_matrix

    return run_matrix(load_matrix(matrix), out, address=cluster.address, **kw)


def overlap(x, y) -> bool:
    return x[0] < y[1] and y[0] < x[1]


# --- labels and the ray start line (no cluster) --------------------------------------------

def test_labels_come_from_doctor_and_ray_accepts_them(monkeypatch):
    from ray._private.label_utils import parse_node_labels_string

    from edgekit import hostinfo
    from edgekit.fleet.where import host_labels, ray_start_command

    monkeypatch.setattr(hostinfo, "gpu_list", lambda: [{"name": "Orin (nvgpu)", "compute_capability": "8.7",
                                                        "driver": "540", "memory": "16 GiB"}])
    monkeypatch.setattr(hostinfo, "jetson_info", lambda: {
        "l4t": "R36.4", "model": "NVIDIA Jetson Orin NX Engineering Reference Developer Kit",
        "jetpack": "6.2+b77", "power_mode": "NV Power Mode: MAXN\n0"})
    cpu = hostinfo.cpu_info()
    cpu["flags"] = {**cpu["flags"], "amx": False, "amx_bf16": False, "avx512_bf16": True,
                    "avx512_vnni": False, "avx_vnni": True}
    monkeypatch.setattr(hostinfo, "cpu_info", lambda: cpu)
    labels = host_labels({"lab": "bench-3"})
    assert labels["device-class"] == "jetson"
    assert labels["jetson.model"] == "orin-nx" and labels["jetson.jetpack"] == "6.2-b77"
    assert labels["jetson.power-mode"] == "MAXN"
    assert labels["gpu.name"] == "Orin-nvgpu" and labels["gpu.cc"] == "8.7"
    assert (labels["cpu.amx"], labels["cpu.avx512_bf16"], labels["cpu.vnni"]) == ("false", "true", "true")
    assert labels["rt.onnxruntime"] and labels["edgekit.version"] == "0.1.0"
    assert labels["can-export"] == "true" and labels["lab"] == "bench-3"
    cmd = ray_start_command("10.0.0.5:6379", labels)
    assert cmd[:3] == ["ray", "start", "--address=10.0.0.5:6379"]
    assert json.loads(cmd[4].removeprefix("--resources=")) == {"edgekit-device": 1}
    assert parse_node_labels_string(cmd[3].removeprefix("--labels=")) == labels


def test_a_plain_cpu_host_has_no_gpu_or_jetson_labels(monkeypatch):
    from edgekit import hostinfo
    from edgekit.fleet.where import host_labels

    monkeypatch.setattr(hostinfo, "gpu_list", lambda: [])
    monkeypatch.setattr(hostinfo, "jetson_info", lambda: None)
    labels = host_labels()
    assert labels["device-class"] == "cpu"
    assert not [k for k in labels if k.startswith(("gpu.", "jetson."))]


def test_join_and_labels_print_the_ray_start_line():
    code, out, err = cli("fleet", "join", "127.0.0.1:6390", "--label", "device=a", "--dry-run")
    assert code == 0, err
    assert out.startswith("ray start --address=127.0.0.1:6390 --labels=")
    assert ",device=a," in out and "edgekit-device" in out
    code, out2, _ = cli("fleet", "labels", "--address", "127.0.0.1:6390", "--label", "device=a")
    assert code == 0 and out2 == out
    code, _, err = cli("fleet", "labels", "--label", "bad key=x")
    assert code == 2 and err.count("\n") == 1 and "label key" in err


# --- bad input: refused before anything is exported or submitted ---------------------------

@pytest.mark.parametrize("change, code, words", [
    ({"profiles": ["no-such-profile"]}, 2, "no-such-profile"),
    ({"jobs": {"parity": {}, "train": {}}}, 2, "unknown job 'train'"),
    ({"jobs": {"bench": {"itters": 5}}}, 2, "'itters' is not an option"),
    ({"models": ["missing.pt"]}, 2, "checkpoint not found"),
    ({"devices": {"a": {"device": "a b"}}}, 2, "malformed selector"),
    ({"devices": {"a": ["device=a"]}}, 2, "malformed selector"),
    ("unreadable", 2, "cannot read it"),
    ("address", 3, "cannot be reached"),
    ("no ray", 3, "edgekit[fleet]"),
])
def test_bad_input_is_one_line_before_any_work(tmp_path, change, code, words):
    doc = {"models": ["yolo26n.yaml"], "profiles": ["onnx-fp32"], "imgsz": 64,
           "devices": {"a": {"device": "a"}}, "jobs": {"parity": {}}}
    env, args = {}, []
    if isinstance(change, dict):
        doc.update(change)
    elif change == "address":
        args = ["--address", "127.0.0.1:9"]
    elif change == "no ray":
        fake = tmp_path / "noray" / "ray"
        fake.mkdir(parents=True)
        (fake / "__init__.py").write_text("raise ImportError('no ray here')\n")
        env = {"PYTHONPATH": f"{fake.parent}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    m = write_matrix(tmp_path / "m.yaml", **doc)
    if change == "unreadable":
        m = tmp_path / "absent.yaml"
    out = tmp_path / "out"
    rc, _, err = cli("fleet", "run", str(m), "--out", str(out), *args, env=env)
    assert rc == code, err
    assert err.count("\n") == 1 and words in err, err
    assert not (out / "bundles").exists() and not (out / "cells").exists()


def test_a_good_matrix_passes_the_same_checks(tmp_path):
    """The twin of the above: the matrix they spoil is accepted (listed, not run)."""
    m = write_matrix(tmp_path / "m.yaml", models=["yolo26n.yaml"], profiles=["onnx-fp32"], imgsz=64,
                     devices={"a": {"device": "a"}}, jobs={"bench": {"iters": 5}})
    rc, out, err = cli("fleet", "matrix", str(m))
    assert rc == 0, err
    assert "yolo26n-onnx-fp32-64@a" in out
