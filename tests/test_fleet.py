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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import TINY_RTDETR, run_cli

# before Ray is first imported (it reads this once): every Ray process on 127.0.0.1
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
pytest.importorskip("ray")

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
    b.mkdir(parents=True, exist_ok=True)
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


def test_without_an_address_this_machine_is_a_one_device_fleet(tmp_path):
    """A local fleet on loopback: the node carries the doctor labels and the device resource."""
    b = fake_bundle(tmp_path, "m0")
    m = write_matrix(tmp_path / "m.yaml", models=[str(b)], profiles=["onnx-fp32"], imgsz=64,
                     devices={"here": {"device-class": "cpu", "can-export": "true"},
                              "jetson": {"device-class": "jetson"}},
                     jobs={"sleep": {"seconds": 0.1}})
    code, stdout, err = cli("fleet", "run", str(m), "--out", str(tmp_path / "out"),
                            "--object-store-memory", str(STORE), "--device-timeout", "3")
    assert code == 1, err  # the jetson cell has no device here
    fleet = json.loads((tmp_path / "out" / "fleet.json").read_text())
    states = {d["cell"]["device"]: d for d in fleet["cells"]}
    assert states["here"]["state"] == "ok" and states["jetson"]["state"] == "no device"
    assert states["here"]["where"]["labels"]["cpu.model"]
    assert "no device" in stdout


def test_job_options_are_the_commands_flags():
    from edgekit.fleet.cell import flags

    assert flags({"iters": 5, "model-only": True, "parity": False, "max_drop": 1.5, "x": [1, 2],
                  "none": None}) == ["--iters", "5", "--model-only", "--no-parity", "--max-drop",
                                     "1.5", "--x", "1", "--x", "2"]


def test_a_tensorrt_cell_ships_onnx_and_builds_on_the_device_first(tmp_path):
    """No TensorRT here: the device build is the first step, it fails (its one-line error),
    and no job runs on an engine that was never built. A portable profile has no build."""
    from edgekit.fleet.cell import portable_profile, run_cell
    from edgekit.fleet.matrix import Cell

    assert portable_profile("jetson-orin-fp16") == "onnx-fp32"
    assert portable_profile("intel-cpu-fp32") == "intel-cpu-fp32"
    b = fake_bundle(tmp_path, "m0")
    jobs = {"sleep": {"seconds": 0}}
    doc = run_cell(Cell(str(b), "jetson-orin-fp16", 64, "orin", {"d": "x"}, jobs), b, tmp_path / "w")
    assert doc["state"] == "failed" and doc["built"] is False
    assert list(doc["jobs"]) == ["build"] and doc["error"].startswith("build: ")
    assert "export " + str(b) + " --profile jetson-orin-fp16" in doc["log"]
    doc = run_cell(Cell(str(b), "onnx-fp32", 64, "cpu", {"d": "x"}, jobs), b, tmp_path / "w2")
    assert doc["state"] == "ok" and list(doc["jobs"]) == ["sleep"]


# --- placement on the local cluster (stand-in cells) ---------------------------------------

def test_one_job_at_a_time_per_device_and_devices_overlap(cluster, sleep_matrix, tmp_path):
    fleet = run_fleet(sleep_matrix(seconds=0.6), tmp_path / "out", cluster)
    assert fleet["summary"]["states"] == {"ok": 8} and not fleet["missing"]
    by_node: dict[str, list] = {}
    for doc in fleet["cells"]:
        where = doc["where"]
        assert where["labels"]["device"] == doc["cell"]["selector"]["device"]
        assert where["node_id"] == cluster.nodes_by_device[doc["cell"]["device"]].node_id
        assert doc["fingerprint"]["hash"]
        by_node.setdefault(where["node_id"], []).append(doc["jobs"]["sleep"]["interval"])
    assert len(by_node) == 2
    for ivs in by_node.values():
        assert not any(overlap(x, y) for i, x in enumerate(ivs) for y in ivs[i + 1:])
    a, b = by_node.values()
    assert any(overlap(x, y) for x in a for y in b), "the two devices never worked at once"


def test_the_overlap_check_sees_a_shared_device(cluster, sleep_matrix, tmp_path):
    """The twin: the same intervals put on one node would overlap; the check is not blind."""
    fleet = run_fleet(sleep_matrix(seconds=0.6), tmp_path / "out", cluster)
    ivs = [d["jobs"]["sleep"]["interval"] for d in fleet["cells"]]
    assert any(overlap(x, y) for i, x in enumerate(ivs) for y in ivs[i + 1:])


