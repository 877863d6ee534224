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


def test_truncated_onnx_is_refused(tmp_path, yolo_bundle):
    from edgekit.errors import UsageError
    from edgekit.export.onnx import check_onnx_file

    src = (yolo_bundle.bundle / "model.onnx").read_bytes()
    f = tmp_path / "t.onnx"
    f.write_bytes(src[: len(src) // 3])
    with pytest.raises(UsageError, match="not a valid ONNX"):
        check_onnx_file(f)
    f.write_bytes(src)
    check_onnx_file(f)  # twin: the intact file passes
