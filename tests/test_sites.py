"""Attention-site discovery across Ultralytics' attention classes, and exact taps."""

import pytest

from edgekit.models.build import load_model
from edgekit.models.sites import find_sites
from edgekit.models.source import resolve_source


@pytest.mark.parametrize("spec,kinds", [
    ("yolo26n.yaml", {"psa_attn"}),
    ("yolo11n.yaml", {"psa_attn"}),
    ("yolo12n.yaml", {"area_attn"}),
    ("rtdetr-resnet50.yaml", {"aifi", "self_attn", "deform_attn"}),
])
def test_sites_of_each_family(spec, kinds):
    lm = load_model(resolve_source(spec))
    sites = find_sites(lm.model)
    assert {s.kind for s in sites} == kinds
    # outermost only: nothing nested inside another site
    names = [s.name for s in sites]
    assert not any(a != b and b.startswith(a + ".") for a in names for b in names)


def test_tap_is_exact_despite_irregular_scopes(yolo_bundle):
    import onnx

    model = onnx.load(str(yolo_bundle.bundle / "model.onnx"))
    producer = {o: n for n in model.graph.node for o in n.output}
    tap = next(t for t in yolo_bundle.manifest.taps if t.name == "model.22.m.0.1.attn")
    node = producer[tap.tensor]
    # the exporter scoped this module as /model.22/m.0/m.0.1/attn/: the tap does not care
    assert "m.0/m.0.1/attn" in node.name
    assert tap.tensor == "tap::model.22.m.0.1.attn"
    assert tap.inputs and tap.region_nodes > 5
