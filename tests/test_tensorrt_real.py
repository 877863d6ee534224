"""Real TensorRT on a real GPU (marker `tensorrt`): skipped where `import tensorrt` fails or
no CUDA device answers. Never run in this project's CI (no GPU there); the same paths run
in CI on the stand-in (tests/test_tensorrt_fake.py)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from edgekit.profiles import load_profile
from edgekit.runtimes import tensorrt as trtx

from conftest import build_bundle, rehash

pytestmark = pytest.mark.tensorrt


@pytest.fixture(scope="module", autouse=True)
def _real_gpu():
    pytest.importorskip("tensorrt")
    info = trtx.gpu_info()
    if "compute_capability" not in info:
        pytest.skip("no CUDA device answers cuda-python")


def _device_build(bundle, tmp_path, profile, over=None):
    from edgekit.export.device import build_on_device

    b = tmp_path / "b"
    shutil.copytree(bundle.bundle, b)
    prof = load_profile(profile, {"imgsz": bundle.manifest.input.imgsz,
                                  "calibration.count": 4, **(over or {})})
    return b, prof, build_on_device(b, prof)


def _parity(b, prof):
    from edgekit.bundle import load_bundle
    from edgekit.parity.run import run_parity

    return run_parity(load_bundle(b), prof, ["tensorrt"])


def test_fp16_with_fp32_islands(yolo_bundle, tmp_path):
    b, prof, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-fp16")
    built = res.manifest.runtime("tensorrt")
    if built["major"] >= 11:
        assert built["fp16_onnx"]["cast_nodes"] > 0
    else:
        assert built["fp32_pinned_layers"] > 0
    rep = _parity(b, prof)
    assert "deployed" in rep["backends"]["tensorrt"]["settings"]["engines"]["output0"]
    assert rep["backends"]["tensorrt"]["outputs"]["output0"]["passed"]


def test_int8_qdq(yolo_bundle, tmp_path):
    b, prof, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-int8")
    assert res.manifest.runtime("tensorrt")["source_onnx"] == trtx.QDQ_ONNX
    rep = _parity(b, prof)
    assert rep["backends"]["tensorrt"]["layers"]


def test_dynamic_batch(bundles_root, tmp_path):
    from edgekit.runtimes import get_runner

    dyn = build_bundle(bundles_root, "yolo26n.yaml", "nvidia-gpu-fp16", parity=False)
    engine = dyn.bundle / trtx.ENGINE
    with get_runner("tensorrt", engine) as r:
        for n in (1, 3, 8):
            out = r.infer({"images": np.zeros((n, 3, 160, 160), np.float32)})
            assert out["output0"].shape[0] == n


def test_timing_cache_reused_and_a_foreign_one_refused(yolo_bundle, tmp_path, caplog):
    from edgekit.export.device import build_on_device

    b, prof, res = _device_build(yolo_bundle, tmp_path, "jetson-orin-fp16")
    cache = b / res.manifest.runtime("tensorrt")["timing_cache"]
    first = cache.stat().st_size
    build_on_device(b, prof)
    assert cache.stat().st_size >= first
    cache.write_bytes(b"\x00" * 64)  # not this TensorRT's cache
    rehash(b)
    build_on_device(b, prof)
    assert any("refused" in m for m in caplog.messages) and cache.stat().st_size > 64


def test_bench_on_a_bare_engine(yolo_bundle, tmp_path):
    from edgekit.bench.run import BenchConfig, bench_backend, resolve_target

    b, _, _ = _device_build(yolo_bundle, tmp_path, "jetson-orin-fp16")
    res = bench_backend("tensorrt", resolve_target(b / trtx.ENGINE),
                        BenchConfig(warmup=2, iters=5, e2e=False))
    assert res["model_only"]["n"] == 5


def test_trtexec_script_builds_the_same_engine(yolo_bundle, tmp_path):
    if shutil.which("trtexec") is None:
        pytest.skip("trtexec is not on PATH")
    b, _, _ = _device_build(yolo_bundle, tmp_path, "jetson-orin-fp16")
    (b / trtx.ENGINE).unlink()
    done = subprocess.run(["sh", "tensorrt/trtexec.sh"], cwd=b, capture_output=True, text=True,
                          timeout=1200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (b / trtx.ENGINE).stat().st_size > 0