def test_no_matching_node_ends_no_device_within_the_timeout(cluster, sleep_matrix, tmp_path):
    m = sleep_matrix(seconds=0.1, models=1, profiles=("onnx-fp32",),
                     devices={"a": {"device": "a"}, "ghost": {"device": "z"}})
    t0 = time.monotonic()
    fleet = run_fleet(m, tmp_path / "out", cluster, device_timeout=2.0)
    assert time.monotonic() - t0 < 60
    states = {d["cell"]["device"]: d for d in fleet["cells"]}
    assert states["a"]["state"] == "ok"
    assert states["ghost"]["state"] == "no device" and "within 2 s" in states["ghost"]["error"]


def test_failed_and_gate_failed_cells_say_why_and_keep_a_log(cluster, sleep_matrix, tmp_path):
    out = tmp_path / "out"
    fleet = run_fleet(sleep_matrix(seconds=0.1, models=1, profiles=("onnx-fp32",), exit=3),
                      out, cluster)
    for d in fleet["cells"]:
        assert d["state"] == "failed" and "exited with 3" in d["error"]
        assert (out / d["log"]).is_file()
    fleet = run_fleet(sleep_matrix(seconds=0.1, models=1, profiles=("onnx-fp32",), exit=1),
                      tmp_path / "out1", cluster)
    assert {(d["state"], d["gate"]) for d in fleet["cells"]} == {("gate failed", "sleep")}


def test_a_rerun_resumes_and_redoes_only_what_changed_or_failed(cluster, sleep_matrix, tmp_path):
    out = tmp_path / "out"
    m = sleep_matrix(seconds=0.2)
    first = {d["cell"]["id"]: d for d in run_fleet(m, out, cluster)["cells"]}
    # plant: one finished cell becomes failed; it alone runs again
    bad = sorted(first)[0]
    cell_file = out / "cells" / f"{bad}.json"
    cell_file.write_text(json.dumps({**first[bad], "state": "failed"}))
    seen: list[dict] = []
    fleet = run_fleet(m, out, cluster, on_progress=lambda s: seen.append(dict(s)))
    again = {d["cell"]["id"]: d for d in fleet["cells"]}
    redone = [k for k in again
              if again[k]["jobs"]["sleep"]["interval"] != first[k]["jobs"]["sleep"]["interval"]]
    assert redone == [bad] and again[bad]["state"] == "ok"
    assert sum(s.startswith("resumed") for s in seen[0].values()) == 7
    # changed inputs (a job option): every cell runs again
    m = sleep_matrix(seconds=0.3)
    third = {d["cell"]["id"]: d for d in run_fleet(m, out, cluster)["cells"]}
    assert all(third[k]["jobs"]["sleep"]["interval"] != again[k]["jobs"]["sleep"]["interval"] for k in third)


