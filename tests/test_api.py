"""The public Python API: each function on a small bundle, its typed result, its errors as
classes, and nothing printed. Twin: a planted fault gives ``passed == False`` naming the site."""

from __future__ import annotations

import importlib
import json
import re
import types
from pathlib import Path

import pytest

import edgekit
from edgekit.api import BenchResult, EvalResult, ExportResult
from edgekit.errors import EdgekitError, IntegrityError, UsageError

from conftest import copy_bundle, run_cli
from faults import perturb_site_weights

README = Path(__file__).resolve().parents[1] / "README.md"
SITE = "model.22.m.0.1.attn"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    return edgekit.export("yolo26n.yaml", "intel-cpu-fp32", imgsz=64,
                          out=tmp_path_factory.mktemp("api"))


def test_the_public_surface_is_sorted_and_lazy():
    assert edgekit.__all__ == sorted(edgekit.__all__)
    for name in ("bench", "eval", "export", "load_bundle", "parity", "tune"):
        assert callable(getattr(edgekit, name)) and name in edgekit.__all__
    importlib.import_module("edgekit.export.pipeline")  # binds the package on edgekit...
    assert isinstance(edgekit.export.pipeline, types.ModuleType)  # ...reachable still
    assert callable(edgekit.export) and not isinstance(edgekit.export, types.ModuleType)


def test_export_returns_a_typed_result_and_prints_nothing(exported, capsys):
    assert isinstance(exported, ExportResult)
    assert exported.passed and exported.bundle.is_dir()
    assert exported.manifest is not None and exported.manifest.input.imgsz == 64
    assert exported.parity is not None and exported.parity.first_divergent is None
    on_disk = json.loads((exported.bundle / "parity.json").read_text())
    assert json.loads(exported.to_json()) == on_disk
    bundle = edgekit.load_bundle(exported.bundle)
    assert bundle.manifest.source.family == "yolo"
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_parity_result_is_the_json_document(exported, tmp_path):
    res = edgekit.parity(exported.bundle, backends=["onnxruntime"])
    assert res.passed and res.first_divergent is None
    assert list(res.backends) == ["onnxruntime"]
    doc = tmp_path / "p.json"
    r = run_cli("parity", str(exported.bundle), "--backend", "onnxruntime", "--json", str(doc))
    assert r.returncode == 0, r.stderr
    mine, cli = json.loads(res.to_json()), json.loads(doc.read_text())
    assert mine.keys() == cli.keys() and mine["backends"].keys() == cli["backends"].keys()
    assert [s["name"] for s in mine["backends"]["onnxruntime"]["layers"]] == \
        [s["name"] for s in cli["backends"]["onnxruntime"]["layers"]]


def test_a_planted_fault_fails_parity_and_names_the_site(exported, tmp_path):
    """Twin of the passing parity: the same call on a bundle with one site's weights scaled."""
    b = copy_bundle(exported.bundle, tmp_path / "b")
    perturb_site_weights(b, SITE)
    res = edgekit.parity(b)
    assert res.passed is False
    assert res.first_divergent == SITE
    assert set(res.first_divergent_by_backend.values()) == {SITE}
    assert SITE in res.summary


def test_bench_forwards_options_to_its_config(exported):
    res = edgekit.bench(exported.bundle, backends=["onnxruntime"], iters=3, warmup=1)
    assert isinstance(res, BenchResult)
    assert list(res.backends) == ["onnxruntime"] and res.passed
    assert json.loads(res.to_json())["backends"]["onnxruntime"]["backend"] == "onnxruntime"
    # a budget nothing meets is a failed gate, returned (not raised)
    slow = edgekit.bench(exported.bundle, backends=["onnxruntime"], iters=3, warmup=1,
                         budget_ms=1e-6, e2e=False)
    assert slow.passed is False


def test_eval_scores_through_the_api(exported, synth_data):
    res = edgekit.eval(exported.bundle, synth_data, backends=["onnxruntime"], max_images=2,
                       reference="none")
    assert isinstance(res, EvalResult) and res.passed
    assert "map50_95" in res.backends["onnxruntime"]


@pytest.mark.parametrize("call,kind", [
    (lambda b: edgekit.bench(b, bogus=1), UsageError),
    (lambda b: edgekit.bench(b, scenario="nonesuch"), UsageError),
    (lambda b: edgekit.parity(b, min_cosines=0.9), UsageError),
    (lambda b: edgekit.parity(b, backends=["numpy"]), UsageError),
    (lambda b: edgekit.eval(b, "data.yaml", reference="guess"), UsageError),
    (lambda b: edgekit.tune(b, max_drop=1.0), UsageError),
    (lambda b: edgekit.export("no-such-model.pt", "intel-cpu-fp32", out=b.parent), UsageError),
    (lambda b: edgekit.load_bundle(b.parent / "not-a-bundle"), UsageError),
])
def test_errors_are_raised_as_their_class(exported, call, kind):
    with pytest.raises(kind) as info:
        call(exported.bundle)
    assert isinstance(info.value, EdgekitError) and str(info.value)


def test_a_corrupt_bundle_raises_an_integrity_error(exported, tmp_path):
    b = copy_bundle(exported.bundle, tmp_path / "b")
    with open(b / "model.onnx", "ab") as fh:
        fh.write(b"\0")
    with pytest.raises(IntegrityError):
        edgekit.load_bundle(b)
    with pytest.raises(IntegrityError):
        edgekit.parity(b)


def readme_example() -> str:
    text = README.read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert blocks, "README's Python API section has no python block"
    return blocks[0]


def test_the_readme_example_runs(tmp_path, monkeypatch):
    """The README's own code, run as written, in an empty folder (it writes bundles/)."""
    monkeypatch.chdir(tmp_path)
    scope: dict[str, object] = {}
    exec(compile(readme_example(), str(README), "exec"), scope)  # noqa: S102 - README's own
    assert (tmp_path / "bundles").is_dir() and scope["result"]
