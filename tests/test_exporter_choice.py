"""Choosing the exporter, without exporting anything: bad names and a torch without
torch.export refused before work (exit 2, one line), the dynamo opset rules, node paths
from the exporter's scopes, and the TorchScript-refused fallback with its twins."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgekit.errors import BackendError, UsageError
from edgekit.export import exporters

from conftest import run_cli


def _one_line(r, code: int, *needles: str) -> None:
    assert r.returncode == code, r.stderr
    errs = [ln for ln in r.stderr.splitlines() if ln.startswith("edgekit: error:")]
    assert len(errs) == 1 and "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in errs[0], errs[0]


def test_unknown_exporter_exits_2_before_work(tmp_path):
    r = run_cli("export", "yolo26n.yaml", "--exporter", "onnxscript", "--out", str(tmp_path))
    _one_line(r, 2, "--exporter", "torchscript", "dynamo")
    assert not any(tmp_path.iterdir())


def test_known_exporters_are_accepted():
    for name in exporters.EXPORTERS:
        assert exporters.check_exporter(name) == name


def test_dynamo_on_a_torch_without_torch_export_is_refused(monkeypatch):
    import torch

    exporters.check_dynamo_supported()  # the twin: this torch has it
    monkeypatch.delattr(torch, "export")
    with pytest.raises(UsageError, match="torch.export.*--exporter torchscript"):
        exporters.check_dynamo_supported()


def test_dynamo_without_torch_export_exits_2_in_one_line(tmp_path):
    """The CLI in a subprocess whose torch has no torch.export (a sitecustomize removes it)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import torch\ntry:\n    del torch.export\nexcept AttributeError:\n    pass\n")
    import os

    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "out"
    r = run_cli("export", "yolo26n.yaml", "--exporter", "dynamo", "--out", str(out), env=env)
    _one_line(r, 2, "torch.export")
    assert not out.exists() or not any(out.iterdir())


def test_dynamo_opset_starts_at_18_and_refuses_an_explicit_older_one():
    assert exporters.dynamo_opset(None, 17) == 18
    assert exporters.dynamo_opset(19, 17) == 19
    with pytest.raises(UsageError, match="starts at opset 18"):
        exporters.dynamo_opset(17, 17)


def test_choose_opset_per_exporter():
    from edgekit.export.onnx import choose_opset

    assert choose_opset("rtdetr", None, "torchscript")[0] == 17
    assert choose_opset("rtdetr", None, "dynamo")[0] == 18
    assert choose_opset("rtdetr", 20, "dynamo")[1]  # GridSample at 20 is noted


def test_scope_paths_read_like_torchscript_node_paths():
    from edgekit.graph import block_of

    path = exporters._scope_path(["", "model", "model.model.16", "m.0", "m.0.m", "m.0.m.1"])
    assert path == ["model", "model.16", "m.0", "m", "1"]
    sliced = exporters._scope_path(["", "model", "model.model.slice(None, -1, None).0", "conv"])
    assert sliced == ["model", "model.0", "conv"]
    assert block_of("/" + "/".join(path) + "/node_Conv_3") == "model.16"
    assert block_of("node_Conv_3") is None  # the twin: a bare dynamo name has no block


def test_scope_node_names_renames_only_nodes_with_scopes():
    from onnx import StringStringEntryProto, helper

    a = helper.make_node("Relu", ["x"], ["y"], name="node_Relu_0")
    a.metadata_props.append(StringStringEntryProto(
        key="pkg.torch.onnx.name_scopes", value="['', 'model', 'model.model.3', 'relu']"))
    b = helper.make_node("Relu", ["y"], ["z"], name="node_Relu_1")
    model = helper.make_model(helper.make_graph([a, b], "g", [], []))
    assert exporters.scope_node_names(model) == 1
    a, b = model.graph.node
    assert a.name == "/model/model.3/node_Relu_0" and b.name == "node_Relu_1"
    assert list(a.output) == ["y"]  # tensors keep their names


@pytest.mark.parametrize("exc,refused", [
    (RuntimeError("The TorchScript-based ONNX exporter has been removed; use dynamo=True"), True),
    (DeprecationWarning("torch.jit.trace is deprecated"), True),
    (RuntimeError("Unsupported: ONNX export of operator grid_sampler"), False),
    (ValueError("shape mismatch"), False),
])
def test_what_counts_as_torch_refusing_torchscript(exc, refused):
    assert exporters.torchscript_refused(exc) is refused


class _Profile:
    """The few profile fields the exporter choice reads."""

    def __init__(self, opset=None):
        self.opset = opset
        self.batch = type("B", (), {"dynamic": False, "min": 1, "max": 1})()


@pytest.fixture
def fake_exports(monkeypatch):
    calls: list[tuple[str, int]] = []

    def refused(*a, **kw):
        raise RuntimeError("The TorchScript exporter has been removed from torch")

    def dynamo(probe, example, path, *, opset, **kw):
        calls.append(("dynamo", opset))
        Path(path).write_bytes(b"")

    monkeypatch.setattr(exporters, "export_torchscript", refused)
    monkeypatch.setattr(exporters, "export_dynamo", dynamo)
    return calls


def test_torchscript_refused_falls_back_to_dynamo_with_one_warning(fake_exports, tmp_path,
                                                                   caplog):
    from edgekit.export.pipeline import export_probe

    notes: list[str] = []
    with caplog.at_level("WARNING", logger="edgekit"):
        used = export_probe(None, None, tmp_path / "p.onnx", "yolo", _Profile(), 17, [],
                            "torchscript", True, notes)
    assert used == ("dynamo", 18) and fake_exports == [("dynamo", 18)]
    warned = [r.getMessage() for r in caplog.records if "TorchScript" in r.getMessage()]
    assert len(warned) == 1 and "dynamo" in warned[0] and warned[0] in notes


def test_no_fallback_without_parity_or_with_an_old_pinned_opset(fake_exports, tmp_path):
    from edgekit.export.pipeline import export_probe

    for profile, parity in ((_Profile(), False), (_Profile(opset=17), True)):
        with pytest.raises(BackendError, match="--exporter dynamo"):
            export_probe(None, None, tmp_path / "p.onnx", "yolo", profile, 17, [],
                         "torchscript", parity, [])
    assert fake_exports == []


def test_a_model_failure_is_not_taken_for_a_refusal(monkeypatch, tmp_path):
    from edgekit.export.pipeline import export_probe

    def broken(*a, **kw):
        raise RuntimeError("Unsupported: ONNX export of operator foo")

    monkeypatch.setattr(exporters, "export_torchscript", broken)
    with pytest.raises(RuntimeError, match="operator foo"):
        export_probe(None, None, tmp_path / "p.onnx", "yolo", _Profile(), 17, [],
                     "torchscript", True, [])
