"""Bad input: one clear line on stderr, a documented exit code, no traceback."""

import pytest

from conftest import run_cli


def _one_line_error(r, code, *needles):
    assert r.returncode == code, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in r.stderr, (n, r.stderr)


def test_missing_checkpoint(tmp_path):
    r = run_cli("export", str(tmp_path / "nope.pt"), "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, "not found", "never downloads")


def test_hub_name_is_not_downloaded(tmp_path):
    r = run_cli("export", "yolo26n.pt", "--out", str(tmp_path / "o"), cwd=tmp_path)
    _one_line_error(r, 2, "yolo26n.pt")
    assert not (tmp_path / "yolo26n.pt").exists()


def test_corrupt_checkpoint(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"this is not a checkpoint" * 10)
    r = run_cli("export", str(bad), "--profile", "onnx-fp32", "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, "cannot load checkpoint")


def test_unknown_model_yaml(tmp_path):
    r = run_cli("export", "yolo99z.yaml", "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, "yolo99z.yaml")


def test_unknown_profile(tmp_path):
    r = run_cli("export", "yolo26n.yaml", "--profile", "nope", "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, "unknown profile", "intel-cpu-fp32")


@pytest.mark.parametrize("body,field", [("runtimes: [onnxruntime]\nbogus: 1\n", "bogus"),
                                        ("runtimes: [onnxruntime]\nimgsz: [1]\n", "imgsz"),
                                        ("runtimes: [cuda]\n", "runtimes")])
def test_bad_profile_file(tmp_path, body, field):
    f = tmp_path / "p.yaml"
    f.write_text(body)
    r = run_cli("export", "yolo26n.yaml", "--profile", str(f), "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, str(f), field)


@pytest.mark.parametrize("size", ["100", "0", "-32"])
def test_bad_image_size(tmp_path, size):
    r = run_cli("export", "yolo26n.yaml", f"--imgsz={size}", "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, "multiple of 32")


def test_out_is_an_existing_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    r = run_cli("export", "yolo26n.yaml", "--out", str(f))
    _one_line_error(r, 2, "existing file")


def test_tensorrt_profile_without_tensorrt(tmp_path):
    pytest.importorskip("onnx")
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    r = run_cli("export", "yolo26n.yaml", "--profile", "nvidia-gpu-fp16", "--out", str(tmp_path / "o"))
    _one_line_error(r, 3, "TensorRT", "pip install 'edgekit[tensorrt]'")
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_parity_on_missing_bundle(tmp_path):
    r = run_cli("parity", str(tmp_path / "none"))
    _one_line_error(r, 2, "bundle not found")


def test_debug_shows_a_traceback(tmp_path):
    r = run_cli("--debug", "export", str(tmp_path / "nope.pt"))
    assert r.returncode == 2 and "Traceback" in r.stderr


def _unwritable_dir(tmp_path):
    """A directory this process cannot create files in: read-only for an ordinary user;
    root ignores modes, but not sysfs."""
    import os
    from pathlib import Path

    if os.geteuid() == 0:
        return Path("/sys/kernel")
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o555)
    return d


def _before_heavy_work(r):
    # the model is never built: export logs these only after loading it
    assert "weights are RANDOM" not in r.stderr and "exporting" not in r.stderr


@pytest.mark.parametrize("layout", ["text-as-jpg", "folder-as-jpg", "file-not-dir"])
def test_images_that_are_not_images(tmp_path, layout):
    d = tmp_path / "imgs"
    d.mkdir()
    if layout == "text-as-jpg":
        (d / "a.jpg").write_text("not an image\n")
        arg, needle = d, "a.jpg"
    elif layout == "folder-as-jpg":
        (d / "b.jpg").mkdir()
        arg, needle = d, "b.jpg"
    else:
        (d / "c.jpg").write_text("x")
        arg, needle = d / "c.jpg", "not a file"
    r = run_cli("export", "yolo26n.yaml", "--imgsz", "160", "--images", str(arg),
                "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, needle)
    _before_heavy_work(r)


def test_images_check_accepts_real_images_and_names_the_bad_one(tmp_path):
    """Twin: the same check passes real images, and fails once a bad file joins them."""
    import shutil

    from edgekit.errors import UsageError
    from edgekit.models.preprocess import check_images, sample_images

    d = tmp_path / "imgs"
    d.mkdir()
    for p in sample_images():
        shutil.copy(p, d / p.name)
    check_images(d)
    (d / "zz.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a PNG header, no image
    with pytest.raises(UsageError, match="zz.png"):
        check_images(d)


@pytest.mark.parametrize("cmd", ["export", "tune"])
@pytest.mark.parametrize("size", ["100000", "4128"])
def test_image_size_is_bounded(tmp_path, cmd, size):
    r = run_cli(cmd, "yolo26n.yaml", f"--imgsz={size}", "--out", str(tmp_path / "o"))
    _one_line_error(r, 2, "at most 4096")


def test_image_size_bound_is_inclusive_and_help_says_it():
    from edgekit.errors import ConfigError
    from edgekit.profiles import load_profile

    assert load_profile("onnx-fp32", {"imgsz": 4096}).imgsz == 4096
    with pytest.raises(ConfigError, match="at most 4096"):
        load_profile("onnx-fp32", {"imgsz": 4128})
    for cmd in ("export", "tune"):
        assert "4096" in run_cli(cmd, "--help").stdout


def test_read_only_out_is_refused_before_work(tmp_path):
    ro = _unwritable_dir(tmp_path)
    r = run_cli("export", "yolo26n.yaml", "--imgsz", "160", "--out", str(ro / "bundles"))
    _one_line_error(r, 2, "--out", "cannot write")
    _before_heavy_work(r)


@pytest.mark.parametrize("opt", ["--json", "--junit"])
def test_unwritable_parity_report_is_refused_before_work(tmp_path, yolo_bundle, opt):
    ro = _unwritable_dir(tmp_path)
    r = run_cli("parity", str(yolo_bundle.bundle), opt, str(ro / "r.out"))
    _one_line_error(r, 2, opt, "cannot write")
    assert "parity passed" not in r.stderr and "PASS" not in r.stderr  # nothing ran
    r = run_cli("parity", str(yolo_bundle.bundle), opt, str(tmp_path / "no" / "r.out"))
    _one_line_error(r, 2, opt, "does not exist")


@pytest.mark.parametrize("opt", ["--json", "--plot"])
def test_unwritable_bench_output_is_refused_before_work(tmp_path, yolo_bundle, opt):
    ro = _unwritable_dir(tmp_path)
    r = run_cli("bench", str(yolo_bundle.bundle), "--iters", "3", opt, str(ro / "r.out"))
    _one_line_error(r, 2, opt, "cannot write")
    assert "latency" not in r.stderr  # no table: nothing was timed


def test_unwritable_tune_output_is_refused_before_work(tmp_path, yolo_bundle):
    ro = _unwritable_dir(tmp_path)
    r = run_cli("tune", str(yolo_bundle.bundle), "--json", str(ro / "t.json"))
    _one_line_error(r, 2, "--json", "cannot write")
    r = run_cli("tune", str(yolo_bundle.bundle), "--out", str(ro / "t"))
    _one_line_error(r, 2, "--out", "cannot write")


@pytest.mark.parametrize("cmd", ["tune", "parity"])
@pytest.mark.parametrize("opt,value,why", [("--max-agreement-drop", "500", "less than or equal to 100"),
                                           ("--verdict", "loose", "per_image or median")])
def test_out_of_range_verdict_override_is_refused_before_work(tmp_path, yolo_bundle, cmd, opt,
                                                              value, why):
    r = run_cli(cmd, str(yolo_bundle.bundle), opt, value,
                *(("--out", str(tmp_path / "t")) if cmd == "tune" else ()))
    _one_line_error(r, 2, opt, why)
    assert not (tmp_path / "t").exists()  # nothing built


def test_writable_outputs_pass_the_check(tmp_path):
    """Twin: the checks accept what can be written, and create nothing."""
    from edgekit._paths import check_writable_dir, check_writable_file

    check_writable_dir(tmp_path / "new" / "deeper", "--out")
    check_writable_file(tmp_path / "r.json", "--json")
    check_writable_file("-", "--json")
    assert list(tmp_path.iterdir()) == []


# a disk that fills up while the bundle is written: numpy's savez (reference.npz) fails
# the way the OS reports it, inside the real CLI
_FULL_DISK = """
import errno, os, sys
import numpy
def savez(file, *a, **k):
    raise OSError(errno.{code}, os.strerror(errno.{code}), str(file))
numpy.savez = numpy.savez_compressed = savez
sys.argv = ["edgekit", *sys.argv[1:]]
from edgekit.cli import main
main()
"""


def _export_with_failing_write(tmp_path, code):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", _FULL_DISK.format(code=code), "export",
                           "yolo26n.yaml", "--imgsz", "160", "--no-parity",
                           "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "COLUMNS": "200"})


def test_full_disk_during_export(tmp_path):
    r = _export_with_failing_write(tmp_path, "ENOSPC")
    _one_line_error(r, 2, "no space left", str(tmp_path / "o"), "roughly", "MB")
    assert list((tmp_path / "o").iterdir()) == []  # nothing left behind, not even a partial


def test_other_write_errors_stay_unexpected(tmp_path):
    """Twin: only a full disk becomes a usage error; another I/O failure is still a bug."""
    r = _export_with_failing_write(tmp_path, "EIO")
    _one_line_error(r, 70, "OSError")
    assert list((tmp_path / "o").iterdir()) == []


def test_disk_full_is_recognised_through_wrapping_libraries():
    import errno
    import os

    from edgekit._paths import is_disk_full

    assert is_disk_full(OSError(errno.ENOSPC, "x"))
    assert is_disk_full(RuntimeError(f"write failed: {os.strerror(errno.ENOSPC)}"))
    try:
        try:
            raise OSError(errno.EDQUOT, "quota")
        except OSError as inner:
            raise RuntimeError("save_model failed") from inner
    except RuntimeError as outer:
        assert is_disk_full(outer)
    assert not is_disk_full(OSError(errno.EIO, "x")) and not is_disk_full(ValueError("x"))


def _without_tensorrt():
    try:
        import tensorrt  # noqa: F401

        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass


def test_missing_tensorrt_is_exit_3_for_parity_and_bench(yolo_bundle):
    _without_tensorrt()
    lines = []
    for cmd in ("parity", "bench"):
        r = run_cli(cmd, str(yolo_bundle.bundle), "--backend", "tensorrt")
        _one_line_error(r, 3, "TensorRT is not installed", "pip install 'edgekit[tensorrt]'")
        lines.append(r.stderr.strip())
    assert lines[0] == lines[1]


def test_missing_artifact_is_exit_3_for_parity_and_bench(yolo_bundle, tmp_path):
    """A bundle without the backend's model: the same code and message from both."""
    import json

    from conftest import copy_bundle, rehash

    b = copy_bundle(yolo_bundle.bundle, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    del m["artifacts"]["openvino"]
    (b / "manifest.json").write_text(json.dumps(m))
    rehash(b)
    lines = []
    for cmd in ("parity", "bench"):
        r = run_cli(cmd, str(b), "--backend", "openvino", "--iters", "3") if cmd == "bench" \
            else run_cli(cmd, str(b), "--backend", "openvino")
        _one_line_error(r, 3, "has no openvino artifact", "onnxruntime")
        lines.append(r.stderr.strip())
    assert lines[0] == lines[1]
    r = run_cli("bench", str(b), "--backend", "onnxruntime", "--iters", "3", "--warmup", "1",
                "--model-only")
    assert r.returncode == 0, r.stderr  # twin: the backend the bundle has still runs


def test_help_lists_every_exit_code_and_verbose():
    out = run_cli("--help").stdout
    for code in ("0 ok", "1 gate", "2 usage", "3 backend", "4 integrity", "70 internal",
                 "130 interrupted"):
        assert code in out, code
    assert "--verbose" in out


# TensorRT's failures, against a stand-in module (TensorRT cannot run here): each maps to a
# documented code instead of a bare RuntimeError (exit 70). This checks the mapping only.
@pytest.mark.parametrize("fault,code,needle", [
    ("parse", 3, "could not parse"),
    ("build", 3, "failed to build the engine"),
    ("tap", 3, "tap::x"),
    (None, 0, ""),  # twin: with nothing wrong the stand-in builds an engine
])
def test_tensorrt_build_failures_have_exit_codes(tmp_path, monkeypatch, yolo_bundle, fault,
                                                 code, needle):
    """On the stand-in TensorRT (edgekit.testing): a model TensorRT cannot parse or build, or
    a tap it lacks, is a backend failure (exit 3), and no engine is left behind."""
    from edgekit.errors import EdgekitError
    from edgekit.runtimes import tensorrt as trtx
    from edgekit.testing import fake_tensorrt as ft

    fake = ft.install(monkeypatch, 10)
    onnx_path = yolo_bundle.bundle / "model.onnx"
    s = trtx.TrtBuildSettings(precision="fp16", workspace_bytes=1 << 28, imgsz=160, batch_min=1,
                              batch_opt=1, batch_max=1, dynamic=False, optimization_level=3,
                              timing_cache=False)
    if fault == "parse":
        onnx_path = tmp_path / "broken.onnx"
        onnx_path.write_bytes(b"not an onnx file")
    elif fault == "build":
        def refuse(*_a, **_k):
            raise ft.BuildError("out of tactics")

        monkeypatch.setattr(fake, "build", refuse)
    elif fault == "tap":
        s = type(s)(**{**s.__dict__, "mark_outputs": ("tap::x",)})
    engine = tmp_path / "model.engine"
    if code == 0:
        trtx.build_engine(onnx_path, engine, s)
        assert engine.stat().st_size > 0
        return
    with pytest.raises(EdgekitError, match=needle) as e:
        trtx.build_engine(onnx_path, engine, s)
    assert e.value.exit_code == code and not engine.exists()


def test_tensorrt_calibrator_without_images_is_a_usage_error(tmp_path, monkeypatch, yolo_bundle):
    from edgekit.errors import UsageError
    from edgekit.runtimes import tensorrt as trtx
    from edgekit.testing import fake_tensorrt as ft

    ft.install(monkeypatch, 10)
    s = trtx.TrtBuildSettings(precision="int8", workspace_bytes=1 << 28, imgsz=160, batch_min=1,
                              batch_opt=1, batch_max=1, dynamic=False, optimization_level=3,
                              timing_cache=False, int8_mode="calibrator")
    with pytest.raises(UsageError, match="calibration"):
        trtx.build_engine(yolo_bundle.bundle / "model.onnx", tmp_path / "e", s,
                          calibration=None, calib_cache=tmp_path / "e.calib")


def test_an_interrupt_outside_a_command_is_exit_130(monkeypatch, capsys):
    """A signal that lands while typer parses or while the process exits (after a command's
    own handling) is still one line and exit 130, never Python's own SIGINT death."""
    import edgekit.cli as cli

    def interrupted(**_kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "app", interrupted)
    import signal

    old = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    code = None
    try:
        cli.main()
    except KeyboardInterrupt:  # caught here, so that a regression fails this test only
        pytest.fail("KeyboardInterrupt escaped edgekit's main()")
    except SystemExit as e:
        code = e.code
    finally:
        signal.signal(signal.SIGTERM, old[0])
        signal.signal(signal.SIGINT, old[1])
    assert code == 130
    assert capsys.readouterr().err.strip() == "edgekit: error: interrupted"
