"""Integrity: atomic assembly, hash verification, interrupted exports leave nothing."""

import json

import pytest

from conftest import copy_bundle, run_cli
from edgekit.errors import IntegrityError
from edgekit.export.bundle import BundleWriter, load_bundle, write_manifest


def test_writer_commits_only_with_a_manifest(tmp_path):
    final = tmp_path / "b"
    with BundleWriter(final) as tmp:
        (tmp / "x.bin").write_bytes(b"123")
        write_manifest(tmp, {"source": {"family": "yolo"}})
    assert (final / "manifest.json").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_writer_leaves_nothing_on_error(tmp_path):
    final = tmp_path / "b"
    with pytest.raises(RuntimeError):
        with BundleWriter(final) as tmp:
            (tmp / "x.bin").write_bytes(b"123")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_writer_replaces_an_old_bundle_only_when_complete(tmp_path):
    final = tmp_path / "b"
    with BundleWriter(final) as tmp:
        (tmp / "v").write_text("1")
        write_manifest(tmp, {})
    with pytest.raises(KeyboardInterrupt):
        with BundleWriter(final) as tmp:
            (tmp / "v").write_text("2")
            raise KeyboardInterrupt
    assert (final / "v").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_changed_and_truncated_files_are_refused(yolo_bundle, tmp_path):
    b = copy_bundle(yolo_bundle.bundle, tmp_path / "b")
    load_bundle(b)  # intact
    onnx = b / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[: onnx.stat().st_size // 2])
    with pytest.raises(IntegrityError, match="model.onnx"):
        load_bundle(b)
    r = run_cli("parity", str(b))
    assert r.returncode == 4
    assert "model.onnx" in r.stderr and "Traceback" not in r.stderr


def test_a_missing_manifest_is_an_integrity_error(yolo_bundle, tmp_path):
    b = copy_bundle(yolo_bundle.bundle, tmp_path / "b")
    (b / "manifest.json").unlink()
    r = run_cli("inspect", str(b))
    assert r.returncode == 4 and "manifest" in r.stderr


def test_interrupted_export_leaves_nothing_under_the_final_name(tmp_path, monkeypatch):
    from edgekit.export import pipeline
    from edgekit.profiles import load_profile

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "build_openvino", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.export("yolo26n.yaml", load_profile("intel-cpu-fp32", {"imgsz": 96}), tmp_path,
                        parity=False, log=lambda m: None)
    assert list(tmp_path.iterdir()) == []


def test_inspect_lists_sites_and_tensors(rtdetr_bundle):
    r = run_cli("inspect", str(rtdetr_bundle.bundle), "--json")
    assert r.returncode == 0
    taps = json.loads(r.stdout)
    assert {t["kind"] for t in taps} == {"aifi", "self_attn", "deform_attn", "queries"}
    assert all(t["tensor"] for t in taps)


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_signal_during_a_real_export_leaves_nothing(tmp_path, sig):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "edgekit", "export", "yolo26n.yaml",
                          "--profile", "intel-cpu-fp32", "--imgsz", "160", "--out", str(out)],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and p.poll() is None:
        if out.is_dir() and any(x.name.startswith(".") for x in out.iterdir()):
            break  # the bundle is being assembled
        time.sleep(0.05)
    assert p.poll() is None, "export finished before it could be interrupted"
    os.kill(p.pid, getattr(signal, sig))
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err
    assert not out.exists() or list(out.iterdir()) == []
