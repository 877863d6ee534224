"""Opening a checkpoint never runs its code: hostile pickles are refused (exit 4) by every
command that takes a model, and real training checkpoints still load (the twin)."""

from __future__ import annotations

import json
import os
import pickle
from pathlib import Path

import pytest

from conftest import copy_bundle, rehash, run_cli

torch = pytest.importorskip("torch")
pytest.importorskip("ultralytics")

SYSTEM = f"{os.system.__module__}.system"  # posix.system here


class _Shell:
    """Unpickling this runs a shell command that creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Constructor:
    """Unpickling this calls an allowed model class with a hostile config: Ultralytics'
    constructor would ``eval`` the activation string."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        from ultralytics.nn.tasks import DetectionModel

        cfg = {"nc": 1, "activation": f"__import__('os').system('touch {self.marker}')",
               "backbone": [[-1, 1, "Conv", [16, 3, 2]]], "head": [[-1, 1, "Detect", ["nc"]]]}
        return (DetectionModel, (cfg,))


def _hostile(tmp: Path, kind: str) -> tuple[Path, Path]:
    marker = tmp / f"PWNED-{kind}"
    path = tmp / f"evil-{kind}.pt"
    if kind == "legacy":  # a plain pickle, not a torch.save zip
        path.write_bytes(pickle.dumps({"model": _Shell(marker)}))
    elif kind == "zip":
        torch.save({"model": _Shell(marker)}, path)
    else:
        torch.save({"model": _Constructor(marker)}, path)
    return path, marker


def _assert_refused(res, path: Path, marker: Path, global_name: str | None) -> None:
    assert res.returncode == 4, res.stderr
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert str(path) in lines[0]
    if global_name:
        assert global_name in lines[0]
    assert not marker.exists(), "the checkpoint's code ran"


@pytest.mark.parametrize("kind", ["legacy", "zip", "ctor"])
def test_export_refuses_hostile_checkpoint(tmp_path, kind):
    path, marker = _hostile(tmp_path, kind)
    res = run_cli("export", str(path), "--profile", "onnx-fp32", "--imgsz", "64",
                  "--out", str(tmp_path / "out"))
    _assert_refused(res, path, marker, SYSTEM if kind != "ctor" else None)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_trust_checkpoint_is_a_real_opt_out(tmp_path):
    """The twin of the refusals: with --trust-checkpoint the same file is unpickled in full
    (its code runs), so the refusal above is the loader's doing, not a broken file."""
    path, marker = _hostile(tmp_path, "zip")
    res = run_cli("export", str(path), "--trust-checkpoint", "--profile", "onnx-fp32",
                  "--imgsz", "64", "--out", str(tmp_path / "out"))
    assert marker.exists()
    assert res.returncode == 2 and "no model in it" in res.stderr


def test_parity_reference_refuses_hostile_checkpoint(tmp_path, yolo_bundle):
    path, marker = _hostile(tmp_path, "legacy")
    res = run_cli("parity", str(yolo_bundle.bundle), "--reference", str(path))
    _assert_refused(res, path, marker, SYSTEM)


def test_bench_torch_refuses_hostile_source(tmp_path, yolo_bundle):
    """A bundle whose recorded source is a hostile checkpoint: the torch backend reopens it."""
    path, marker = _hostile(tmp_path, "zip")
    b = copy_bundle(yolo_bundle.bundle, tmp_path / "b")
    m = json.loads((b / "manifest.json").read_text())
    m["source"].update({"kind": "checkpoint", "path": str(path), "spec": str(path)})
    (b / "manifest.json").write_text(json.dumps(m))
    rehash(b)
    res = run_cli("bench", str(b), "--backend", "torch", "--iters", "5", "--model-only")
    _assert_refused(res, path, marker, SYSTEM)


def test_tune_refuses_hostile_checkpoint(tmp_path):
    path, marker = _hostile(tmp_path, "ctor")
    res = run_cli("tune", str(path), "--profile", "onnx-int8", "--imgsz", "64",
                  "--out", str(tmp_path / "out"))
    _assert_refused(res, path, marker, None)


def test_hostile_yaml_activation_is_not_evaluated(tmp_path):
    """A user's model YAML is untrusted too: Ultralytics would ``eval`` its activation."""
    import shutil as sh

    from edgekit.models.source import find_shipped_yaml

    marker = tmp_path / "PWNED-yaml"
    text = find_shipped_yaml("yolo26n.yaml").read_text()
    y = tmp_path / "evil.yaml"
    y.write_text(f"activation: __import__('os').system('touch {marker}')\n" + text)
    res = run_cli("export", str(y), "--profile", "onnx-fp32", "--imgsz", "64",
                  "--out", str(tmp_path / "out"))
    assert res.returncode == 2, res.stderr
    assert not marker.exists()
    # a layer that names a builtin instead of a model layer class
    y.write_text(text.replace("[-1, 1, Conv, [64, 3, 2]]",
                              f"[-1, 1, eval, [\"__import__('os').system('touch {marker}')\"]]", 1))
    assert "eval" in y.read_text()
    res = run_cli("export", str(y), "--profile", "onnx-fp32", "--imgsz", "64",
                  "--out", str(tmp_path / "out"))
    assert res.returncode == 2 and "does not name a model layer" in res.stderr, res.stderr
    assert not marker.exists()
    # its twin: the same YAML with a literal activation builds
    y.write_text("activation: nn.ReLU()\n" + text)
    from edgekit.models.build import load_model
    from edgekit.models.source import resolve_source

    lm = load_model(resolve_source(str(y)))
    assert any(isinstance(m, torch.nn.ReLU) for m in lm.model.modules())
    sh.rmtree(tmp_path / "out", ignore_errors=True)


# ---- the twin: genuine checkpoints load (tiny_trained: conftest) ------------------------

@pytest.mark.parametrize("key", ["yolo-best", "yolo-mid", "rtdetr-best", "rtdetr-mid",
                                 "yaml-saved", "torch-saved"])
def test_real_checkpoints_load_weights_only(tiny_trained, key):
    from edgekit.models.checkpoint import load_detection_model, scan_globals

    path = tiny_trained[key]
    assert path.is_file()
    model = load_detection_model(path)
    # the same weights as a full (trusted) unpickling of our own file
    ref = torch.load(path, map_location="cpu", weights_only=False)
    ref = ref if isinstance(ref, torch.nn.Module) else (ref.get("ema") or ref.get("model"))
    got, want = model.state_dict(), ref.float().state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert scan_globals(path), "the scan saw no globals in a real checkpoint"


def test_real_checkpoint_exports(tiny_trained, tmp_path):
    res = run_cli("export", str(tiny_trained["yolo-mid"]), "--profile", "onnx-fp32", "--imgsz", "64",
                  "--out", str(tmp_path))
    assert res.returncode in (0, 1), res.stderr  # 1: parity verdict; loading is what is tested
    bundles = [p for p in tmp_path.iterdir() if (p / "manifest.json").is_file()]
    assert len(bundles) == 1 and bundles[0].name.startswith("yolo-midtrain")


def test_legacy_scan_names_globals_without_running(tmp_path):
    from edgekit.models.checkpoint import scan_globals

    path, marker = _hostile(tmp_path, "legacy")
    assert SYSTEM in scan_globals(path)
    path2, _ = _hostile(tmp_path, "zip")
    assert SYSTEM in scan_globals(path2)
    assert not marker.exists()
