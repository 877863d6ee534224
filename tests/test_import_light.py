"""`import edgekit` and `edgekit --help` stay light: no torch, ultralytics or runtime."""

import os
import subprocess
import sys

import pytest

HEAVY = ["torch", "ultralytics", "onnx", "onnxruntime", "openvino", "nncf", "tensorrt",
         "onnxslim", "cv2", "matplotlib"]


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return {m.split(".")[0] for m in out}


def _assert_light(code: str) -> None:
    heavy = _loaded_after(code) & set(HEAVY)
    assert not heavy, heavy


def test_import_edgekit_loads_no_heavy_module():
    _assert_light("import edgekit")


def test_every_submodule_imports_without_heavy_modules():
    code = ("import pkgutil, importlib, edgekit\n"
            "for m in pkgutil.walk_packages(edgekit.__path__, 'edgekit.'):\n"
            "    if not m.name.endswith('__main__'): importlib.import_module(m.name)")
    _assert_light(code)


def test_cli_help_is_light_and_works():
    code = ("import sys\nfrom edgekit.cli import app\n"
            "try:\n    app(['--help'], prog_name='edgekit')\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code")
    _assert_light(code)


def test_the_heavy_check_can_fail():
    # twin: the same probe sees a heavy module when one is imported
    assert "numpy" in _loaded_after("import numpy")


def test_nncf_telemetry_is_off_when_edgekit_imports_it():
    """edgekit sends nothing: NNCF's telemetry sender (which can hang the process at exit on a
    machine without network) is switched off by NNCF's own variable before its import. The
    twin imports NNCF directly, without edgekit, and gets the real sender."""
    pytest.importorskip("nncf")
    code = ("from nncf.telemetry import wrapper; "
            "print(type(wrapper.telemetry).__name__)")
    env = {k: v for k, v in os.environ.items() if k not in ("NNCF_CI", "NNCF_DEV")}
    via = subprocess.run([sys.executable, "-c", "from edgekit._lazy import require; "
                          "require('nncf'); " + code], capture_output=True, text=True, env=env)
    direct = subprocess.run([sys.executable, "-c", "import nncf; " + code],
                            capture_output=True, text=True, env=env)
    assert via.stdout.strip().splitlines()[-1] != "NNCFTelemetry", via.stderr
    assert direct.stdout.strip().splitlines()[-1] == "NNCFTelemetry", direct.stderr
