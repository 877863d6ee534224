"""`import edgekit` and `edgekit --help` stay light: no torch, ultralytics or runtime.

Two proofs. In this (full) environment, where every heavy module is installed, none of them
is imported. In a core-only virtual environment (the ``[project] dependencies`` and nothing
else, built once and cached), the package, every submodule and every command's ``--help``
work at all: there, an eager heavy import is an ImportError."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import pip_or_skip

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "ultralytics", "onnx", "onnxruntime", "openvino", "nncf", "tensorrt",
         "onnxslim", "cv2", "matplotlib", "PIL", "faster_coco_eval", "cuda", "ray"]
MARK = "@@modules"

IMPORT_ALL = ("import pkgutil, importlib, edgekit\n"
              "for m in pkgutil.walk_packages(edgekit.__path__, 'edgekit.'):\n"
              "    if not m.name.endswith('__main__'): importlib.import_module(m.name)")


def _loaded_after(code: str, python: str | Path = sys.executable,
                  env: dict[str, str] | None = None) -> set[str]:
    """Top-level modules in ``sys.modules`` after ``code`` ran (which must succeed)."""
    run = subprocess.run([str(python), "-c", f"{code}\nimport sys\nprint({MARK!r}, *sys.modules)"],
                         capture_output=True, text=True, env=env)
    assert run.returncode == 0, f"{code!r} failed:\n{run.stderr[-3000:]}"
    last = run.stdout.splitlines()[-1].split()
    assert last[0] == MARK, run.stdout[-500:]
    return {m.split(".")[0] for m in last[1:]}


def _assert_light(code: str, python: str | Path = sys.executable,
                  env: dict[str, str] | None = None) -> None:
    heavy = _loaded_after(code, python, env) & set(HEAVY)
    assert not heavy, f"heavy modules imported: {sorted(heavy)}"


def _plant_heavy_submodule(tmp_path: Path) -> str:
    """A fault: an edgekit submodule that imports torch at import time. Returns the code that
    mounts it into the package's path, to run before the check. (Python only: nothing in the
    checkout changes.)"""
    plant = tmp_path / "plant"
    plant.mkdir()
    (plant / "planted_heavy.py").write_text("import torch\n")
    return f"import edgekit\nedgekit.__path__.append({str(plant)!r})\n"


def test_import_edgekit_loads_no_heavy_module():
    _assert_light("import edgekit")


def test_every_submodule_imports_without_heavy_modules():
    _assert_light(IMPORT_ALL)


def test_cli_help_is_light_and_works():
    code = ("import sys\nfrom edgekit.cli import app\n"
            "try:\n    app(['--help'], prog_name='edgekit')\nexcept SystemExit as e:\n"
            "    assert e.code == 0, e.code")
    _assert_light(code)


def test_the_heavy_check_can_fail():
    # twin: the same probe sees a heavy module when one is imported
    assert "numpy" in _loaded_after("import numpy")


def test_assert_light_fails_on_a_planted_heavy_submodule(tmp_path):
    """Twin of the submodule check: a submodule importing torch at import time is caught. A
    stand-in torch (an empty package first on the path) keeps it instant."""
    stand_in = tmp_path / "stand_in" / "torch"
    stand_in.mkdir(parents=True)
    (stand_in / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(stand_in.parent), str(ROOT), os.environ.get("PYTHONPATH", "")])}
    prelude = _plant_heavy_submodule(tmp_path)
    _assert_light(IMPORT_ALL, env=env)  # the stand-in alone changes nothing
    with pytest.raises(AssertionError, match=r"heavy modules imported: \['torch'\]"):
        _assert_light(prelude + IMPORT_ALL, env=env)


# -- the core-only virtual environment -----------------------------------------------------------

def _core_requirements() -> list[str]:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def _build_core_venv(venv: Path) -> None:
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True,
                          text=True)
    if made.returncode:
        pytest.skip(f"cannot create a virtual environment here: {made.stderr.strip()[-300:]}")
    python = venv / "bin" / "python"
    pip_or_skip(python, "install", *_core_requirements())
    pip_or_skip(python, "install", "--no-deps", "-e", str(ROOT))  # this checkout, editable


def _cache_base(tmp_path_factory) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "edgekit"
    try:
        (base / "core-venv").mkdir(parents=True, exist_ok=True)
        return base / "core-venv"
    except OSError:  # no writable home: this session only
        return tmp_path_factory.getbasetemp() / "core-venv"


@pytest.fixture(scope="session")
def core_venv(tmp_path_factory) -> Path:
    """A virtual environment with the core dependencies only and this checkout installed
    editable. Cached across sessions under ~/.cache/edgekit/core-venv/, keyed by checkout,
    interpreter and pyproject.toml; a ``.complete`` file marks a finished one, and a lock
    keeps two sessions from building the same one."""
    import fcntl

    key = hashlib.sha256(f"{ROOT}\n{sys.version}\n{(ROOT / 'pyproject.toml').read_text()}"
                         .encode()).hexdigest()[:16]
    base = _cache_base(tmp_path_factory)
    base.mkdir(parents=True, exist_ok=True)
    venv, done = base / key, base / key / ".complete"
    if not done.is_file():
        with open(base / f".{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not done.is_file():
                shutil.rmtree(venv, ignore_errors=True)  # a build that did not finish
                _build_core_venv(venv)
                done.write_text(f"{ROOT}\n")
    return venv


def _core_env(venv: Path) -> dict[str, str]:
    """Nothing of the outer environment leaks in: no PYTHONPATH, no user site."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")}
    env.update(PYTHONNOUSERSITE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return env


def _child_cpu_s() -> float:
    t = os.times()
    return t.children_user + t.children_system


def _core_run(venv: Path, args: list[str]) -> tuple[subprocess.CompletedProcess, set[str], float]:
    """Run a command of the core environment; what it imported (from Python's own import-time
    log) and the CPU seconds it took (not wall time: the machine may be busy)."""
    before = _child_cpu_s()
    run = subprocess.run(args, capture_output=True, text=True, cwd=venv,
                         env={**_core_env(venv), "PYTHONPROFILEIMPORTTIME": "1"})
    cpu = _child_cpu_s() - before
    log = [ln for ln in run.stderr.splitlines() if ln.startswith("import time:")]
    imported = {ln.rsplit("|", 1)[1].strip().split(".")[0] for ln in log}
    run.stderr = "\n".join(ln for ln in run.stderr.splitlines() if not ln.startswith("import time:"))
    return run, imported, cpu


def test_core_venv_has_no_heavy_module_installed(core_venv):
    """What makes the core-only checks a proof: nothing heavy is there to import, and the
    edgekit there is this checkout."""
    code = ("import importlib.util, json, edgekit\n"
            f"print(json.dumps([edgekit.__file__, [h for h in {HEAVY!r} "
            "if importlib.util.find_spec(h)]]))")
    run = subprocess.run([str(core_venv / "bin" / "python"), "-c", code], capture_output=True,
                         text=True, env=_core_env(core_venv), cwd=core_venv)
    assert run.returncode == 0, run.stderr[-3000:]
    where, installed = json.loads(run.stdout)
    assert not installed, f"heavy modules installed in the core venv: {installed}"
    assert Path(where).resolve().is_relative_to(ROOT), where


def test_import_edgekit_works_and_is_fast_in_a_core_only_venv(core_venv):
    python = core_venv / "bin" / "python"
    before = _child_cpu_s()
    _assert_light("import edgekit", python, _core_env(core_venv))
    assert _child_cpu_s() - before < 3.0, "import edgekit took over 3 s of CPU"
    _assert_light(IMPORT_ALL, python, _core_env(core_venv))


def test_every_help_works_in_a_core_only_venv(core_venv):
    # the command tree, as the core environment's own Typer app sees it
    code = ("import json, typer.main\nfrom edgekit.cli import app\n"
            "def walk(cmd, path):\n"
            "    yield path\n"
            "    for name, sub in sorted(getattr(cmd, 'commands', {}).items()):\n"
            "        yield from walk(sub, path + [name])\n"
            "print(json.dumps(list(walk(typer.main.get_command(app), []))))")
    tree = subprocess.run([str(core_venv / "bin" / "python"), "-c", code], capture_output=True,
                          text=True, env=_core_env(core_venv), cwd=core_venv)
    assert tree.returncode == 0, tree.stderr[-3000:]
    paths = json.loads(tree.stdout)
    assert {"export", "parity", "bench", "tune", "doctor"} <= {p[0] for p in paths if p}, paths
    for path in paths:
        run, imported, cpu = _core_run(core_venv, [str(core_venv / "bin" / "edgekit"), *path,
                                                   "--help"])
        shown = " ".join(["edgekit", *path, "--help"])
        assert run.returncode == 0, f"{shown}: exit {run.returncode}\n{run.stderr[-3000:]}"
        assert "Usage:" in run.stdout and not run.stderr.strip(), (shown, run.stderr[-3000:])
        assert "edgekit" in imported and not imported & set(HEAVY), (shown, imported)
        assert cpu < 5.0, f"{shown} took {cpu:.1f} s of CPU"


def test_a_planted_heavy_import_fails_in_the_core_only_venv(core_venv, tmp_path):
    """Twin: the same submodule check, with a submodule that imports torch, fails there."""
    prelude = _plant_heavy_submodule(tmp_path)
    with pytest.raises(AssertionError, match="No module named 'torch'"):
        _assert_light(prelude + IMPORT_ALL, core_venv / "bin" / "python", _core_env(core_venv))


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


def test_ultralytics_events_are_off_in_the_cli_process():
    """edgekit's process sends no Ultralytics usage events (a thread doing DNS that was seen
    to deadlock a forked child): the CLI sets Ultralytics' own YOLO_OFFLINE switch before
    anything imports it. The twin imports Ultralytics without edgekit and gets its default."""
    pytest.importorskip("ultralytics")
    code = "import os, ultralytics.utils as u; print(os.environ.get('YOLO_OFFLINE'), u.ONLINE)"
    env = {k: v for k, v in os.environ.items() if k != "YOLO_OFFLINE"}
    via = subprocess.run([sys.executable, "-c", "from edgekit._lazy import quiet_env; "
                          "quiet_env(); " + code], capture_output=True, text=True, env=env)
    direct = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert via.stdout.split()[-2:] == ["true", "False"], via.stderr[-500:]
    assert direct.stdout.split()[-2] == "None", direct.stderr[-500:]
    # and main() calls it first
    from edgekit import cli

    assert "quiet_env()" in Path(cli.__file__).read_text()
