"""Opening a checkpoint never runs its code: hostile pickles are refused (exit 4) by every
command that takes a model, and real training checkpoints still load (the twin)."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest

from conftest import TINY_RTDETR, copy_bundle, rehash, run_cli

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


# ---- the twin: genuine checkpoints load -------------------------------------------------

def _tiny_dataset(root: Path) -> Path:
    """Eight coloured boxes on the two images that ship with ultralytics, as a YOLO dataset."""
    import random

    import ultralytics
    from PIL import Image, ImageDraw

    assets = Path(ultralytics.__file__).parent / "assets"
    rng = random.Random(0)
    for split, n in (("train", 8), ("val", 4)):
        (root / "images" / split).mkdir(parents=True)
        (root / "labels" / split).mkdir(parents=True)
        for i in range(n):
            im = Image.open(assets / ("bus.jpg" if i % 2 else "zidane.jpg")).convert("RGB")
            im = im.resize((96, 96))
            d, lines = ImageDraw.Draw(im), []
            for _ in range(2):
                c, w, h = rng.randrange(2), rng.randint(20, 40), rng.randint(20, 40)
                x, y = rng.randint(0, 96 - w), rng.randint(0, 96 - h)
                d.rectangle([x, y, x + w, y + h], fill=(255, 0, 0) if c == 0 else (0, 0, 255))
                lines.append(f"{c} {(x + w / 2) / 96:.4f} {(y + h / 2) / 96:.4f} "
                             f"{w / 96:.4f} {h / 96:.4f}")
            im.save(root / "images" / split / f"{i}.jpg")
            (root / "labels" / split / f"{i}.txt").write_text("\n".join(lines) + "\n")
    data = root / "data.yaml"
    data.write_text(f"path: {root}\ntrain: images/train\nval: images/val\n"
                    "names:\n  0: red\n  1: blue\n")
    return data


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """``yolo train`` checkpoints: final best.pt and a mid-training last.pt (optimizer, EMA,
    training arguments) for YOLO26 and RT-DETR, one epoch at 64 px."""
    from ultralytics import RTDETR, YOLO

    root = tmp_path_factory.mktemp("ckpt")
    data = _tiny_dataset(root / "ds")
    out: dict[str, Path] = {}
    for key, cfg, cls in (("yolo", "yolo26n.yaml", YOLO), ("rtdetr", TINY_RTDETR, RTDETR)):
        model = cls(cfg)
        mid = root / f"{key}-midtrain.pt"
        model.add_callback("on_model_save", lambda tr, mid=mid: shutil.copy(tr.last, mid))
        model.train(data=str(data), epochs=1, imgsz=64, batch=4, device="cpu", workers=0,
                    project=str(root / "runs"), name=key, exist_ok=True, verbose=False,
                    plots=False, amp=False, val=False)
        out[f"{key}-best"] = root / "runs" / key / "weights" / "best.pt"
        out[f"{key}-mid"] = mid
    saved = root / "yaml-saved.pt"
    YOLO("yolo26n.yaml").save(str(saved))
    out["yaml-saved"] = saved
    whole = root / "torch-saved.pt"
    torch.save(YOLO("yolo26n.yaml").model, whole)
    out["torch-saved"] = whole
    return out


@pytest.mark.parametrize("key", ["yolo-best", "yolo-mid", "rtdetr-best", "rtdetr-mid",
                                 "yaml-saved", "torch-saved"])
def test_real_checkpoints_load_weights_only(trained, key):
    from edgekit.models.checkpoint import load_detection_model, scan_globals

    path = trained[key]
    assert path.is_file()
    model = load_detection_model(path)
    # the same weights as a full (trusted) unpickling of our own file
    ref = torch.load(path, map_location="cpu", weights_only=False)
    ref = ref if isinstance(ref, torch.nn.Module) else (ref.get("ema") or ref.get("model"))
    got, want = model.state_dict(), ref.float().state_dict()
    assert got.keys() == want.keys()
    assert all(torch.equal(got[k], want[k]) for k in want)
    assert scan_globals(path), "the scan saw no globals in a real checkpoint"


def test_real_checkpoint_exports(trained, tmp_path):
    res = run_cli("export", str(trained["yolo-mid"]), "--profile", "onnx-fp32", "--imgsz", "64",
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
