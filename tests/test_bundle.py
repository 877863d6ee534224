"""Integrity: atomic assembly, hash verification, interrupted exports leave nothing."""

import json

import pytest

from edgekit.bundle import BundleWriter, Manifest, load_bundle, manifest_from_v1, write_manifest
from edgekit.errors import IntegrityError, UsageError

from conftest import ASSETS, copy_bundle, run_cli


def _manifest() -> Manifest:
    """A small valid manifest (a version-1 one from the assets) for the writer's tests."""
    return manifest_from_v1(json.loads((ASSETS / "manifest-v1-yolo26n-fp32.json").read_text()))


def test_writer_commits_only_with_a_manifest(tmp_path):
    final = tmp_path / "b"
    with BundleWriter(final) as tmp:
        (tmp / "x.bin").write_bytes(b"123")
        write_manifest(tmp, _manifest())
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
        write_manifest(tmp, _manifest())
    with pytest.raises(KeyboardInterrupt):
        with BundleWriter(final, force=True) as tmp:
            (tmp / "v").write_text("2")
            raise KeyboardInterrupt
    assert (final / "v").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]
    with BundleWriter(final, force=True) as tmp:
        (tmp / "v").write_text("3")
        write_manifest(tmp, _manifest())
    assert (final / "v").read_text() == "3"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_writer_refuses_an_existing_bundle_without_force(tmp_path):
    final = tmp_path / "b"
    with BundleWriter(final) as tmp:
        (tmp / "v").write_text("1")
        write_manifest(tmp, _manifest())
    with pytest.raises(UsageError, match=f"already exists: {final}.*--force"):
        with BundleWriter(final) as tmp:
            raise AssertionError("not reached: refused before any work")
    assert (final / "v").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_writer_refuses_at_commit_a_bundle_that_appeared_meanwhile(tmp_path):
    final = tmp_path / "b"
    with pytest.raises(UsageError, match="already exists"):
        with BundleWriter(final) as tmp:
            (tmp / "v").write_text("mine")
            write_manifest(tmp, _manifest())
            final.mkdir()  # another export committed while this one was building
            (final / "v").write_text("theirs")
    assert (final / "v").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]  # no .partial- left behind


@pytest.mark.parametrize("umask,mode", [(0o022, 0o755), (0o077, 0o700), (0o002, 0o775)])
def test_bundle_directory_gets_the_users_permissions(tmp_path, umask, mode):
    """0777 less the umask, as mkdir gives; mkdtemp's fixed 0700 fails the 022 and 002 cases."""
    import os
    import stat

    old = os.umask(umask)
    try:
        with BundleWriter(tmp_path / "b") as tmp:
            (tmp / "sub").mkdir()
            write_manifest(tmp, _manifest())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "b" / "sub").stat().st_mode) == mode


def test_exported_bundle_directory_follows_the_umask(yolo_bundle):
    import os
    import stat

    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(yolo_bundle.bundle.stat().st_mode) == 0o777 & ~umask


def test_reexport_is_refused_without_force(yolo_bundle, tmp_path):
    out = tmp_path / "out"
    existing = copy_bundle(yolo_bundle.bundle, out / yolo_bundle.bundle.name)
    before = (existing / "manifest.json").read_bytes()
    r = run_cli("export", "yolo26n.yaml", "--profile", "intel-cpu-fp32", "--imgsz", "160",
                "--out", str(out))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"edgekit: error: bundle already exists: {existing} (pass --force to replace it, or "
        "--out for another folder)"]
    assert (existing / "manifest.json").read_bytes() == before
    assert [p.name for p in out.iterdir()] == [existing.name]
    # the refusal is about that name only: another image size is a new bundle
    r = run_cli("export", "yolo26n.yaml", "--profile", "onnx-fp32", "--imgsz", "96",
                "--out", str(out))
    assert r.returncode == 0, r.stderr
    # the library logs its progress and returns the parity report; the command shows both
    # on stderr (the table drawn by the CLI), and stdout stays empty
    assert "exporting yolo26n.yaml (yolo, " in r.stderr and "onnx check (" in r.stderr
    assert "yolo26n-onnx-fp32-96: onnxruntime (fp32) vs PyTorch fp32: PASS" in r.stderr
    assert r.stdout == ""
    assert sorted(p.name for p in out.iterdir()) == sorted([existing.name,
                                                            "yolo26n-onnx-fp32-96"])


def _files_containing(root, needle: bytes) -> list[str]:
    return [p.relative_to(root).as_posix() for p in sorted(root.rglob("*"))
            if p.is_file() and needle in p.read_bytes()]


def test_bundle_files_name_the_final_path_not_the_temporary_one(yolo_bundle, tmp_path):
    b = yolo_bundle.bundle
    assert _files_containing(b, b".partial-") == []
    report = json.loads((b / "parity.json").read_text())
    assert report["bundle"] == str(b.resolve())
    # twin: the scan finds a temporary path where one is written
    c = copy_bundle(b, tmp_path / "c")
    (c / "parity.json").write_text(json.dumps({"bundle": f"/x/.{c.name}.partial-abcd1234"}))
    assert _files_containing(c, b".partial-") == ["parity.json"]


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


def test_interrupted_export_leaves_nothing_under_the_final_name(tmp_path, monkeypatch, caplog,
                                                                capfd):
    import logging

    from edgekit.export import pipeline
    from edgekit.profiles import load_profile
    from edgekit.runtimes import get_runtime

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(type(get_runtime("openvino")), "build", interrupted)
    caplog.set_level(logging.INFO, logger="edgekit")
    with pytest.raises(KeyboardInterrupt):
        pipeline.export("yolo26n.yaml", load_profile("intel-cpu-fp32", {"imgsz": 96}), tmp_path,
                        parity=False)
    assert list(tmp_path.iterdir()) == []
    # the library is silent: it logged its progress (shown by the CLI) and printed nothing
    assert any(m.startswith("exporting yolo26n.yaml") for m in caplog.messages)
    assert "exporting" not in "".join(capfd.readouterr())


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
    assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, \
        (p.returncode, err[-2000:])
    assert not out.exists() or list(out.iterdir()) == [], list(out.iterdir())