def _run_cli_bg(*args):
    env = dict(os.environ, COLUMNS="200")
    return subprocess.Popen([sys.executable, "-m", "edgekit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(cond, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_cancels_writes_what_finished_and_exits_130(cluster, sleep_matrix, tmp_path):
    out = tmp_path / "out"
    m = sleep_matrix(seconds=1.5, devices={"a": {"device": "a"}})  # 4 cells, one after another
    proc = _run_cli_bg("fleet", "run", str(m), "--address", cluster.address, "--out", str(out))
    try:
        assert _wait_for(lambda: (out / "cells").is_dir() and any((out / "cells").glob("*.json")))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    fleet = json.loads((out / "fleet.json").read_text())
    assert fleet["interrupted"] and 1 <= fleet["summary"]["cells"] < 4 and fleet["missing"]
    assert all(d["state"] == "ok" for d in fleet["cells"])


def test_a_node_removed_mid_run_leaves_no_cell_missing(cluster, sleep_matrix, tmp_path):
    """Runs last: it adds a third node to the pool and removes it while cells run on it."""
    extra = cluster.add_node(num_cpus=1, object_store_memory=STORE, node_ip_address="127.0.0.1",
                             labels={"device": "c", "pool": "test"}, resources={"edgekit-device": 1})
    cluster.wait_for_nodes()
    out = tmp_path / "out"
    m = sleep_matrix(seconds=4.0, models=3, devices={"pool": {"pool": "test"}})  # 6 cells, 3 nodes
    proc = _run_cli_bg("fleet", "run", str(m), "--address", cluster.address, "--out", str(out),
                       "--device-timeout", "20")
    cells = out / "cells"
    try:
        # the first round is done: the second runs on all three nodes, the removed one too
        assert _wait_for(lambda: cells.is_dir() and len(list(cells.glob("*.json"))) >= 1)
        removed_at = time.time()
        cluster.remove_node(extra, allow_graceful=False)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    fleet = json.loads((out / "fleet.json").read_text())
    assert not fleet["missing"] and fleet["summary"]["cells"] == 6, err
    assert set(fleet["summary"]["states"]) <= {"ok", "lost"}, fleet["summary"]
    ok = [d for d in fleet["cells"] if d["state"] == "ok"]
    nodes = {n.node_id for n in cluster.nodes_by_device.values()} | {extra.node_id}
    assert {d["where"]["node_id"] for d in ok} <= nodes
    # nothing reports finishing on the removed node after it was gone
    assert not [d for d in ok if d["where"]["node_id"] == extra.node_id
                and d["jobs"]["sleep"]["interval"][1] > removed_at + 0.5]


# --- a real 2 x 2 x 2 matrix, and the same cells as GitHub jobs ----------------------------

COMPARED = ("cell", "device", "state", "built", "parity")


@pytest.fixture(scope="module")
def real_run(cluster, tmp_path_factory):
    """yolo26n and tiny RT-DETR x onnx-fp32 and intel-cpu-fp32 x devices a and b, at 64 px:
    parity and a short bench in every cell."""
    root = tmp_path_factory.mktemp("real")
    m = write_matrix(root / "matrix.yaml", models=["yolo26n.yaml", TINY_RTDETR],
                     profiles=["onnx-fp32", "intel-cpu-fp32"], imgsz=64,
                     devices={"a": {"device": "a"}, "b": {"device": "b"}},
                     jobs={"parity": {}, "bench": {"iters": 5, "warmup": 1, "model-only": True}},
                     export={"parity": False})
    out = root / "out"
    code, stdout, err = cli("fleet", "run", str(m), "--address", cluster.address, "--out", str(out),
                            "--json", str(root / "report.json"), timeout=900)  # 4 exports, 8 cells
    return m, out, code, stdout, err


def test_a_real_matrix_runs_every_cell_on_its_device(real_run, cluster):
    m, out, code, stdout, err = real_run
    fleet = json.loads((out / "fleet.json").read_text())
    assert code == 0, err + stdout
    assert fleet["summary"] == {"cells": 8, "states": {"ok": 8}} and not fleet["missing"]
    for d in fleet["cells"]:
        assert d["where"]["labels"]["device"] == d["cell"]["device"]
        assert d["where"]["node_id"] == cluster.nodes_by_device[d["cell"]["device"]].node_id
        assert d["jobs"]["parity"]["report"]["passed"] is True
        assert d["jobs"]["bench"]["summary"]["p50_ms"] > 0
    assert len(list((out / "bundles").iterdir())) == 4  # one export per model, profile, size
    assert "yolo26n-onnx-fp32-64@a" in stdout and "[8/8]" in err


def test_the_github_matrix_and_cell_files_merge_to_the_same_report(real_run, tmp_path):
    from edgekit.fleet import build_report, load_cells, load_matrix, merge, run_shell_cell

    m, out, *_ = real_run
    code, gh, err = cli("fleet", "matrix", str(m), "--github")
    assert code == 0, err
    include = json.loads(gh)["include"]
    assert len(include) == 8 and include[0]["runs-on"][0] == "self-hosted"
    assert all(f"device={j['device']}" in j["runs-on"] for j in include)
    matrix = load_matrix(m)
    bundles = {p.name: p for p in (out / "bundles").iterdir()}
    def job(entry):  # one GitHub job: its cell, on a bundle from an export job
        bundle_dir = bundles[entry["cell"].rsplit("@", 1)[0]]
        run_shell_cell(matrix, entry["cell"], tmp_path / "artifacts" / entry["cell"],
                       next(p for p in bundle_dir.iterdir() if p.is_dir()))

    with ThreadPoolExecutor(2) as pool:  # two runners at a time, as the Ray run had
        list(pool.map(job, include))
    ray_rows = build_report(json.loads((out / "fleet.json").read_text()))["rows"]
    gh_rows = build_report(merge(load_cells(tmp_path / "artifacts")))["rows"]
    assert [{k: r[k] for k in COMPARED} for r in gh_rows] == [{k: r[k] for k in COMPARED} for r in ray_rows]
    # the twin: a cell that failed on GitHub shows
    doc_path = next((tmp_path / "artifacts").rglob("*.json"))
    doc = json.loads(doc_path.read_text())
    doc_path.write_text(json.dumps({**doc, "state": "failed", "error": "planted"}))
    gh_rows = build_report(merge(load_cells(tmp_path / "artifacts")))["rows"]
    assert [{k: r[k] for k in COMPARED} for r in gh_rows] != [{k: r[k] for k in COMPARED} for r in ray_rows]


def test_too_many_cells_for_github_are_refused(tmp_path):
    m = write_matrix(tmp_path / "m.yaml", models=["yolo26n.yaml"], profiles=["onnx-fp32"],
                     imgsz=[32 * i for i in range(1, 18)],
                     devices={f"d{i}": {"device": f"d{i}"} for i in range(16)}, jobs={"parity": {}})
    code, _, err = cli("fleet", "matrix", str(m), "--github")
    assert code == 2 and "at most 256" in err and err.count("\n") == 1
    m = write_matrix(tmp_path / "m.yaml", models=["yolo26n.yaml"], profiles=["onnx-fp32"],
                     imgsz=[32 * i for i in range(1, 17)],
                     devices={f"d{i}": {"device": f"d{i}"} for i in range(16)}, jobs={"parity": {}})
    code, out, err = cli("fleet", "matrix", str(m), "--github")
    assert code == 0 and len(json.loads(out)["include"]) == 256, err


def test_report_against_a_baseline_buckets_and_names_changes(real_run, tmp_path):
    import shutil

    _, out, *_ = real_run
    base, cur = tmp_path / "base", tmp_path / "cur"
    shutil.copytree(out / "cells", base / "cells")
    shutil.copytree(out / "cells", cur / "cells")
    files = sorted((cur / "cells").glob("*.json"))
    slow = json.loads(files[0].read_text())
    slow["jobs"]["bench"]["summary"]["p50_ms"] *= 1.6
    files[0].write_text(json.dumps(slow))
    broken = json.loads(files[1].read_text())
    files[1].write_text(json.dumps({**broken, "state": "failed", "error": "planted"}))
    moved = json.loads(files[2].read_text())
    moved["cell"]["device"] = "c"
    files[2].write_text(json.dumps(moved))
    code, stdout, err = cli("fleet", "report", str(cur), "--baseline", str(base), "--json", "-")
    assert code == 1, err
    rep = json.loads(stdout)
    b = rep["baseline"]
    assert b["cells"][slow["cell"]["id"]]["bucket"] == "slower >=1.5x"
    assert b["newly_failing"] == [broken["cell"]["id"]]
    assert b["new_devices"] == ["c"] and b["missing_devices"] == []
    code, stdout, err = cli("fleet", "report", str(base), "--baseline", str(base), "--markdown",
                            str(tmp_path / "r.md"))
    assert code == 0, err
    assert "no cell moved" in stdout and "| cell |" in (tmp_path / "r.md").read_text()


def test_cells_of_a_device_that_died_with_no_other_match_end_lost(cluster, sleep_matrix, tmp_path):
    only = cluster.add_node(num_cpus=1, object_store_memory=STORE, node_ip_address="127.0.0.1",
                            labels={"device": "d"}, resources={"edgekit-device": 1})
    cluster.wait_for_nodes()
    out = tmp_path / "out"
    m = sleep_matrix(seconds=30.0, models=1, devices={"d": {"device": "d"}})  # 2 cells
    proc = _run_cli_bg("fleet", "run", str(m), "--address", cluster.address, "--out", str(out),
                       "--device-timeout", "3")
    try:
        time.sleep(10.0)  # submitted; the first cell is running on d
        cluster.remove_node(only, allow_graceful=False)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    fleet = json.loads((out / "fleet.json").read_text())
    assert fleet["summary"] == {"cells": 2, "states": {"lost": 2}}, err
