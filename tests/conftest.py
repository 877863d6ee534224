"""Shared fixtures. Bundles are built once per session at small image sizes (CPU, 2 cores)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ASSETS = Path(__file__).parent / "assets"
TINY_RTDETR = str(ASSETS / "rtdetr-tiny.yaml")
IMGSZ = 160


def _quiet(_msg: str) -> None:
    pass


def build_bundle(tmp_root: Path, model: str, profile: str, imgsz: int = IMGSZ, **kw):
    from edgekit.export.pipeline import export
    from edgekit.profiles import load_profile

    prof = load_profile(profile, {"imgsz": imgsz})
    return export(model, prof, tmp_root, log=_quiet, **kw)


@pytest.fixture(scope="session")
def bundles_root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bundles")


@pytest.fixture(scope="session")
def yolo_bundle(bundles_root):
    return build_bundle(bundles_root, "yolo26n.yaml", "intel-cpu-fp32")


@pytest.fixture(scope="session")
def rtdetr_bundle(bundles_root):
    return build_bundle(bundles_root, TINY_RTDETR, "intel-cpu-fp32")


def copy_bundle(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def rehash(bundle_dir: Path) -> None:
    """Re-sign a bundle after a test changed a file on purpose (a planted fault)."""
    from edgekit.export.bundle import write_manifest

    m = json.loads((bundle_dir / "manifest.json").read_text())
    write_manifest(bundle_dir, m)


def run_cli(*args: str, env: dict | None = None, cwd: Path | None = None, timeout: int = 240):
    """Run the real console entry point in a subprocess (exit code, stdout, stderr)."""
    e = dict(os.environ)
    e.update(env or {})
    e.setdefault("COLUMNS", "200")
    return subprocess.run([sys.executable, "-m", "edgekit", *args], capture_output=True,
                          text=True, env=e, cwd=cwd, timeout=timeout)


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
def trained_yolo_bundle(bundles_root, trained_yolo):
    return build_bundle(bundles_root, str(trained_yolo.path), "intel-cpu-fp32")
