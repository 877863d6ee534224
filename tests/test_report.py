"""The report's data model without a browser: documents in, dataclasses out; boxes matched;
bad input refused before any work (exit 2, nothing written), a tampered bundle exit 4."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from edgekit.errors import UsageError
from edgekit.report import check_inputs, load_document
from edgekit.report.model import Box, eval_section, latency_series, parity_series
from edgekit.report.overlay import match_boxes

from conftest import copy_bundle, run_cli


class Tol:
    min_cosine = 0.999
    min_median_sqnr_db = 20.0


def _layer(name, cos, status="pass", sqnr=None, index=0):
    return {"name": name, "kind": "attention", "status": status, "graph_index": index,
            "metrics": {"cosine": cos, **({"sqnr_db_median": sqnr} if sqnr else {})}}


PARITY = {"schema": "edgekit.parity/1", "passed": False, "precision": "fp32", "backends": {
    "onnxruntime": {"passed": True, "status": "pass", "verdict": "per_image",
                    "first_divergent": None,
                    "layers": [_layer("model.10.m.0.attn", 1.0, index=5),
                               _layer("model.22.m.0.1.attn", 0.99999, index=9)]},
    "openvino": {"passed": False, "status": "fail", "verdict": "median",
                 "first_divergent": "model.22.m.0.1.attn",
                 "layers": [_layer("model.10.m.0.attn", 0.9999, sqnr=40.0, index=5),
                            _layer("model.22.m.0.1.attn", 0.5, "fail", sqnr=3.0, index=9)],
                 "outputs": {"output0": {"detections": {"matched": 3, "missing": 1}}}}}}


def test_parity_series_follow_depth_and_mark_the_first_divergent():
    ort, ov = parity_series(PARITY, lambda kind: Tol())
    assert ort.metric == "cosine_distance" and ort.first_divergent is None
    assert [p.depth for p in ort.sites] == [5, 9]
    assert ort.sites[0].value == 0.0 and ort.sites[1].value == pytest.approx(1e-5)
    assert ort.sites[0].threshold == pytest.approx(1e-3)
    assert not any(p.first_divergent for p in ort.sites)
    # the median verdict is drawn as SQNR against its own threshold
    assert ov.metric == "sqnr_db" and [p.value for p in ov.sites] == [40.0, 3.0]
    assert [p.first_divergent for p in ov.sites] == [False, True]
    assert ov.sites[1].threshold == 20.0 and ov.outputs["output0"]["missing"] == 1


def test_latency_series_take_samples_and_a_scenario_timeline_when_there_is_one():
    doc = {"schema": "edgekit.bench/1", "backends": {"openvino": {
        "model_only": {"p50": 2.0, "p99": 3.0}, "samples_ms": {"model_only": [1.0, 2.0, 3.0]},
        "end_to_end": {"n": 0}}}}
    (s,) = latency_series(doc, "a.json")
    assert (s.backend, s.mode, s.scenario, s.samples_ms) == ("openvino", "model_only",
                                                            "single-stream", (1.0, 2.0, 3.0))
    assert s.timeline == ()
    # a future scenario report: its name and a timeline of records
    doc["scenario"] = {"name": "server"}
    doc["backends"]["openvino"]["timeline"] = [{"t_s": 0.0, "latency_ms": 2.5},
                                               {"t_s": 0.1, "latency_ms": 4.0}]
    (s,) = latency_series(doc)
    assert s.scenario == "server" and s.timeline == ((0.0, 2.5), (0.1, 4.0))


def test_eval_section_per_class_and_the_drop():
    doc = {"schema": "edgekit.eval/1", "passed": True, "data": {"yaml": "d.yaml", "names": {
        "0": "circle", "1": "square"}},
        "reference": {"map50_95": 0.5, "map50": 0.7, "per_class": {
            "circle": {"map50_95": 0.6}, "square": {"map50_95": 0.4}}},
        "backends": {"openvino": {"map50_95": 0.48, "map50": 0.69, "drop_map50_95": 2.0,
                                  "per_class": {"circle": {"map50_95": 0.58},
                                                "square": {"map50_95": 0.38}}}}}
    ev = eval_section(doc)
    assert ev.classes == ("circle", "square") and list(ev.per_class) == ["pytorch", "openvino"]
    assert ev.overall["openvino"]["drop_map50_95"] == 2.0
    assert ev.per_class["openvino"]["square"] == 0.38


def _box(x, cls=0, score=0.9):
    return Box((x, 10.0, x + 20.0, 30.0), cls, score, "reference")


def test_a_moved_box_is_missing_and_extra():
    ref = (_box(0.0), _box(50.0))
    same = match_boxes(ref, (_box(0.5), _box(50.0)))
    assert [b.status for b in same] == ["matched", "matched"]
    moved = match_boxes(ref, (_box(0.5), _box(80.0)))  # the twin: one box moved away
    assert sorted(b.status for b in moved) == ["extra", "matched", "missing"]
    other_class = match_boxes(ref[:1], (_box(0.0, cls=1),))
    assert sorted(b.status for b in other_class) == ["extra", "missing"]


def test_a_box_at_the_cut_is_neither_missing_nor_extra():
    assert match_boxes((_box(0.0, score=0.26),), (_box(90.0, score=0.255),), cut=0.25) == ()


def test_documents_of_the_wrong_kind_are_refused(tmp_path):
    f = tmp_path / "e.json"
    f.write_text(json.dumps({"schema": "edgekit.eval/1"}))
    assert load_document(f, "--eval")["schema"] == "edgekit.eval/1"
    with pytest.raises(UsageError, match="not an edgekit bench report"):
        load_document(f, "--bench")
    (tmp_path / "junk.json").write_text("{")
    with pytest.raises(UsageError, match="not a readable JSON"):
        check_inputs(tune=tmp_path / "junk.json")
    with pytest.raises(UsageError, match="not a directory"):
        check_inputs(fleet=f)
    (tmp_path / "fleet").mkdir()
    (tmp_path / "fleet" / "fleet.json").write_text(json.dumps({"cells": [{"device": "x"}]}))
    assert check_inputs(fleet=tmp_path / "fleet").fleet == {"cells": [{"device": "x"}]}


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory):
    import edgekit

    return edgekit.export("yolo26n.yaml", "intel-cpu-fp32", imgsz=64,
                          out=tmp_path_factory.mktemp("report")).bundle


@pytest.mark.parametrize("case", ["not-a-bundle", "wrong-kind", "unwritable"])
def test_bad_input_exits_2_writing_nothing(case, small_bundle, tmp_path):
    out = tmp_path / "r.html"
    bundle = str(small_bundle)
    extra: list[str] = []
    if case == "not-a-bundle":
        bundle = str(tmp_path)
    elif case == "wrong-kind":
        (tmp_path / "p.json").write_text((small_bundle / "parity.json").read_text())
        extra = ["--bench", str(tmp_path / "p.json")]
    else:
        out = tmp_path / "no" / "such" / "r.html"
    r = run_cli("report", bundle, *extra, "-o", str(out))
    assert r.returncode == 2, r.stderr
    assert r.stderr.startswith("edgekit: error:") and len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_a_tampered_bundle_exits_4(small_bundle, tmp_path):
    b = copy_bundle(small_bundle, tmp_path / "b")
    with open(b / "reference.npz", "ab") as fh:
        fh.write(b"\0")
    out = tmp_path / "r.html"
    r = run_cli("report", str(b), "-o", str(out))
    assert r.returncode == 4, r.stderr
    assert not out.exists()


def test_the_report_is_written_whole(small_bundle, tmp_path):
    """The twin of the refusals: the same bundle, sound, gives a page with every section."""
    out = tmp_path / "r.html"
    r = run_cli("report", str(small_bundle), "-o", str(out))
    assert r.returncode == 0, r.stderr
    from edgekit.report.html import SECTIONS

    text = out.read_text()
    assert all(f'<section id="{s}">' in text for s in SECTIONS)
    # everything the page refers to is inside it: fragments and data: URIs only
    refs = re.findall(r'(?:href|src)="([^"]*)"|url\(([^)]*)\)', text)
    assert refs and all(x.startswith(("#", "data:")) for pair in refs for x in pair if x)
    assert [p.name for p in Path(tmp_path).iterdir()] == ["r.html"]
