"""`import edgekit` and `edgekit --help` stay light: no torch, ultralytics or runtime."""

import subprocess
import sys

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
