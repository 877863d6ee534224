"""TensorRT: everything that needs no library runs everywhere; real builds only where
`import tensorrt` works (marker `tensorrt`)."""

import shlex

import pytest

from edgekit.errors import IntegrityError
from edgekit.export import tensorrt as trtx
from edgekit.profiles import load_profile


def test_settings_from_static_profile():
    s = trtx.settings_from_profile(load_profile("jetson-orin-int8"))
    assert s.precision == "int8" and s.workspace_bytes == 2 << 30
    assert (s.batch_min, s.batch_opt, s.batch_max) == (1, 1, 1) and not s.dynamic
    assert s.timing_cache and s.optimization_level == 3


def test_settings_from_dynamic_profile():
    s = trtx.settings_from_profile(load_profile("nvidia-gpu-fp16", {"imgsz": 320}))
    assert s.dynamic and (s.batch_min, s.batch_opt, s.batch_max) == (1, 1, 8)
    assert s.shape(8) == (8, 3, 320, 320)


def test_trtexec_command_matches_settings():
    s = trtx.settings_from_profile(load_profile("nvidia-gpu-fp16"))
    args = shlex.split(trtx.trtexec_command(s))
    assert args[0] == "trtexec" and "--fp16" in args and "--int8" not in args
    assert "--minShapes=images:1x3x640x640" in args and "--maxShapes=images:8x3x640x640" in args
    assert "--memPoolSize=workspace:4096M" in args
    assert "--timingCacheFile=tensorrt/timing.cache" in args
    s8 = trtx.settings_from_profile(load_profile("jetson-orin-int8"))
    args8 = shlex.split(trtx.trtexec_command(s8))
    assert "--int8" in args8 and not any(a.startswith("--minShapes") for a in args8)


def test_engine_compat_check():
    rec = {"tensorrt": "10.3.0", "compute_capability": "8.7"}
    trtx.check_engine_compat(rec, {"tensorrt": "10.3.0", "compute_capability": "8.7"})
    with pytest.raises(IntegrityError, match="rebuild"):
        trtx.check_engine_compat(rec, {"tensorrt": "10.7.0", "compute_capability": "8.7"})
    with pytest.raises(IntegrityError, match="compute capability 8.7"):
        trtx.check_engine_compat(rec, {"tensorrt": "10.3.0", "compute_capability": "8.9"})


@pytest.mark.tensorrt
def test_real_engine_build_and_parity(yolo_bundle, tmp_path):
    pytest.importorskip("tensorrt")
    from edgekit.export.bundle import load_bundle
    from edgekit.export.pipeline import build_on_device
    from edgekit.parity.run import run_parity
    import shutil

    b = tmp_path / "b"
    shutil.copytree(yolo_bundle.bundle, b)
    prof = load_profile("nvidia-gpu-fp16", {"imgsz": yolo_bundle.manifest["input"]["imgsz"],
                                             "batch.dynamic": False, "batch.max": 1})
    res = build_on_device(b, prof, log=lambda m: None)
    assert (b / "tensorrt" / "model.engine").is_file()
    assert "compute_capability" in res.manifest["tensorrt"]
    rep = run_parity(load_bundle(b), prof, ["tensorrt"])
    assert rep["backends"]["tensorrt"]["layers"]
