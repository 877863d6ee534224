"""The wheel carries what an installed edgekit needs besides its Python files: the py.typed
marker (PEP 561: type checkers read edgekit's annotations) and the shipped profiles."""

import sys
import zipfile
from pathlib import Path

import pytest

from conftest import pip_or_skip

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip_or_skip(sys.executable, "wheel", "--no-deps", str(ROOT), "-w", str(out))
    (whl,) = out.glob("edgekit-*.whl")
    return whl


def _missing(whl: Path) -> list[str]:
    need = ["edgekit/py.typed", "edgekit/zoo/rtdetr-tiny.yaml"]
    need += [f"edgekit/profiles/shipped/{p.name}" for p in sorted(ROOT.glob("export_profiles/*.yaml"))]
    with zipfile.ZipFile(whl) as z:
        have = set(z.namelist())
    return [n for n in need if n not in have]


def test_the_wheel_ships_py_typed_and_the_profiles(wheel):
    assert len(list(ROOT.glob("export_profiles/*.yaml"))) >= 2
    assert _missing(wheel) == []


def test_a_wheel_without_py_typed_is_caught(wheel, tmp_path):
    # twin: the same check on a copy of the wheel with the marker taken out
    bad = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            if item.filename != "edgekit/py.typed":
                dst.writestr(item, src.read(item))
    assert _missing(bad) == ["edgekit/py.typed"]
