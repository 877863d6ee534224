"""Shared fixtures. Bundles are built once per session at small image sizes (CPU, 2 cores)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ASSETS = Path(__file__).parent / "assets"
TINY_RTDETR = str(ASSETS / "rtdetr-tiny.yaml")
IMGSZ = 160


def pytest_runtest_setup(item):
    """`bf16` tests need a CPU with bf16 (AVX512_BF16 or AMX), read from its flags."""
    if item.get_closest_marker("bf16"):
        from edgekit.precision import cpu_support

        if not cpu_support()["bf16"]:
            pytest.skip("this CPU has no AVX512_BF16 or AMX")


def build_bundle(tmp_root: Path, model: str, profile: str, imgsz: int = IMGSZ, **kw):
    from edgekit.export.pipeline import export
    from edgekit.profiles import load_profile

    prof = load_profile(profile, {"imgsz": imgsz})
    return export(model, prof, tmp_root, **kw)


@pytest.fixture(scope="session")
def bundles_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def yolo_bundle(bundles_root):
    return build_bundle(bundles_root, "yolo26n.yaml", "intel-cpu-fp32")


@pytest.fixture(scope="session")
def rtdetr_bundle(bundles_root):
    return build_bundle(bundles_root, TINY_RTDETR, "intel-cpu-fp32")


@pytest.fixture(scope="session")
def ort_int8_bundle(bundles_root):
    """onnx-int8: the fp32 model.onnx and onnxruntime/model.int8.onnx side by side."""
    return build_bundle(bundles_root / "ort8", "yolo26n.yaml", "onnx-int8", parity=False)


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def rehash(bundle_dir: Path) -> None:
    """Re-sign a bundle after a test changed a file on purpose (a planted fault)."""
    from edgekit.bundle import MANIFEST, parse_manifest, write_manifest

    mf = bundle_dir / MANIFEST
    write_manifest(bundle_dir, parse_manifest(json.loads(mf.read_text()), mf))


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 240):
    """Run the real console entry point in a subprocess (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    e.setdefault("COLUMNS", "200")
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=timeout)


#: pip output meaning the package registry cannot be reached or lacks what was asked for
_UNREACHABLE = re.compile(r"No matching distribution|Could not find a version|NewConnectionError|"
                          r"Network is unreachable|Temporary failure in name resolution|"
                          r"Connection (refused|reset)|Read timed out|ConnectTimeout")


def pip_or_skip(python: str | Path, *args: str) -> None:
    """``python -m pip ARGS``; skips the test when the registry is out of reach, fails it on
    any other error (a broken pyproject.toml, say)."""
    run = subprocess.run([str(python), "-m", "pip", *args, "-q", "--disable-pip-version-check"],
                         capture_output=True, text=True)
    if run.returncode and _UNREACHABLE.search(run.stdout + run.stderr):
        pytest.skip(f"pip {' '.join(args)}: the package registry is out of reach: "
                    f"{(run.stderr.strip().splitlines() or ['?'])[-1]}")
    assert run.returncode == 0, f"pip {' '.join(args)} failed:\n{run.stderr[-3000:]}"


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


@pytest.fixture(scope="session")
def tiny_trained(tmp_path_factory):
    """Real ``yolo train`` checkpoints for loading tests (not for accuracy: one epoch at
    64 px on 8 images): final best.pt and a mid-training last.pt (optimizer, EMA,
    training arguments) for YOLO26 and RT-DETR, one epoch at 64 px."""
    import shutil

    import torch
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


# --- trained checkpoints (edgekit.zoo): trained once per machine, cached under
# $EDGEKIT_ZOO_DIR (default ~/.cache/edgekit/zoo), then reused by every session

@pytest.fixture(scope="session")
def synth_data() -> Path:
    """data.yaml of the synthetic dataset the test recipes train and validate on."""
    from edgekit.zoo.train import TEST_DATA, dataset

    return dataset(TEST_DATA)


@pytest.fixture(scope="session")
def zoo():
    """Both test checkpoints; on a fresh machine they are trained side by side."""
    from edgekit.zoo.train import checkpoints

    yolo, rtdetr = checkpoints(["yolo26n-test", "rtdetr-tiny-test"])
    return {"yolo": yolo, "rtdetr": rtdetr}


@pytest.fixture(scope="session")
def trained_yolo(zoo):
    return zoo["yolo"]


@pytest.fixture(scope="session")
def trained_rtdetr(zoo):
    return zoo["rtdetr"]


@pytest.fixture(scope="session")
def trained_yolo_data_bundle(bundles_root, trained_yolo, synth_data):
    """The trained yolo26n (its own one-to-many head) exported with --data: the reference
    holds held-out val images, on which the verdict has detections to compare."""
    return build_bundle(bundles_root / "data", str(trained_yolo.path), "intel-cpu-fp32",
                        data=str(synth_data))


@pytest.fixture(scope="session")
def trained_yolo_bundle(bundles_root, trained_yolo):
    """The trained yolo26n with its end-to-end head (decoded without NMS)."""
    return build_bundle(bundles_root, str(trained_yolo.path), "intel-cpu-fp32", end2end=True)
